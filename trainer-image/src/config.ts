/**
 * The trainer's configuration: parsed and validated once from the
 * environment (main.ts passes process.env; nothing else reads it), then
 * frozen. Every error names the variable, and the field inside it for JSON.
 */
import { isIP } from 'node:net';
import { Env, TRAINER_BACKENDS, type TrainerBackend } from '../../api/index.ts';
import { type BackendKind, parseBackendOrder } from './backend/index.ts';
import { errorMessage } from './common/index.ts';
import { ConfigError } from './config-error.ts';
import { parseRelay } from './swarm/relay-client.ts';
import { parseTrainingSpec, type TrainingSpec } from './training-spec.ts';
import { type ByzantineFault, parseByzantineFault, type TrainingFaults } from './workload/faults.ts';

export { ConfigError } from './config-error.ts';

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

/** Knobs of the train workload outside spec.training (tests, benchmarks, operators who know why). */
export interface TrainWorkloadConfig {
  /** Held-out batches evaluated after every epoch (SPOTSWARM_EVAL_BATCHES; 0 = off). */
  evalBatches: number;
  /** spec.trainer.backend (SPOTSWARM_BACKEND): auto, gpu, cpu or wasm. */
  backend: TrainerBackend;
  /** Backend preference (SPOTSWARM_BACKENDS, e.g. "wasm,cpu"), used with backend auto; undefined = the default order. */
  backends: BackendKind[] | undefined;
  faults: TrainingFaults;
}

export interface TrainerConfig {
  swarm: { name: string; namespace: string; uid: string | undefined };
  pod: { name: string; ip: string; cluster: string | undefined };
  /** connectTimeoutMs: how long the trainer tries to reach NATS at start before it exits with NatsUnreachable. */
  nats: { url: string; credentials: string | undefined; replicas: number; connectTimeoutMs: number };
  /** The container's termination message file (SPOTSWARM_TERMINATION_LOG): a fatal problem is written there; undefined = nowhere. */
  terminationLog: string | undefined;
  training: TrainingSpec;
  stopAfterEpochs: number | undefined;
  p2pPort: number;
  /**
   * How peers elsewhere reach this one. HostPort announces `announceIp`;
   * Relay listens only through `relays` (circuit relay multiaddrs with /p2p/).
   */
  network: { mode: 'PodNetwork' | 'HostPort' | 'Relay'; announceIp: string | undefined; relays: string[] | undefined };
  /** Port of /metrics and /healthz: undefined (the variable unset) = off, 0 = a free port chosen at start and logged. */
  metricsPort: number | undefined;
  log: { format: 'json' | 'text'; level: string };
  membershipTtlMs: number;
  /** train (the default): LeanALBERT training; averaging: the synthetic data-plane workload. */
  workload: 'train' | 'averaging';
  /** The train workload's own knobs; undefined for the averaging workload, which reads none. */
  train: TrainWorkloadConfig | undefined;
  synthetic: SyntheticConfig;
}

export const DEFAULT_SYNTHETIC_VECTOR_MB = 1;
export const DEFAULT_SYNTHETIC_SAMPLES_PER_SECOND = 100;
export const DEFAULT_MEMBERSHIP_TTL_SECONDS = 10;
/** Below the operator's 30 s healthy run, so a trainer that never reaches NATS counts as failing and backs off. */
export const DEFAULT_NATS_CONNECT_TIMEOUT_SECONDS = 20;
const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

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
    nats: { url: natsUrl, credentials: env[Env.NatsCredentials] === '' ? undefined : env[Env.NatsCredentials], replicas: natsReplicas(env[Env.NatsReplicas]),
      connectTimeoutMs: (num(Env.NatsConnectTimeoutSeconds, DEFAULT_NATS_CONNECT_TIMEOUT_SECONDS, { min: 1, max: 3600 }) as number) * 1000 },
    terminationLog: str(Env.TerminationLog),
    training: parseTrainingSpec(required(Env.TrainingSpec), { dataRequired: workload === 'train' }),
    stopAfterEpochs: num(Env.StopAfterEpochs, undefined, { min: 1, max: Number.MAX_SAFE_INTEGER, integer: true }),
    p2pPort,
    network: { mode, announceIp, relays },
    metricsPort: num(Env.MetricsPort, undefined, { min: 0, max: 65535, integer: true }),
    log: { format, level },
    membershipTtlMs: (num(Env.MembershipTtlSeconds, DEFAULT_MEMBERSHIP_TTL_SECONDS, { min: 1, max: 3600 }) as number) * 1000,
    workload,
    train: workload === 'train' ? parseTrainWorkload(env) : undefined,
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

/** Reads the train workload's variables besides SPOTSWARM_TRAINING. */
function parseTrainWorkload(env: EnvSource): TrainWorkloadConfig {
  const str = (n: string): string | undefined => {
    const v = env[n]?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  const evalRaw = str(Env.EvalBatches) ?? '0';
  const evalBatches = Number(evalRaw);
  if (!Number.isInteger(evalBatches) || evalBatches < 0 || evalBatches > 1000) throw new ConfigError(Env.EvalBatches, `must be an integer in [0, 1000], got ${JSON.stringify(evalRaw)}`);
  const backend = (str(Env.Backend) ?? 'auto') as TrainerBackend;
  if (!TRAINER_BACKENDS.includes(backend)) throw new ConfigError(Env.Backend, `must be one of ${TRAINER_BACKENDS.join(', ')} (spec.trainer.backend), got ${JSON.stringify(backend)}`);
  let backends: BackendKind[] | undefined;
  const b = str(Env.Backends);
  if (b !== undefined) {
    try {
      backends = parseBackendOrder(b);
    } catch (e) {
      throw new ConfigError(Env.Backends, errorMessage(e));
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
      throw new ConfigError(name, errorMessage(e));
    }
  };
  return { evalBatches, backend, backends, faults: { nanGradientEpochs, byzantine: fault(Env.FaultByzantine), byzantineResults: fault(Env.FaultByzantineResults) } };
}
