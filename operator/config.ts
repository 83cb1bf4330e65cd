/**
 * Operator options: parsed once from the environment and flags, validated
 * (errors name the variable), then frozen.
 */
import { hostname } from 'node:os';
import { Env } from '../api/index.ts';

export interface OperatorConfig {
  /** Path of a kubeconfig; unset means in-cluster service account. @env KUBECONFIG */
  kubeconfig?: string;
  /** Prefix of the in-cluster service-account files when KUBECONFIG is unset (see Env.InClusterRoot). @env SPOTSWARM_IN_CLUSTER_ROOT */
  inClusterRoot?: string;
  /** Name of this cluster in placements and pod env. @env SPOTSWARM_CLUSTER_NAME @default local */
  clusterName: string;
  /** Namespace of the leader-election Lease. @env POD_NAMESPACE @default spotswarm-system */
  leaseNamespace: string;
  /** @env SPOTSWARM_LEASE_NAME @default spotswarm-operator */
  leaseName: string;
  /** Unique identity of this replica. @env POD_NAME @default hostname-pid */
  identity: string;
  /** Turn leader election off (single replica, development). @env SPOTSWARM_LEADER_ELECT @default true */
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Port for /metrics, /healthz and /readyz; 0 picks a free one. @env SPOTSWARM_METRICS_PORT @default 8080 */
  metricsPort: number;
  /** @env SPOTSWARM_METRICS_HOST @default 0.0.0.0 */
  metricsHost: string;
  /** Swarms reconciled at once; reconciles mostly wait on the API, so more workers help. @env SPOTSWARM_CONCURRENCY @default 16 */
  concurrency: number;
  /** Token of the operator's own NATS user (reads telemetry only). @env SPOTSWARM_NATS_TOKEN */
  natsToken?: string;
  /**
   * Secret (in leaseNamespace) with the NATS operator-mode auth bundle; set,
   * the operator issues every swarm without spec.nats.credentialsSecretRef its
   * own NATS account and credentials, creating the Secret on first start.
   * @env SPOTSWARM_NATS_AUTH_SECRET
   */
  natsAuthSecret?: string;
  /** NATS URL of swarms without spec.nats.url. @env SPOTSWARM_DEFAULT_NATS_URL */
  defaultNatsUrl?: string;
  /** Bytes of the JetStream file store, to check that checkpoints fit. @env SPOTSWARM_NATS_STORE_SIZE (a quantity: 16Gi) */
  natsStoreBytes?: number;
  /** Lifetime of issued trainer credentials, re-issued at half of it; 0 = no expiry. @env SPOTSWARM_NATS_CREDENTIALS_TTL_HOURS @default 720 */
  natsCredentialsTtlSeconds: number;
  /** Trainer image of swarms that leave out spec.trainer.image; unset, such swarms are Degraded. @env SPOTSWARM_TRAINER_IMAGE */
  defaultTrainerImage?: string;
  /**
   * Port of the trainers' /metrics, given to every trainer pod (a containerPort named `metrics` when above 0, for a
   * PodMonitor); 0 lets each trainer pick a free port and log it (local processes sharing one host). Unset: no
   * trainer metrics. @env SPOTSWARM_TRAINER_METRICS_PORT
   */
  trainerMetricsPort?: number;
  logFormat: 'json' | 'text';
  logLevel: string;
}

/** A setting the operator cannot start with; `variable` names it, and so does the message. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  /** The environment variable at fault. */
  readonly variable: string;
  /** `value` is the offending value when there is one: the message then reads `VARIABLE=value: problem`. */
  constructor(variable: string, problem: string, value?: string) {
    super(`${variable}${value === undefined ? '' : `=${value}`}: ${problem}`);
    this.variable = variable;
  }
}

type RawEnv = Record<string, string | undefined>;

function int(env: RawEnv, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(name, `must be an integer in [${min}, ${max}]`, raw);
  return v;
}

function bool(env: RawEnv, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, 'must be true or false', raw);
}

const QUANTITY_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** Bytes of a Kubernetes storage quantity such as 16Gi, 500M or 1073741824; undefined when it is not one. */
export function quantityBytes(q: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (QUANTITY_UNITS[m[2] ?? ''] ?? 1));
}

export function parseConfig(env: RawEnv, isTTY: boolean): Readonly<OperatorConfig> {
  const logFormat = env[Env.LogFormat] ?? (isTTY ? 'text' : 'json');
  if (logFormat !== 'json' && logFormat !== 'text') throw new ConfigError(Env.LogFormat, 'must be json or text', logFormat);
  const logLevel = env[Env.LogLevel] ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) throw new ConfigError(Env.LogLevel, 'must be error, warn, info or debug', logLevel);
  const leaseDurationMs = int(env, Env.LeaseDurationSeconds, 15, 2, 600) * 1000;
  const renewDeadlineMs = int(env, Env.RenewDeadlineSeconds, 10, 1, 600) * 1000;
  const retryPeriodMs = int(env, Env.RetryPeriodSeconds, 2, 1, 600) * 1000;
  if (!(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    // The renew deadline is the setting that must sit between the other two.
    throw new ConfigError(Env.RenewDeadlineSeconds, `${Env.RetryPeriodSeconds} < ${Env.RenewDeadlineSeconds} < ${Env.LeaseDurationSeconds} must hold`, String(renewDeadlineMs / 1000));
  }
  const clusterName = env[Env.ClusterName] ?? 'local';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(clusterName)) throw new ConfigError(Env.ClusterName, 'must be a DNS label', clusterName);
  const kubeconfig = env[Env.Kubeconfig] || undefined;
  const inClusterRoot = env[Env.InClusterRoot] || undefined;
  const natsAuthSecret = env[Env.NatsAuthSecret] || undefined;
  if (natsAuthSecret !== undefined && !/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(natsAuthSecret)) throw new ConfigError(Env.NatsAuthSecret, 'must be a Secret name', natsAuthSecret);
  const natsToken = env[Env.NatsToken];
  const defaultTrainerImage = env[Env.DefaultTrainerImage] || undefined;
  if (defaultTrainerImage !== undefined && !/^[^\s]{1,512}$/.test(defaultTrainerImage)) throw new ConfigError(Env.DefaultTrainerImage, 'must be an image reference (no spaces, at most 512 characters)', defaultTrainerImage);
  const defaultNatsUrl = env[Env.DefaultNatsUrl] || undefined;
  if (defaultNatsUrl !== undefined && !/^(nats|tls|ws|wss):\/\/\S+$/.test(defaultNatsUrl)) throw new ConfigError(Env.DefaultNatsUrl, 'must be a nats://, tls://, ws:// or wss:// URL', defaultNatsUrl);
  const storeRaw = env[Env.NatsStoreSize] || undefined;
  const natsStoreBytes = storeRaw === undefined ? undefined : quantityBytes(storeRaw);
  if (storeRaw !== undefined && !natsStoreBytes) throw new ConfigError(Env.NatsStoreSize, 'must be a positive storage quantity such as 16Gi', storeRaw);
  return Object.freeze({
    ...(kubeconfig ? { kubeconfig } : {}),
    ...(inClusterRoot ? { inClusterRoot } : {}),
    clusterName,
    leaseNamespace: env[Env.OperatorNamespace] ?? 'spotswarm-system',
    leaseName: env[Env.LeaseName] ?? 'spotswarm-operator',
    identity: env[Env.OperatorPodName] ?? `${hostname()}-${process.pid}`,
    leaderElect: bool(env, Env.LeaderElect, true),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    metricsPort: int(env, Env.MetricsPort, 8080, 0, 65535),
    metricsHost: env[Env.MetricsHost] ?? '0.0.0.0',
    concurrency: int(env, Env.Concurrency, 16, 1, 256),
    ...(natsToken ? { natsToken } : {}),
    ...(natsAuthSecret ? { natsAuthSecret } : {}),
    ...(defaultNatsUrl ? { defaultNatsUrl } : {}),
    ...(natsStoreBytes ? { natsStoreBytes } : {}),
    natsCredentialsTtlSeconds: int(env, Env.NatsCredentialsTtlHours, 720, 0, 24 * 3650) * 3600,
    ...(defaultTrainerImage ? { defaultTrainerImage } : {}),
    ...(env[Env.TrainerMetricsPort] ? { trainerMetricsPort: int(env, Env.TrainerMetricsPort, 0, 0, 65535) } : {}),
    logFormat,
    logLevel,
  });
}
