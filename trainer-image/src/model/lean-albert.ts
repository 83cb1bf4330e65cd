/**
 * A LeanALBERT-style encoder for masked language modelling, in tfjs.
 *
 *   ids ─► word table [V,E] ─► LayerNorm(E) ─► projection E→H
 *       ─► the ONE shared block, applied L times:
 *            x += Attention(LN(x))   separate q/k/v maps, rotary q/k, padding mask
 *            x += GEGLU-FFN(LN(x))   (pre-LayerNorm)
 *       ─► final LayerNorm(H)
 *       ─► tied MLM head: logits = h · projᵀ · tableᵀ + bias[V]
 *
 * The head owns only a bias: its vocabulary matrix is the embedding table and
 * its H→E map is the embedding projection, transposed. So the parameter
 * count does not depend on L and there is no second [V,·] matrix.
 *
 * Initialisation: SmallInit ("Transformers without Tears", Nguyen & Salazar
 * 2019; used by LeanALBERT): every weight matrix ~ N(0, sqrt(2 / (5·d))) with
 * d = H, except the embedding table, whose rows live in E-space, with d = E.
 * Biases 0, LayerNorm gain 1 and shift 0. Values come from our seeded PRNG,
 * so equal seeds give bitwise-equal models on every backend.
 *
 * No dropout (LeanALBERT pretrains without it).
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, IGNORE_INDEX, type MlmBatch, validateBatch } from '../data/index.ts';
import { type ModelConfig, validateModelConfig } from './config.ts';
import { applyRotary, dense, gatherRows, geglu, layerNorm, matMul, rotaryTables, rotationMatrix } from './ops.ts';
import { assignFlat, checksum, flattenTensors, type ParamSpec } from './params.ts';

/** One trainable parameter, in the model's stable order. */
export interface NamedParameter extends ParamSpec {
  variable: tf.Variable;
}

/** The stable parameter names and order; never reorder (peers exchange flat vectors in this order). */
export const PARAMETER_NAMES = [
  'embeddings.word',
  'embeddings.layer_norm.gamma',
  'embeddings.layer_norm.beta',
  'embeddings.projection.kernel',
  'embeddings.projection.bias',
  'block.attention.layer_norm.gamma',
  'block.attention.layer_norm.beta',
  'block.attention.query.kernel',
  'block.attention.query.bias',
  'block.attention.key.kernel',
  'block.attention.key.bias',
  'block.attention.value.kernel',
  'block.attention.value.bias',
  'block.attention.output.kernel',
  'block.attention.output.bias',
  'block.ffn.layer_norm.gamma',
  'block.ffn.layer_norm.beta',
  'block.ffn.gate.kernel',
  'block.ffn.gate.bias',
  'block.ffn.value.kernel',
  'block.ffn.value.bias',
  'block.ffn.output.kernel',
  'block.ffn.output.bias',
  'final.layer_norm.gamma',
  'final.layer_norm.beta',
  'head.bias',
] as const;
export type ParameterName = (typeof PARAMETER_NAMES)[number];

type Init = 'zeros' | 'ones' | { std: number };

function layout(c: ModelConfig): { name: ParameterName; shape: number[]; init: Init }[] {
  const { vocabSize: V, embeddingSize: E, hiddenSize: H, intermediateSize: I } = c;
  const small = (d: number): Init => ({ std: Math.sqrt(2 / (5 * d)) });
  const shapes: Record<ParameterName, [number[], Init]> = {
    'embeddings.word': [[V, E], small(E)],
    'embeddings.layer_norm.gamma': [[E], 'ones'],
    'embeddings.layer_norm.beta': [[E], 'zeros'],
    'embeddings.projection.kernel': [[E, H], small(H)],
    'embeddings.projection.bias': [[H], 'zeros'],
    'block.attention.layer_norm.gamma': [[H], 'ones'],
    'block.attention.layer_norm.beta': [[H], 'zeros'],
    'block.attention.query.kernel': [[H, H], small(H)],
    'block.attention.query.bias': [[H], 'zeros'],
    'block.attention.key.kernel': [[H, H], small(H)],
    'block.attention.key.bias': [[H], 'zeros'],
    'block.attention.value.kernel': [[H, H], small(H)],
    'block.attention.value.bias': [[H], 'zeros'],
    'block.attention.output.kernel': [[H, H], small(H)],
    'block.attention.output.bias': [[H], 'zeros'],
    'block.ffn.layer_norm.gamma': [[H], 'ones'],
    'block.ffn.layer_norm.beta': [[H], 'zeros'],
    'block.ffn.gate.kernel': [[H, I], small(H)],
    'block.ffn.gate.bias': [[I], 'zeros'],
    'block.ffn.value.kernel': [[H, I], small(H)],
    'block.ffn.value.bias': [[I], 'zeros'],
    'block.ffn.output.kernel': [[I, H], small(H)],
    'block.ffn.output.bias': [[H], 'zeros'],
    'final.layer_norm.gamma': [[H], 'ones'],
    'final.layer_norm.beta': [[H], 'zeros'],
    'head.bias': [[V], 'zeros'],
  };
  return PARAMETER_NAMES.map((name) => ({ name, shape: shapes[name][0], init: shapes[name][1] }));
}

function initialValues(shape: number[], init: Init, rng: ReturnType<typeof createRng>): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (init === 'ones') out.fill(1);
  else if (init !== 'zeros') for (let i = 0; i < n; i++) out[i] = rng.normal() * init.std;
  return out;
}

export interface CreateModelOptions {
  /** Initialisation seed; equal seeds give bitwise-equal parameters. @default 0 */
  seed?: number | string;
}

export interface LossAndGradients {
  /** Mean cross-entropy over the batch's predicted positions. */
  loss: number;
  /** Gradients of `loss` in parameter order, one flat vector. */
  grads: Float32Array;
  /** Predicted positions in the batch (the loss's denominator). */
  maskedTokens: number;
}

export interface LeanAlbert {
  readonly config: Readonly<ModelConfig>;
  /** Parameters in the stable order of PARAMETER_NAMES. */
  readonly params: readonly NamedParameter[];
  /** The same variables, in the same order (for optimizers). */
  readonly variables: readonly tf.Variable[];
  /** Total trainable elements (the flat vector's length). */
  readonly size: number;
  /** Final hidden states [B·T, H] of int32 ids and mask [B, T]. */
  encode(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor2D;
  /** Tied head: hidden [M, H] → logits [M, V]. */
  mlmLogits(hidden: tf.Tensor2D): tf.Tensor2D;
  /**
   * Mean masked-LM cross-entropy over positions whose label ≠ IGNORE_INDEX
   * (a scalar tensor, for `tf.variableGrads` / `optimizer.minimize`). Throws
   * if the batch predicts no position.
   */
  loss(batch: MlmBatch): tf.Scalar;
  /** Loss value and flat gradients, read outside tidy; tensors are disposed. */
  lossAndGradients(batch: MlmBatch): Promise<LossAndGradients>;
  /** Loss value only (no gradients). */
  evaluate(batch: MlmBatch): Promise<number>;
  /** All parameters as one flat vector. */
  getFlat(): Promise<Float32Array>;
  /** Replaces all parameters from one flat vector (copied). */
  setFlat(flat: Float32Array): void;
  /** sha256 of the flat parameters. */
  checksum(): Promise<string>;
  dispose(): void;
}

let instances = 0;

/** Builds a LeanALBERT with SmallInit parameters from `seed`. */
export function createModel(config: ModelConfig, opts: CreateModelOptions = {}): LeanAlbert {
  const c = validateModelConfig(config);
  const rng = createRng(opts.seed ?? 0);
  const prefix = `leanalbert${instances++}`;
  const params: NamedParameter[] = layout(c).map(({ name, shape, init }) => {
    const values = initialValues(shape, init, rng.fork(name));
    const variable = tf.variable(tf.tensor(values, shape, 'float32'), true, `${prefix}/${name}`);
    return { name, shape, size: values.length, variable };
  });
  const p = Object.fromEntries(params.map((x) => [x.name, x.variable])) as Record<ParameterName, tf.Variable>;
  const variables = params.map((x) => x.variable);
  const size = params.reduce((a, x) => a + x.size, 0);

  const headSize = c.hiddenSize / c.numHeads;
  const tables = rotaryTables(c.maxSeqLength, headSize, c.rotaryBase);
  const cosAll = tf.tensor2d(tables.cos, [c.maxSeqLength, headSize]);
  const sinAll = tf.tensor2d(tables.sin, [c.maxSeqLength, headSize]);
  const rotation = tf.tensor2d(rotationMatrix(headSize), [headSize, headSize]);

  const heads = (x: tf.Tensor, B: number, T: number): tf.Tensor =>
    // [B·T, H] → [B, nh, T, dh]
    tf.transpose(x.reshape([B, T, c.numHeads, headSize]), [0, 2, 1, 3]);

  const block = (x: tf.Tensor, B: number, T: number, maskBias: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor => {
    const h = layerNorm(x, p['block.attention.layer_norm.gamma'], p['block.attention.layer_norm.beta'], c.layerNormEps);
    const q0 = dense(h, p['block.attention.query.kernel'], p['block.attention.query.bias']);
    const k0 = dense(h, p['block.attention.key.kernel'], p['block.attention.key.bias']);
    const v0 = dense(h, p['block.attention.value.kernel'], p['block.attention.value.bias']);
    const q = tf.mul(applyRotary(heads(q0, B, T), cos, sin, rotation), 1 / Math.sqrt(headSize));
    const k = applyRotary(heads(k0, B, T), cos, sin, rotation);
    const v = heads(v0, B, T);
    const BH = B * c.numHeads;
    const kT = tf.transpose(k.reshape([BH, T, headSize]), [0, 2, 1]);
    const scores = matMul(q.reshape([BH, T, headSize]), kT).reshape([B, c.numHeads, T, T]);
    const probs = tf.softmax(tf.add(scores, maskBias), -1).reshape([BH, T, T]);
    const ctx = matMul(probs, v.reshape([BH, T, headSize]));
    const merged = tf.transpose(ctx.reshape([B, c.numHeads, T, headSize]), [0, 2, 1, 3]).reshape([B * T, c.hiddenSize]);
    const attnOut = dense(merged, p['block.attention.output.kernel'], p['block.attention.output.bias']);
    const x1 = tf.add(x, attnOut);
    const h2 = layerNorm(x1, p['block.ffn.layer_norm.gamma'], p['block.ffn.layer_norm.beta'], c.layerNormEps);
    const ff = geglu(
      h2,
      p['block.ffn.gate.kernel'], p['block.ffn.gate.bias'],
      p['block.ffn.value.kernel'], p['block.ffn.value.bias'],
      p['block.ffn.output.kernel'], p['block.ffn.output.bias'],
    );
    return tf.add(x1, ff);
  };

  const encode = (inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): tf.Tensor2D => {
    const [B, T] = inputIds.shape;
    if (T > c.maxSeqLength) throw new Error(`sequence length ${T} exceeds maxSeqLength ${c.maxSeqLength}`);
    const emb = gatherRows(p['embeddings.word'], inputIds.reshape([-1]));
    const embN = layerNorm(emb, p['embeddings.layer_norm.gamma'], p['embeddings.layer_norm.beta'], c.layerNormEps);
    let x = dense(embN, p['embeddings.projection.kernel'], p['embeddings.projection.bias']);
    // 0 where attended, -1e9 on padding keys; broadcast over heads and queries.
    const maskBias = tf.mul(tf.sub(1, tf.cast(attentionMask, 'float32')), -1e9).reshape([B, 1, 1, T]);
    const cos = tf.slice(cosAll, [0, 0], [T, headSize]);
    const sin = tf.slice(sinAll, [0, 0], [T, headSize]);
    for (let l = 0; l < c.numLayers; l++) x = block(x, B, T, maskBias, cos, sin);
    return layerNorm(x, p['final.layer_norm.gamma'], p['final.layer_norm.beta'], c.layerNormEps) as tf.Tensor2D;
  };

  const mlmLogits = (hidden: tf.Tensor2D): tf.Tensor2D => {
    const toE = matMul(hidden, tf.transpose(p['embeddings.projection.kernel'])); // [M,H]·[H,E]
    const logits = matMul(toE, tf.transpose(p['embeddings.word'])); // [M,E]·[E,V]
    return tf.add(logits, p['head.bias']) as tf.Tensor2D;
  };

  /** Host-side: flat positions and targets of the predicted tokens. */
  const targets = (batch: MlmBatch): { positions: Int32Array; labels: Int32Array } => {
    validateBatch(batch, c.vocabSize);
    const pos: number[] = [];
    const lab: number[] = [];
    batch.labels.forEach((l, i) => {
      if (l !== IGNORE_INDEX) {
        pos.push(i);
        lab.push(l);
      }
    });
    if (pos.length === 0) throw new Error('batch has no masked position to predict');
    return { positions: Int32Array.from(pos), labels: Int32Array.from(lab) };
  };

  const lossOf = (batch: MlmBatch, t: { positions: Int32Array; labels: Int32Array }): tf.Scalar => {
    const shape: [number, number] = [batch.batchSize, batch.seqLength];
    const ids = tf.tensor2d(batch.inputIds, shape, 'int32');
    const mask = tf.tensor2d(batch.attentionMask, shape, 'int32');
    const hidden = encode(ids, mask);
    const picked = gatherRows(hidden, tf.tensor1d(t.positions, 'int32')) as tf.Tensor2D;
    const logp = tf.logSoftmax(mlmLogits(picked), -1); // [M, V]
    // log p[i][label_i], picked from the flattened [M·V, 1] (no one-hot M×V tensor).
    const flatIdx = Int32Array.from(t.labels, (l, i) => i * c.vocabSize + l);
    const target = gatherRows(logp.reshape([-1, 1]), tf.tensor1d(flatIdx, 'int32'));
    return tf.neg(tf.div(tf.sum(target), t.positions.length)) as tf.Scalar;
  };

  const model: LeanAlbert = {
    config: c,
    params,
    variables,
    size,
    encode,
    mlmLogits,
    loss: (batch) => {
      const t = targets(batch);
      return lossOf(batch, t);
    },
    lossAndGradients: async (batch) => {
      const t = targets(batch);
      const { value, grads } = tf.variableGrads(() => lossOf(batch, t), variables);
      // A parameter the loss does not reach has no gradient entry: it gets zeros.
      const ordered = variables.map((v) => grads[v.name] ?? tf.zerosLike(v));
      try {
        const loss = (await value.data())[0]!;
        const flat = await flattenTensors(ordered);
        return { loss, grads: flat, maskedTokens: t.positions.length };
      } finally {
        value.dispose();
        tf.dispose(ordered);
        tf.dispose(Object.values(grads));
      }
    },
    evaluate: async (batch) => {
      const t = targets(batch);
      const value = tf.tidy(() => lossOf(batch, t));
      try {
        return (await value.data())[0]!;
      } finally {
        value.dispose();
      }
    },
    getFlat: () => flattenTensors(variables),
    setFlat: (flat) => assignFlat(variables, flat),
    checksum: async () => checksum(await flattenTensors(variables)),
    dispose: () => {
      for (const v of variables) v.dispose();
      cosAll.dispose();
      sinAll.dispose();
      rotation.dispose();
    },
  };
  return Object.freeze(model);
}
