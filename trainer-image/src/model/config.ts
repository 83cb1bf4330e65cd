/**
 * LeanALBERT sizes. `tiny` is for tests and the demo (2 CPU cores); the
 * others are documented presets for GPU peers.
 *
 * Where the numbers come from:
 *  - base / large: ALBERT-base and ALBERT-large (Lan et al. 2020, "ALBERT",
 *    Table 1): E = 128, H = 768 / 1024, 12 / 24 layer applications,
 *    H/64 heads, FFN width 4H.
 *  - xlarge: the RuLeanALBERT scale (Yandex Research, the
 *    yandex-research/RuLeanALBERT repository, `LeanAlbertConfig` on top of
 *    transformers' AlbertConfig): ALBERT-xxlarge's shape — E = 128,
 *    H = 4096, FFN width 4H = 16384, 12 applications of one shared block —
 *    with LeanALBERT's changes (pre-LayerNorm, rotary positions, GEGLU) and
 *    32 heads of 128. The vocabulary is a 30k-ish WordPiece/Unigram one;
 *    the real size always comes from the tokenizer (`withVocab`).
 *    These are our reading of that recipe, not a copy of its released
 *    config.json (which is not reachable from here).
 *
 * With GEGLU the FFN has two input matrices [H, I] (gate and value) and an
 * output matrix [I, H].
 */
import type { ModelPreset } from '../../../api/index.ts';

export interface ModelConfig {
  /** Rows of the embedding table; the tokenizer's vocabulary size. */
  vocabSize: number;
  /** E: factorised embedding width (ALBERT). */
  embeddingSize: number;
  /** H: width of the shared transformer block. */
  hiddenSize: number;
  /** Attention heads; H must divide by it and H/heads must be even (rotary). */
  numHeads: number;
  /** L: how many times the one shared block is applied. */
  numLayers: number;
  /** I: GEGLU inner width. */
  intermediateSize: number;
  /** Longest sequence the rotary tables are built for. */
  maxSeqLength: number;
  /** @default 1e-12 as in ALBERT; tiny uses 1e-5. */
  layerNormEps: number;
  /** Rotary base. @default 10000 (RoFormer, LeanALBERT) */
  rotaryBase: number;
}

export const MODEL_PRESETS: Readonly<Record<ModelPreset, Readonly<ModelConfig>>> = Object.freeze({
  tiny: Object.freeze({
    vocabSize: 2048,
    embeddingSize: 64,
    hiddenSize: 128,
    numHeads: 4,
    numLayers: 4,
    intermediateSize: 256,
    maxSeqLength: 128,
    layerNormEps: 1e-5,
    rotaryBase: 10_000,
  }),
  base: Object.freeze({
    vocabSize: 30_000,
    embeddingSize: 128,
    hiddenSize: 768,
    numHeads: 12,
    numLayers: 12,
    intermediateSize: 3072,
    maxSeqLength: 512,
    layerNormEps: 1e-12,
    rotaryBase: 10_000,
  }),
  large: Object.freeze({
    vocabSize: 30_000,
    embeddingSize: 128,
    hiddenSize: 1024,
    numHeads: 16,
    numLayers: 24,
    intermediateSize: 4096,
    maxSeqLength: 512,
    layerNormEps: 1e-12,
    rotaryBase: 10_000,
  }),
  xlarge: Object.freeze({
    vocabSize: 30_000,
    embeddingSize: 128,
    hiddenSize: 4096,
    numHeads: 32,
    numLayers: 12,
    intermediateSize: 16_384,
    maxSeqLength: 2048,
    layerNormEps: 1e-12,
    rotaryBase: 10_000,
  }),
});

/** Thrown when a model config is inconsistent; `field` names the culprit. */
export class InvalidModelConfigError extends Error {
  readonly code = 'ERR_INVALID_MODEL_CONFIG';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`model.${field}: ${message}`);
    this.name = 'InvalidModelConfigError';
    this.field = field;
  }
}

/** Checks a config and returns it frozen. */
export function validateModelConfig(c: ModelConfig): Readonly<ModelConfig> {
  const ints: (keyof ModelConfig)[] = [
    'vocabSize', 'embeddingSize', 'hiddenSize', 'numHeads', 'numLayers', 'intermediateSize', 'maxSeqLength',
  ];
  for (const k of ints) {
    const v = c[k];
    if (!Number.isInteger(v) || v < 1) throw new InvalidModelConfigError(k, `must be a positive integer, got ${v}`);
  }
  if (c.hiddenSize % c.numHeads !== 0) {
    throw new InvalidModelConfigError('numHeads', `hiddenSize ${c.hiddenSize} is not divisible by ${c.numHeads} heads`);
  }
  if ((c.hiddenSize / c.numHeads) % 2 !== 0) {
    throw new InvalidModelConfigError('numHeads', `head size ${c.hiddenSize / c.numHeads} must be even for rotary embeddings`);
  }
  if (!(c.layerNormEps > 0)) throw new InvalidModelConfigError('layerNormEps', 'must be > 0');
  if (!(c.rotaryBase > 1)) throw new InvalidModelConfigError('rotaryBase', 'must be > 1');
  return Object.freeze({ ...c });
}

/** A preset with the given overrides (e.g. the tokenizer's vocabSize, the spec's seqLength). */
export function modelConfig(preset: ModelPreset, overrides: Partial<ModelConfig> = {}): Readonly<ModelConfig> {
  const base = MODEL_PRESETS[preset];
  if (base === undefined) throw new InvalidModelConfigError('size', `unknown preset '${String(preset)}'`);
  return validateModelConfig({ ...base, ...overrides });
}

/** Parameter count of a config, by formula (independent of numLayers: one shared block). */
export function parameterCount(c: ModelConfig): number {
  const { vocabSize: V, embeddingSize: E, hiddenSize: H, intermediateSize: I } = c;
  const embeddings = V * E + 2 * E + E * H + H; // table, LayerNorm(E), projection E→H
  const attention = 2 * H + 3 * (H * H + H) + H * H + H; // LN, q/k/v, output
  const ffn = 2 * H + 2 * (H * I + I) + I * H + H; // LN, GEGLU gate/value, out
  const final = 2 * H + V; // final LayerNorm, head bias
  return embeddings + attention + ffn + final;
}
