import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../backend/index.ts';
import { IGNORE_INDEX, type MlmBatch } from '../data/index.ts';
import { type ModelConfig, modelConfig, MODEL_PRESETS, parameterCount } from './config.ts';
import { createModel, type LeanAlbert, PARAMETER_NAMES } from './lean-albert.ts';

/** A small config whose parameter count is easy to work out by hand. */
const SMALL: ModelConfig = {
  vocabSize: 100,
  embeddingSize: 8,
  hiddenSize: 16,
  numHeads: 2,
  numLayers: 3,
  intermediateSize: 32,
  maxSeqLength: 16,
  layerNormEps: 1e-5,
  rotaryBase: 10_000,
};

function batchOf(rows: number[][], labels: number[][], mask?: number[][]): MlmBatch {
  const T = rows[0]!.length;
  return {
    batchSize: rows.length,
    seqLength: T,
    inputIds: Int32Array.from(rows.flat()),
    attentionMask: Int32Array.from(mask ? mask.flat() : rows.flat().map(() => 1)),
    labels: Int32Array.from(labels.flat()),
  };
}

const models: LeanAlbert[] = [];
function make(c: ModelConfig, seed: number | string = 7): LeanAlbert {
  const m = createModel(c, { seed });
  models.push(m);
  return m;
}

beforeAll(async () => {
  await loadBackend({ order: ['wasm', 'cpu'] });
});
afterAll(() => {
  for (const m of models) m.dispose();
});

describe('LeanALBERT parameters', () => {
  it('has the stable named order, and one shared block: the count does not depend on L', () => {
    const counts = [1, 3, 12].map((L) => {
      const m = make({ ...SMALL, numLayers: L });
      expect(m.params.map((p) => p.name)).toEqual([...PARAMETER_NAMES]);
      // attention: LN γβ, q/k/v/out kernels+biases (10); FFN: LN γβ, gate/value/out kernels+biases (8).
      expect(m.params.filter((p) => p.name.startsWith('block.')).length).toBe(18);
      return m.size;
    });
    // By hand for V=100, E=8, H=16, I=32:
    //   embeddings 100·8 + 2·8 + 8·16 + 16            = 960
    //   attention  2·16 + 3·(16·16 + 16) + 16·16 + 16 = 1120
    //   GEGLU FFN  2·16 + 2·(16·32 + 32) + 32·16 + 16 = 1648
    //   final LN 2·16, head bias 100                  = 132
    expect(counts).toEqual([3860, 3860, 3860]);
    expect(parameterCount(SMALL)).toBe(3860);
  });

  it('applies the shared block L times: same weights, different outputs for different L', async () => {
    const one = make({ ...SMALL, numLayers: 1 }, 'same');
    const two = make({ ...SMALL, numLayers: 2 }, 'same');
    expect(await one.checksum()).toBe(await two.checksum());
    const ids = tf.tensor2d([[5, 6, 7, 8]], [1, 4], 'int32');
    const mask = tf.ones([1, 4], 'int32') as tf.Tensor2D;
    const h1 = await one.encode(ids, mask).data();
    const h2 = await two.encode(ids, mask).data();
    let diff = 0;
    for (let i = 0; i < h1.length; i++) diff = Math.max(diff, Math.abs(h1[i]! - h2[i]!));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('uses SmallInit: weight matrices ~ N(0, sqrt(2/(5·d))), biases 0, LayerNorm gains 1', async () => {
    const c = modelConfig('tiny', { vocabSize: 512 });
    const m = make(c, 1);
    const std = async (name: string): Promise<number> => {
      const v = await m.params.find((p) => p.name === name)!.variable.data();
      let s = 0;
      for (const x of v) s += x * x;
      return Math.sqrt(s / v.length);
    };
    expect(await std('block.ffn.gate.kernel')).toBeCloseTo(Math.sqrt(2 / (5 * 128)), 3);
    expect(await std('block.attention.query.kernel')).toBeCloseTo(Math.sqrt(2 / (5 * 128)), 3);
    expect(await std('embeddings.word')).toBeCloseTo(Math.sqrt(2 / (5 * 64)), 3);
    expect(Array.from(await m.params.find((p) => p.name === 'block.ffn.gate.bias')!.variable.data()).every((x) => x === 0)).toBe(true);
    expect(Array.from(await m.params.find((p) => p.name === 'final.layer_norm.gamma')!.variable.data()).every((x) => x === 1)).toBe(true);
  });

  it('initialises from the seed alone: equal seeds give equal checksums, other seeds differ', async () => {
    const a = make(SMALL, 'peer-seed');
    const b = make(SMALL, 'peer-seed');
    const c = make(SMALL, 'other');
    expect(await a.checksum()).toBe(await b.checksum());
    expect(await a.checksum()).not.toBe(await c.checksum());
  });

  it('round-trips parameters through one flat vector, copying it', async () => {
    const a = make(SMALL, 1);
    const b = make(SMALL, 2);
    const flat = await a.getFlat();
    expect(flat.length).toBe(a.size);
    b.setFlat(flat);
    expect(await b.checksum()).toBe(await a.checksum());
    flat.fill(0); // the model must not alias the caller's buffer
    expect(await b.checksum()).toBe(await a.checksum());
    expect(() => b.setFlat(new Float32Array(3))).toThrow(/3 elements/);
  });

  it('presets: tiny fits tests; xlarge is RuLeanALBERT-scale (H 4096, 32 heads, E 128, 12 applications)', () => {
    expect(MODEL_PRESETS.xlarge).toMatchObject({ hiddenSize: 4096, numHeads: 32, embeddingSize: 128, numLayers: 12 });
    expect(parameterCount(MODEL_PRESETS.tiny)).toBeLessThan(500_000);
    expect(parameterCount(MODEL_PRESETS.xlarge)).toBeGreaterThan(250_000_000);
    expect(() => modelConfig('tiny', { numHeads: 3 })).toThrow(/numHeads/);
    expect(() => modelConfig('tiny', { hiddenSize: 12, numHeads: 4 })).toThrow(/even/);
  });
});

describe('LeanALBERT tied MLM head', () => {
  it('has no vocabulary matrix of its own: only embeddings.word is [V, ·], the head owns a bias', () => {
    const m = make(SMALL);
    const withV = m.params.filter((p) => p.shape.includes(SMALL.vocabSize)).map((p) => `${p.name}:${p.shape.join('x')}`);
    expect(withV).toEqual(['embeddings.word:100x8', 'head.bias:100']);
  });

  it('computes logits = h · projᵀ · tableᵀ + bias (checked against a by-hand product)', async () => {
    const m = make(SMALL, 3);
    const byName = async (n: string): Promise<Float32Array> => (await m.params.find((p) => p.name === n)!.variable.data()) as Float32Array;
    // A non-zero bias so that term is checked too.
    const bias = m.params.find((p) => p.name === 'head.bias')!.variable;
    bias.assign(tf.range(0, SMALL.vocabSize).mul(0.01) as tf.Tensor1D);
    const { vocabSize: V, embeddingSize: E, hiddenSize: H } = SMALL;
    const hRows = [Array.from({ length: H }, (_, i) => Math.sin(i + 1)), Array.from({ length: H }, (_, i) => Math.cos(2 * i))];
    const logits = await m.mlmLogits(tf.tensor2d(hRows)).array();
    const proj = await byName('embeddings.projection.kernel'); // [E, H]
    const table = await byName('embeddings.word'); // [V, E]
    const b = await byName('head.bias');
    hRows.forEach((h, r) => {
      const e = Array.from({ length: E }, (_, j) => h.reduce((s, x, k) => s + x * proj[j * H + k]!, 0));
      for (const v of [0, 1, 42, V - 1]) {
        const expected = e.reduce((s, x, j) => s + x * table[v * E + j]!, 0) + b[v]!;
        expect(logits[r]![v]).toBeCloseTo(expected, 4);
      }
    });
  });

  it('trains the embedding table through the head: a token never in the input still gets a gradient', async () => {
    const m = make(SMALL, 4);
    const batch = batchOf([[1, 2, 3, 4, 5, 6]], [[IGNORE_INDEX, 9, IGNORE_INDEX, IGNORE_INDEX, 11, IGNORE_INDEX]]);
    const { grads } = await m.lossAndGradients(batch);
    const E = SMALL.embeddingSize;
    // Token 50 appears nowhere in the input; only the tied head reaches its row.
    const row50 = grads.subarray(50 * E, 51 * E);
    expect(Math.max(...Array.from(row50, Math.abs))).toBeGreaterThan(1e-7);
  });
});

describe('LeanALBERT masked-LM loss', () => {
  it('is the mean cross-entropy over labelled positions only (checked by hand from the logits)', async () => {
    const m = make(SMALL, 5);
    const rows = [[1, 4, 9, 16, 25, 36], [2, 3, 5, 7, 11, 13]];
    const labels = [[IGNORE_INDEX, 40, IGNORE_INDEX, IGNORE_INDEX, 41, IGNORE_INDEX], [IGNORE_INDEX, IGNORE_INDEX, 42, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]];
    const batch = batchOf(rows, labels);
    const loss = await m.evaluate(batch);
    const hidden = m.encode(tf.tensor2d(rows, [2, 6], 'int32'), tf.ones([2, 6], 'int32') as tf.Tensor2D);
    const logits = await m.mlmLogits(hidden as tf.Tensor2D).array();
    const picked: [number, number][] = [[1, 40], [4, 41], [8, 42]]; // flat position, label
    const nll = picked.map(([pos, lab]) => {
      const row = logits[pos]!;
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      return lse - row[lab]!;
    });
    expect(loss).toBeCloseTo(nll.reduce((a, b) => a + b, 0) / nll.length, 4);
    const { loss: sameLoss, grads, maskedTokens } = await m.lossAndGradients(batch);
    expect(sameLoss).toBeCloseTo(loss, 5);
    expect(maskedTokens).toBe(3);
    expect(grads.length).toBe(m.size);
  });

  it('ignores padding: changing the ids under attention mask 0 changes nothing', async () => {
    const m = make(SMALL, 6);
    const mask = [[1, 1, 1, 1, 0, 0]];
    const labels = [[IGNORE_INDEX, 30, IGNORE_INDEX, 31, IGNORE_INDEX, IGNORE_INDEX]];
    const a = await m.evaluate(batchOf([[1, 2, 3, 4, 0, 0]], labels, mask));
    const b = await m.evaluate(batchOf([[1, 2, 3, 4, 77, 88]], labels, mask));
    const c = await m.evaluate(batchOf([[1, 2, 3, 4, 77, 88]], labels, [[1, 1, 1, 1, 1, 1]]));
    expect(b).toBeCloseTo(a, 5);
    expect(Math.abs(c - a)).toBeGreaterThan(1e-5);
  });

  it('rejects a batch with nothing to predict and ids outside the vocabulary', () => {
    const m = make(SMALL);
    expect(() => m.loss(batchOf([[1, 2]], [[IGNORE_INDEX, IGNORE_INDEX]]))).toThrow(/no masked position/);
    expect(() => m.loss(batchOf([[1, 100]], [[IGNORE_INDEX, 5]]))).toThrow(/inputIds\[1\]/);
  });

  it('leaks no tensors across lossAndGradients and evaluate', async () => {
    const m = make(SMALL, 8);
    const batch = batchOf([[1, 2, 3, 4]], [[IGNORE_INDEX, 7, IGNORE_INDEX, 8]]);
    await m.lossAndGradients(batch);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await m.lossAndGradients(batch);
      await m.evaluate(batch);
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
