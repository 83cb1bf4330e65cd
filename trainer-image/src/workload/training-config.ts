/**
 * The parts of spec.training the training workload reads (model, data,
 * optimizer, averaging mode, checkpoints), parsed once from the
 * SPOTSWARM_TRAINING JSON with the CRD's defaults filled in (the API server
 * applies them to pods the operator creates; tests and the demo may pass a
 * shorter spec). The CRD has validated ranges already; this parser checks
 * them again so that a hand-written spec gets a clear error naming the field.
 */
import { Env, type AveragingMode, type ModelPreset, type OptimizerName } from '../../../api/index.ts';
import { type BackendKind, parseBackendOrder } from '../backend/index.ts';
import { ConfigError } from '../config.ts';
import { type ByzantineFault, parseByzantineFault } from './faults.ts';

export interface TrainingSettings {
  model: { size: ModelPreset; seqLength: number };
  data: { urls: string[]; tokenizer: string | undefined; maskProbability: number; microBatchSize: number };
  optimizer: {
    name: OptimizerName;
    learningRate: number;
    warmupEpochs: number;
    totalEpochs: number | undefined;
    weightDecay: number;
    clipGradNorm: number | undefined;
  };
  targetBatchSize: number;
  mode: AveragingMode;
  /** diloco: an outer step per innerSteps × targetBatchSize samples of the swarm. */
  innerSteps: number;
  /** Average parameters every N epochs (gradient mode; 0 = never). */
  stateAveragingEvery: number;
  /** Parameter averaging also averages the optimizer's moments. */
  averageOptimizerState: boolean;
  checkpointEvery: number;
}

/** CRD defaults (crds/trainingswarm.yaml). */
export const TRAINING_DEFAULTS = Object.freeze({
  size: 'tiny' as ModelPreset,
  seqLength: 128,
  maskProbability: 0.15,
  microBatchSize: 8,
  optimizer: 'lamb' as OptimizerName,
  learningRate: 0.00176,
  warmupEpochs: 0,
  weightDecay: 0.01,
  mode: 'gradient' as AveragingMode,
  stateAveragingEvery: 0,
  averageOptimizerState: false,
  checkpointEvery: 10,
});

const SIZES: readonly ModelPreset[] = ['tiny', 'base', 'large', 'xlarge'];

export function parseTrainingSettings(json: string): TrainingSettings {
  const V = Env.TrainingSpec;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ConfigError(V, `is not JSON: ${(e as Error).message}`);
  }
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (v === undefined) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(V, `${field}: must be an object`);
    return v as Record<string, unknown>;
  };
  const t = obj(raw, 'spec.training');
  const num = (o: Record<string, unknown>, field: string, path: string, def: number | undefined, lo: number, hi: number, int = false): number | undefined => {
    const v = o[field] ?? def;
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new ConfigError(V, `${path}.${field}: must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const bool = (o: Record<string, unknown>, field: string, path: string, def: boolean): boolean => {
    const v = o[field] ?? def;
    if (typeof v !== 'boolean') throw new ConfigError(V, `${path}.${field}: must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const req = <T>(v: T | undefined, path: string): T => {
    if (v === undefined) throw new ConfigError(V, `${path}: is required`);
    return v;
  };

  const m = obj(t['model'], 'model');
  const size = (m['size'] ?? TRAINING_DEFAULTS.size) as ModelPreset;
  if (!SIZES.includes(size)) throw new ConfigError(V, `model.size: must be one of ${SIZES.join(', ')}, got ${JSON.stringify(size)}`);
  if (m['architecture'] !== undefined && m['architecture'] !== 'lean-albert') throw new ConfigError(V, `model.architecture: must be lean-albert, got ${JSON.stringify(m['architecture'])}`);

  const d = obj(t['data'], 'data');
  const urls = d['urls'];
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && u.length > 0)) {
    throw new ConfigError(V, 'data.urls: must be a non-empty list of paths, http(s) URLs or generated:<name>');
  }
  const tokenizer = d['tokenizer'];
  if (tokenizer !== undefined && typeof tokenizer !== 'string') throw new ConfigError(V, 'data.tokenizer: must be a string');

  const o = obj(t['optimizer'], 'optimizer');
  const name = (o['name'] ?? TRAINING_DEFAULTS.optimizer) as OptimizerName;
  if (name !== 'lamb' && name !== 'adam') throw new ConfigError(V, `optimizer.name: must be lamb or adam, got ${JSON.stringify(name)}`);

  const a = obj(t['averaging'], 'averaging');
  const mode = (a['mode'] ?? TRAINING_DEFAULTS.mode) as AveragingMode;
  if (mode !== 'gradient' && mode !== 'diloco') throw new ConfigError(V, `averaging.mode: must be gradient or diloco, got ${JSON.stringify(mode)}`);
  const innerSteps = num(a, 'innerSteps', 'averaging', undefined, 1, 100_000, true);
  if (mode === 'diloco' && innerSteps === undefined) throw new ConfigError(V, 'averaging.innerSteps: is required in diloco mode');

  const warmupEpochs = req(num(o, 'warmupEpochs', 'optimizer', TRAINING_DEFAULTS.warmupEpochs, 0, Number.MAX_SAFE_INTEGER, true), 'optimizer.warmupEpochs');
  const totalEpochs = num(o, 'totalEpochs', 'optimizer', undefined, 1, Number.MAX_SAFE_INTEGER, true);
  if (totalEpochs !== undefined && warmupEpochs >= totalEpochs) throw new ConfigError(V, `optimizer.warmupEpochs: ${warmupEpochs} must be below totalEpochs ${totalEpochs}`);

  return {
    model: { size, seqLength: req(num(m, 'seqLength', 'model', TRAINING_DEFAULTS.seqLength, 8, 8192, true), 'model.seqLength') },
    data: {
      urls: [...(urls as string[])],
      tokenizer: tokenizer === '' ? undefined : (tokenizer as string | undefined),
      maskProbability: req(num(d, 'maskProbability', 'data', TRAINING_DEFAULTS.maskProbability, 0.01, 0.5), 'data.maskProbability'),
      microBatchSize: req(num(d, 'microBatchSize', 'data', TRAINING_DEFAULTS.microBatchSize, 1, 65_536, true), 'data.microBatchSize'),
    },
    optimizer: {
      name,
      learningRate: req(num(o, 'learningRate', 'optimizer', TRAINING_DEFAULTS.learningRate, 0, 10), 'optimizer.learningRate'),
      warmupEpochs,
      totalEpochs,
      weightDecay: req(num(o, 'weightDecay', 'optimizer', TRAINING_DEFAULTS.weightDecay, 0, 1), 'optimizer.weightDecay'),
      clipGradNorm: num(o, 'clipGradNorm', 'optimizer', undefined, 0, Number.MAX_VALUE) || undefined,
    },
    targetBatchSize: req(num(t, 'targetBatchSize', 'spec.training', undefined, 1, 1e9, true), 'targetBatchSize'),
    mode,
    innerSteps: innerSteps ?? 1,
    stateAveragingEvery: req(num(a, 'stateAveragingEvery', 'averaging', TRAINING_DEFAULTS.stateAveragingEvery, 0, Number.MAX_SAFE_INTEGER, true), 'averaging.stateAveragingEvery'),
    averageOptimizerState: bool(a, 'averageOptimizerState', 'averaging', TRAINING_DEFAULTS.averageOptimizerState),
    checkpointEvery: req(num(t, 'checkpointEvery', 'spec.training', TRAINING_DEFAULTS.checkpointEvery, 1, Number.MAX_SAFE_INTEGER, true), 'checkpointEvery'),
  };
}

/** Trainer knobs outside spec.training (tests, benchmarks, operators who know why). */
export interface TrainingEnv {
  /** Held-out batches evaluated after every epoch (SPOTSWARM_EVAL_BATCHES; 0 = off). */
  evalBatches: number;
  /** Backend preference (SPOTSWARM_BACKENDS, e.g. "wasm,cpu"); undefined = the default order. */
  backends: BackendKind[] | undefined;
  faults: { nanGradientEpochs: number[]; byzantine: ByzantineFault | undefined; byzantineResults: ByzantineFault | undefined };
}

/** Reads the training workload's extra variables from `env` (main.ts passes process.env). */
export function parseTrainingEnv(env: Readonly<Record<string, string | undefined>>): TrainingEnv {
  const str = (n: string): string | undefined => {
    const v = env[n]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const evalRaw = str(Env.EvalBatches) ?? '0';
  const evalBatches = Number(evalRaw);
  if (!Number.isInteger(evalBatches) || evalBatches < 0 || evalBatches > 1000) throw new ConfigError(Env.EvalBatches, `must be an integer in [0, 1000], got ${JSON.stringify(evalRaw)}`);
  let backends: BackendKind[] | undefined;
  const b = str(Env.Backends);
  if (b !== undefined) {
    try {
      backends = parseBackendOrder(b);
    } catch (e) {
      throw new ConfigError(Env.Backends, (e as Error).message);
    }
  }
  const nanGradientEpochs: number[] = [];
  for (const part of (str(Env.FaultNanGradientEpochs) ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const e = Number(part);
    if (!Number.isInteger(e) || e < 0) throw new ConfigError(Env.FaultNanGradientEpochs, `must be comma-separated epochs, got ${JSON.stringify(part)}`);
    nanGradientEpochs.push(e);
  }
  const fault = (name: string): ByzantineFault | undefined => {
    const z = str(name);
    if (z === undefined) return undefined;
    try {
      return parseByzantineFault(z);
    } catch (e) {
      throw new ConfigError(name, (e as Error).message);
    }
  };
  return { evalBatches, backends, faults: { nanGradientEpochs, byzantine: fault(Env.FaultByzantine), byzantineResults: fault(Env.FaultByzantineResults) } };
}
