/**
 * The trainer's configuration: parsed and validated once from the
 * environment (main.ts passes process.env; nothing else reads it), then
 * frozen. Every error names the variable, and the field inside it for JSON.
 */
import { isIP } from 'node:net';
import { Env, ROBUST_METHODS, type Compression, type RobustAggregation, type RobustMethod } from '../../api/index.ts';
import { parseRelay } from './swarm/relay-client.ts';

export interface AveragingConfig {
  maxGroupSize: number;
  compression: Compression;
  matchmakingWindowSeconds: number;
  timeoutSeconds: number;
  /** Robust aggregation of gradient rounds (spec.training.averaging.robust). */
  robust: RobustAggregation;
}

export interface SyntheticConfig {
  /** Float32 elements of the synthetic vector. */
  vectorElements: number;
  /** Seed of the vector's content; undefined = the peer id. */
  seed: string | undefined;
  samplesPerSecond: number;
  /** Cap on samples per epoch; undefined = no cap. */
  samplesPerEpoch: number | undefined;
  /** Where to write each round's result vector; undefined = nowhere. */
  dumpDir: string | undefined;
}

export interface TrainerConfig {
  swarm: { name: string; namespace: string; uid: string | undefined };
  pod: { name: string; ip: string; cluster: string | undefined };
  nats: { url: string; credentials: string | undefined; replicas: number };
  training: { targetBatchSize: number; averaging: AveragingConfig };
  stopAfterEpochs: number | undefined;
  p2pPort: number;
  /**
   * How peers elsewhere reach this one. HostPort announces `announceIp`;
   * Relay listens only through `relays` (circuit relay multiaddrs with /p2p/).
   */
  network: { mode: 'PodNetwork' | 'HostPort' | 'Relay'; announceIp: string | undefined; relays: string[] | undefined };
  metricsPort: number;
  log: { format: 'json' | 'text'; level: string };
  membershipTtlMs: number;
  /** train (the default): LeanALBERT training; averaging: the synthetic data-plane workload. */
  workload: 'train' | 'averaging';
  synthetic: SyntheticConfig;
}

/** Thrown when the environment does not make a valid configuration; `variable` names the culprit. */
export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Defaults of spec.training.averaging, as in crds/trainingswarm.yaml. */
export const AVERAGING_DEFAULTS: Readonly<Omit<AveragingConfig, 'robust'>> = Object.freeze({ maxGroupSize: 16, compression: 'auto', matchmakingWindowSeconds: 5, timeoutSeconds: 60 });
/** Defaults of spec.training.averaging.robust, as in crds/trainingswarm.yaml. */
export const ROBUST_DEFAULTS: Readonly<RobustAggregation> = Object.freeze({ method: 'none', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false });
export const DEFAULT_SYNTHETIC_VECTOR_MB = 1;
export const DEFAULT_SYNTHETIC_SAMPLES_PER_SECOND = 100;
export const DEFAULT_MEMBERSHIP_TTL_SECONDS = 10;
const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];
const COMPRESSIONS: readonly Compression[] = ['auto', 'none', 'fp16', 'int8'];

type EnvSource = Readonly<Record<string, string | undefined>>;

function isIp(s: string): boolean {
  return isIP(s) !== 0;
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** JetStream stream replicas: 1, 3 or 5 (an even count cannot hold a quorum). */
/** SPOTSWARM_NATS_URL: a nats://, tls://, ws:// or wss:// URL. */
export function checkNatsUrl(url: string): string {
  if (!/^(nats|tls|ws|wss):\/\/\S+$/.test(url)) throw new ConfigError(Env.NatsUrl, `must be a nats:// (or tls://, ws://, wss://) URL, got ${JSON.stringify(url)}`);
  return url;
}

/** SPOTSWARM_NATS_REPLICAS: the swarm buckets' stream replicas. */
export function natsReplicas(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  if (!['1', '3', '5'].includes(raw)) throw new ConfigError(Env.NatsReplicas, `must be 1, 3 or 5, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

export function parseConfig(env: EnvSource, fallback: { hostname: string }): TrainerConfig {
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const required = (name: string): string => {
    const v = str(name);
    if (v === undefined) throw new ConfigError(name, 'is required');
    return v;
  };
  const num = (name: string, def: number | undefined, check: { min: number; max: number; integer?: boolean }): number | undefined => {
    const v = str(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n) || n < check.min || n > check.max || (check.integer === true && !Number.isInteger(n))) {
      throw new ConfigError(name, `must be ${check.integer ? 'an integer' : 'a number'} in [${check.min}, ${check.max}], got ${JSON.stringify(v)}`);
    }
    return n;
  };

  const natsUrl = checkNatsUrl(required(Env.NatsUrl));
  const podIp = required(Env.PodIp);
  if (!isIp(podIp)) throw new ConfigError(Env.PodIp, `must be an IPv4 or IPv6 address, got ${JSON.stringify(podIp)}`);
  const format = str(Env.LogFormat) ?? 'text';
  if (format !== 'json' && format !== 'text') throw new ConfigError(Env.LogFormat, `must be "json" or "text", got ${JSON.stringify(format)}`);
  const level = str(Env.LogLevel) ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new ConfigError(Env.LogLevel, `must be one of ${LOG_LEVELS.join(', ')}`);
  const workload = str(Env.Workload) ?? 'train';
  if (workload !== 'train' && workload !== 'averaging') throw new ConfigError(Env.Workload, `must be "train" or "averaging", got ${JSON.stringify(workload)}`);

  const vectorMb = num(Env.SyntheticVectorMb, DEFAULT_SYNTHETIC_VECTOR_MB, { min: 0, max: 4096 }) as number;
  const vectorElements = Math.floor((vectorMb * 1024 * 1024) / 4);
  if (vectorElements < 1) throw new ConfigError(Env.SyntheticVectorMb, `must make at least one float32 element, got ${vectorMb} MiB`);
  const p2pPort = num(Env.P2pPort, 0, { min: 0, max: 65535, integer: true }) as number;
  const mode = str(Env.NetworkMode) ?? 'PodNetwork';
  if (mode !== 'PodNetwork' && mode !== 'HostPort' && mode !== 'Relay') throw new ConfigError(Env.NetworkMode, `must be PodNetwork, HostPort or Relay, got ${JSON.stringify(mode)}`);
  let relays: string[] | undefined;
  if (mode === 'Relay') {
    relays = (str(Env.Relays) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (relays.length === 0) throw new ConfigError(Env.Relays, 'is required in Relay mode (comma-separated relay multiaddrs ending in /p2p/<relay peer id>)');
    for (const r of relays) {
      try {
        parseRelay(r);
      } catch (e) {
        throw new ConfigError(Env.Relays, (e as Error).message);
      }
    }
  }
  let announceIp: string | undefined;
  if (mode === 'HostPort') {
    announceIp = required(Env.AnnounceHost);
    if (!isIp(announceIp)) throw new ConfigError(Env.AnnounceHost, `must be an IPv4 or IPv6 address, got ${JSON.stringify(announceIp)}`);
    if (p2pPort === 0) throw new ConfigError(Env.P2pPort, 'must be a fixed port (the host port) in HostPort mode');
  }
  const cap = num(Env.SyntheticSamplesPerEpoch, 0, { min: 0, max: 1e12, integer: true }) as number;

  const cfg: TrainerConfig = {
    swarm: { name: required(Env.SwarmName), namespace: required(Env.SwarmNamespace), uid: str(Env.SwarmUid) },
    pod: { name: str(Env.PodName) ?? fallback.hostname, ip: podIp, cluster: str(Env.Cluster) },
    nats: { url: natsUrl, credentials: env[Env.NatsCredentials] === '' ? undefined : env[Env.NatsCredentials], replicas: natsReplicas(env[Env.NatsReplicas]) },
    training: parseTraining(required(Env.TrainingSpec)),
    stopAfterEpochs: num(Env.StopAfterEpochs, undefined, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }),
    p2pPort,
    network: { mode, announceIp, relays },
    metricsPort: num(Env.MetricsPort, 0, { min: 0, max: 65535, integer: true }) as number,
    log: { format, level },
    membershipTtlMs: (num(Env.MembershipTtlSeconds, DEFAULT_MEMBERSHIP_TTL_SECONDS, { min: 1, max: 3600 }) as number) * 1000,
    workload,
    synthetic: {
      vectorElements,
      seed: str(Env.SyntheticSeed),
      samplesPerSecond: num(Env.SyntheticSamplesPerSecond, DEFAULT_SYNTHETIC_SAMPLES_PER_SECOND, { min: 0, max: 1e9 }) as number,
      samplesPerEpoch: cap === 0 ? undefined : cap,
      dumpDir: str(Env.SyntheticDumpDir),
    },
  };
  return deepFreeze(cfg);
}

/** Reads the fields of spec.training the data plane uses; the CRD has validated the rest. */
export function parseTraining(json: string): TrainerConfig['training'] {
  const V = Env.TrainingSpec;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new ConfigError(V, `is not JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(V, 'must be a JSON object (spec.training)');
  const t = raw as Record<string, unknown>;
  const tbs = t['targetBatchSize'];
  if (typeof tbs !== 'number' || !Number.isInteger(tbs) || tbs < 1) throw new ConfigError(V, `targetBatchSize: must be an integer >= 1, got ${JSON.stringify(tbs)}`);
  const a = t['averaging'] ?? {};
  if (typeof a !== 'object' || a === null || Array.isArray(a)) throw new ConfigError(V, 'averaging: must be an object');
  const av = a as Record<string, unknown>;
  const field = <T>(name: keyof typeof AVERAGING_DEFAULTS, ok: (v: unknown) => v is T, what: string): T => {
    const v = av[name] ?? AVERAGING_DEFAULTS[name];
    if (!ok(v)) throw new ConfigError(V, `averaging.${name}: must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  };
  const maxGroupSize = field('maxGroupSize', isNum(2, 1024, true), 'an integer in [2, 1024]');
  const robust = parseRobust(av['robust']);
  if (robust.method !== 'none' && maxGroupSize < 3) throw new ConfigError(V, `averaging.maxGroupSize: must be at least 3 with robust aggregation, got ${maxGroupSize}`);
  return {
    targetBatchSize: tbs,
    averaging: {
      maxGroupSize,
      compression: field('compression', (v): v is Compression => COMPRESSIONS.includes(v as Compression), COMPRESSIONS.join(' | ')),
      matchmakingWindowSeconds: field('matchmakingWindowSeconds', isNum(0, 600), 'a number in [0, 600]'),
      timeoutSeconds: field('timeoutSeconds', isNum(1, 3600), 'a number in [1, 3600]'),
      robust,
    },
  };
}

const isNum = (lo: number, hi: number, int = false) => (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= lo && v <= hi && (!int || Number.isInteger(v));

/** spec.training.averaging.robust with the CRD's defaults and ranges; errors name the field. */
function parseRobust(raw: unknown): RobustAggregation {
  const V = Env.TrainingSpec;
  const r = raw ?? {};
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ConfigError(V, 'averaging.robust: must be an object');
  const o = r as Record<string, unknown>;
  const field = <T>(name: keyof RobustAggregation, ok: (v: unknown) => v is T, what: string): T => {
    const v = o[name] ?? ROBUST_DEFAULTS[name];
    if (!ok(v)) throw new ConfigError(V, `averaging.robust.${name}: must be ${what}, got ${JSON.stringify(v)}`);
    return v;
  };
  const method = field('method', (v): v is RobustMethod => ROBUST_METHODS.includes(v as RobustMethod), ROBUST_METHODS.join(' | '));
  const trimFraction = field('trimFraction', (v): v is number => isNum(0, 0.5)(v) && v < 0.5, 'a number in [0, 0.5)');
  if (method === 'trimmed-mean' && trimFraction === 0) throw new ConfigError(V, 'averaging.robust.trimFraction: must be above 0 when method is trimmed-mean');
  return {
    method,
    trimFraction,
    clipTau: field('clipTau', (v): v is number => isNum(0, 1000)(v) && v > 0, 'a number in (0, 1000]'),
    clipIterations: field('clipIterations', isNum(1, 100, true), 'an integer in [1, 100]'),
    maxSamplesRatio: field('maxSamplesRatio', isNum(1, 1000), 'a number in [1, 1000]'),
    verifyReducers: field('verifyReducers', (v): v is boolean => typeof v === 'boolean', 'true or false'),
  };
}
