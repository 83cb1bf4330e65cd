/**
 * Operator options: parsed once from the environment and flags, validated
 * (errors name the variable), then frozen.
 */
import { hostname } from 'node:os';

export interface OperatorConfig {
  /** Path of a kubeconfig; unset means in-cluster service account. @env KUBECONFIG */
  kubeconfig?: string;
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
  /** Lifetime of issued trainer credentials, re-issued at half of it; 0 = no expiry. @env SPOTSWARM_NATS_CREDENTIALS_TTL_HOURS @default 720 */
  natsCredentialsTtlSeconds: number;
  logFormat: 'json' | 'text';
  logLevel: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: Record<string, string | undefined>, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) throw new ConfigError(`${name}=${raw}: must be an integer in [${min}, ${max}]`);
  return v;
}

function bool(env: Record<string, string | undefined>, name: string, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name}=${raw}: must be true or false`);
}

export function parseConfig(env: Record<string, string | undefined>, isTTY: boolean): Readonly<OperatorConfig> {
  const logFormat = env['SPOTSWARM_LOG_FORMAT'] ?? (isTTY ? 'text' : 'json');
  if (logFormat !== 'json' && logFormat !== 'text') throw new ConfigError(`SPOTSWARM_LOG_FORMAT=${logFormat}: must be json or text`);
  const logLevel = env['SPOTSWARM_LOG_LEVEL'] ?? 'info';
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) throw new ConfigError(`SPOTSWARM_LOG_LEVEL=${logLevel}: must be error, warn, info or debug`);
  const leaseDurationMs = int(env, 'SPOTSWARM_LEASE_DURATION_SECONDS', 15, 2, 600) * 1000;
  const renewDeadlineMs = int(env, 'SPOTSWARM_RENEW_DEADLINE_SECONDS', 10, 1, 600) * 1000;
  const retryPeriodMs = int(env, 'SPOTSWARM_RETRY_PERIOD_SECONDS', 2, 1, 600) * 1000;
  if (!(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
    throw new ConfigError('SPOTSWARM_RETRY_PERIOD_SECONDS < SPOTSWARM_RENEW_DEADLINE_SECONDS < SPOTSWARM_LEASE_DURATION_SECONDS must hold');
  }
  const clusterName = env['SPOTSWARM_CLUSTER_NAME'] ?? 'local';
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(clusterName)) throw new ConfigError(`SPOTSWARM_CLUSTER_NAME=${clusterName}: must be a DNS label`);
  const kubeconfig = env['KUBECONFIG'] || undefined;
  const natsAuthSecret = env['SPOTSWARM_NATS_AUTH_SECRET'] || undefined;
  if (natsAuthSecret !== undefined && !/^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(natsAuthSecret)) throw new ConfigError(`SPOTSWARM_NATS_AUTH_SECRET=${natsAuthSecret}: must be a Secret name`);
  return Object.freeze({
    ...(kubeconfig ? { kubeconfig } : {}),
    clusterName,
    leaseNamespace: env['POD_NAMESPACE'] ?? 'spotswarm-system',
    leaseName: env['SPOTSWARM_LEASE_NAME'] ?? 'spotswarm-operator',
    identity: env['POD_NAME'] ?? `${hostname()}-${process.pid}`,
    leaderElect: bool(env, 'SPOTSWARM_LEADER_ELECT', true),
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    metricsPort: int(env, 'SPOTSWARM_METRICS_PORT', 8080, 0, 65535),
    metricsHost: env['SPOTSWARM_METRICS_HOST'] ?? '0.0.0.0',
    concurrency: int(env, 'SPOTSWARM_CONCURRENCY', 16, 1, 256),
    ...(env['SPOTSWARM_NATS_TOKEN'] ? { natsToken: env['SPOTSWARM_NATS_TOKEN'] } : {}),
    ...(natsAuthSecret ? { natsAuthSecret } : {}),
    natsCredentialsTtlSeconds: int(env, 'SPOTSWARM_NATS_CREDENTIALS_TTL_HOURS', 720, 0, 24 * 3650) * 3600,
    logFormat,
    logLevel,
  });
}
