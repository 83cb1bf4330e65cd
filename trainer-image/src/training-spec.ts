/**
 * spec.training as the trainer holds it: parsed once from SPOTSWARM_TRAINING
 * (config.ts), every default filled in, checked, frozen.
 *
 * TRAINING_FIELDS copies the CRD's keywords (type, default, minimum,
 * maximum, exclusive bounds, enum) of every scalar field of spec.training
 * that has any, and the parser enforces exactly those.
 * training-spec.crd.test.ts reads crds/trainingswarm.yaml and fails when the
 * two differ. The API server applies the same defaults and bounds to the
 * pods the operator creates; the trainer checks them again so that a
 * hand-written spec (tests, the demo, benchmarks) gets the same values, and
 * an error naming the field.
 */
import {
  AVERAGING_MODES, COMPRESSIONS, Env, MODEL_ARCHITECTURES, MODEL_SIZES, OPTIMIZER_NAMES, ROBUST_METHODS, type TrainingSpec as CrdTrainingSpec,
} from '../../api/index.ts';
import { errorMessage } from './common/index.ts';
import { ConfigError } from './config-error.ts';

type DeepReadonly<T> = T extends readonly (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** spec.training (api/trainingswarm.ts), every default filled in; frozen. */
export type TrainingSpec = DeepReadonly<CrdTrainingSpec>;

/** The CRD's keywords of one scalar field (OpenAPI v3.0: exclusive bounds are flags on minimum and maximum). */
export type FieldSchema =
  | {
      readonly type: 'integer' | 'number';
      readonly default?: number;
      readonly minimum?: number;
      readonly maximum?: number;
      readonly exclusiveMinimum?: true;
      readonly exclusiveMaximum?: true;
    }
  | { readonly type: 'string'; readonly enum: readonly string[]; readonly default: string }
  | { readonly type: 'boolean'; readonly default: boolean };

/** Every scalar field of spec.training with a default, a bound or an enum in crds/trainingswarm.yaml, by path. */
export const TRAINING_FIELDS = {
  'model.architecture': { type: 'string', enum: MODEL_ARCHITECTURES, default: 'lean-albert' },
  'model.size': { type: 'string', enum: MODEL_SIZES, default: 'tiny' },
  'model.seqLength': { type: 'integer', minimum: 8, maximum: 8192, default: 128 },
  'data.maskProbability': { type: 'number', minimum: 0.01, maximum: 0.5, default: 0.15 },
  'data.microBatchSize': { type: 'integer', minimum: 1, maximum: 65_536, default: 8 },
  'optimizer.name': { type: 'string', enum: OPTIMIZER_NAMES, default: 'lamb' },
  'optimizer.learningRate': { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 10, default: 0.00176 },
  'optimizer.warmupEpochs': { type: 'integer', minimum: 0, default: 0 },
  'optimizer.totalEpochs': { type: 'integer', minimum: 1 },
  'optimizer.weightDecay': { type: 'number', minimum: 0, maximum: 1, default: 0.01 },
  'optimizer.clipGradNorm': { type: 'number', minimum: 0, exclusiveMinimum: true },
  targetBatchSize: { type: 'integer', minimum: 1, maximum: 1_000_000_000 },
  'averaging.mode': { type: 'string', enum: AVERAGING_MODES, default: 'gradient' },
  'averaging.maxGroupSize': { type: 'integer', minimum: 2, maximum: 256, default: 16 },
  'averaging.compression': { type: 'string', enum: COMPRESSIONS, default: 'auto' },
  'averaging.matchmakingWindowSeconds': { type: 'number', minimum: 0, maximum: 600, default: 5 },
  'averaging.timeoutSeconds': { type: 'number', minimum: 1, maximum: 3600, default: 60 },
  'averaging.innerSteps': { type: 'integer', minimum: 1, maximum: 100_000 },
  'averaging.stateAveragingEvery': { type: 'integer', minimum: 0, default: 0 },
  'averaging.averageOptimizerState': { type: 'boolean', default: false },
  'averaging.robust.method': { type: 'string', enum: ROBUST_METHODS, default: 'none' },
  'averaging.robust.trimFraction': { type: 'number', minimum: 0, maximum: 0.5, exclusiveMaximum: true, default: 0.2 },
  'averaging.robust.clipTau': { type: 'number', minimum: 0, exclusiveMinimum: true, maximum: 1000, default: 1 },
  'averaging.robust.clipIterations': { type: 'integer', minimum: 1, maximum: 100, default: 3 },
  'averaging.robust.maxSamplesRatio': { type: 'number', minimum: 1, maximum: 1000, default: 4 },
  'averaging.robust.verifyReducers': { type: 'boolean', default: false },
  checkpointEvery: { type: 'integer', minimum: 1, default: 10 },
} as const satisfies Record<string, FieldSchema>;

type Fields = typeof TRAINING_FIELDS;
type FieldPath = keyof Fields;
/** The parsed value of a field: its enum's members, a number or a boolean; undefined when it has no default and is unset. */
type FieldValue<P extends FieldPath> =
  | (Fields[P] extends { enum: readonly (infer E)[] } ? E : Fields[P] extends { type: 'boolean' } ? boolean : number)
  | (Fields[P] extends { default: unknown } ? never : undefined);

type Json = Record<string, unknown>;

export interface TrainingSpecOptions {
  /** data.urls must name data (the train workload); the averaging workload reads none and accepts an empty list. */
  dataRequired: boolean;
}

/** Parses and checks SPOTSWARM_TRAINING; every error is a ConfigError naming the variable and the field. */
export function parseTrainingSpec(json: string, opts: TrainingSpecOptions): TrainingSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw invalid(`is not JSON: ${errorMessage(e)}`);
  }
  if (!isObject(raw)) throw invalid('must be a JSON object (spec.training)');
  const f = <P extends FieldPath>(path: P): FieldValue<P> => field(raw, path);

  const targetBatchSize = f('targetBatchSize');
  if (targetBatchSize === undefined) throw invalid('targetBatchSize: is required');
  const mode = f('averaging.mode');
  const innerSteps = f('averaging.innerSteps');
  if (mode === 'diloco' && innerSteps === undefined) throw invalid('averaging.innerSteps: is required in diloco mode');
  const warmupEpochs = f('optimizer.warmupEpochs');
  const totalEpochs = f('optimizer.totalEpochs');
  if (totalEpochs !== undefined && warmupEpochs >= totalEpochs) throw invalid(`optimizer.warmupEpochs: ${warmupEpochs} must be below totalEpochs ${totalEpochs}`);
  const method = f('averaging.robust.method');
  const maxGroupSize = f('averaging.maxGroupSize');
  if (method !== 'none' && maxGroupSize < 3) throw invalid(`averaging.maxGroupSize: must be at least 3 with robust aggregation, got ${maxGroupSize}`);
  const trimFraction = f('averaging.robust.trimFraction');
  if (method === 'trimmed-mean' && trimFraction === 0) throw invalid('averaging.robust.trimFraction: must be above 0 when method is trimmed-mean');
  const model = Object.freeze({ architecture: f('model.architecture'), size: f('model.size'), seqLength: f('model.seqLength') });
  const optimizer = Object.freeze({
    name: f('optimizer.name'),
    learningRate: f('optimizer.learningRate'),
    warmupEpochs,
    totalEpochs,
    weightDecay: f('optimizer.weightDecay'),
    clipGradNorm: f('optimizer.clipGradNorm'),
  });
  const averaging = Object.freeze({
    mode,
    maxGroupSize,
    compression: f('averaging.compression'),
    matchmakingWindowSeconds: f('averaging.matchmakingWindowSeconds'),
    timeoutSeconds: f('averaging.timeoutSeconds'),
    innerSteps,
    stateAveragingEvery: f('averaging.stateAveragingEvery'),
    averageOptimizerState: f('averaging.averageOptimizerState'),
    robust: Object.freeze({
      method,
      trimFraction,
      clipTau: f('averaging.robust.clipTau'),
      clipIterations: f('averaging.robust.clipIterations'),
      maxSamplesRatio: f('averaging.robust.maxSamplesRatio'),
      verifyReducers: f('averaging.robust.verifyReducers'),
    }),
  });
  const checkpointEvery = f('checkpointEvery');
  // data last: a spec that lacks data and has another error too is told about the other one.
  const d = objectAt(raw, ['data']);
  const tokenizer = d['tokenizer'];
  if (tokenizer !== undefined && typeof tokenizer !== 'string') throw invalid('data.tokenizer: must be a string');
  const data = Object.freeze({
    urls: dataUrls(d['urls'], opts.dataRequired),
    tokenizer: tokenizer === '' ? undefined : tokenizer,
    maskProbability: f('data.maskProbability'),
    microBatchSize: f('data.microBatchSize'),
  });
  return Object.freeze({ model, data, optimizer, targetBatchSize, averaging, checkpointEvery });
}

/** Samples the swarm accumulates per epoch: a global batch, or innerSteps of them in diloco. */
export function samplesPerEpoch(spec: TrainingSpec): number {
  // The parser requires innerSteps in diloco mode.
  return spec.averaging.mode === 'diloco' ? spec.targetBatchSize * (spec.averaging.innerSteps ?? 1) : spec.targetBatchSize;
}

function invalid(message: string): ConfigError {
  return new ConfigError(Env.TrainingSpec, message);
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object at `path` under `root`; an unset one is empty (the CRD defaults those to {}). */
function objectAt(root: Json, path: readonly string[]): Json {
  let o = root;
  for (let i = 0; i < path.length; i++) {
    const v = o[path[i]!];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) throw invalid(`${path.slice(0, i + 1).join('.')}: must be an object`);
    o = v;
  }
  return o;
}

function field<P extends FieldPath>(root: Json, path: P): FieldValue<P> {
  const parts = path.split('.');
  const schema: FieldSchema = TRAINING_FIELDS[path];
  const v = objectAt(root, parts.slice(0, -1))[parts[parts.length - 1]!] ?? schema.default;
  if (v === undefined) return undefined as FieldValue<P>;
  if (!fits(schema, v)) throw invalid(`${path}: must be ${describe(schema)}, got ${JSON.stringify(v)}`);
  return v as FieldValue<P>;
}

function fits(s: FieldSchema, v: unknown): boolean {
  if (s.type === 'string') return s.enum.includes(v as string);
  if (s.type === 'boolean') return typeof v === 'boolean';
  if (typeof v !== 'number' || !(s.type === 'integer' ? Number.isSafeInteger(v) : Number.isFinite(v))) return false;
  if (s.minimum !== undefined && (s.exclusiveMinimum ? v <= s.minimum : v < s.minimum)) return false;
  return s.maximum === undefined || (s.exclusiveMaximum ? v < s.maximum : v <= s.maximum);
}

function describe(s: FieldSchema): string {
  if (s.type === 'string') return s.enum.join(' | ');
  if (s.type === 'boolean') return 'true or false';
  const what = s.type === 'integer' ? 'an integer' : 'a number';
  const lo = s.minimum ?? -Infinity;
  if (s.maximum === undefined) return `${what} ${s.exclusiveMinimum ? '>' : '>='} ${lo}`;
  return `${what} in ${s.exclusiveMinimum ? '(' : '['}${lo}, ${s.maximum}${s.exclusiveMaximum ? ')' : ']'}`;
}

function dataUrls(urls: unknown, required: boolean): readonly string[] {
  if (urls === undefined && !required) return Object.freeze([]);
  if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && u.length > 0)) {
    throw invalid('data.urls: must be a non-empty list of paths, http(s) URLs or generated:<name>');
  }
  return Object.freeze([...(urls as string[])]);
}
