/**
 * The spotswarm operator: wiring only. Reads its config once, starts the
 * metrics/health server and the caches, waits for the leader Lease, then
 * reconciles TrainingSwarms until SIGTERM.
 */
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { Env } from '../api/index.ts';
import { ConfigError, parseConfig } from './config.ts';
import { startHealthServer } from './health.ts';
import { withSharedConnections } from './kube/connections.ts';
import { eventRecorder } from './kube/events.ts';
import { SwarmController } from './kube/controller.ts';
import { startLeaderElection } from './kube/leader.ts';
import { createLogger } from './log.ts';
import { createMetrics } from './metrics.ts';
import { TelemetryHub } from './telemetry/hub.ts';
import { loadOrCreateAuthBundle, NatsCredentialIssuer } from './natsauth/issuer.ts';

function loadKubeConfig(path: string | undefined, inClusterRoot: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  // Unset, the in-cluster service account is used; the error still names the variable that would change that.
  const value = path ?? '(unset: in-cluster)';
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromCluster(inClusterRoot);
  } catch (err) {
    throw new ConfigError(Env.Kubeconfig, err instanceof Error ? err.message : String(err), value);
  }
  if (!kc.getCurrentCluster()) throw new ConfigError(Env.Kubeconfig, 'no current cluster; set current-context', value);
  return kc;
}

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(process.env, Boolean(process.stderr.isTTY));
  } catch (err) {
    process.stderr.write(`spotswarm-operator: ${(err as Error).message}\n`);
    process.exit(2);
  }
  const log = createLogger({ format: config.logFormat, level: config.logLevel });
  let kc: KubeConfig;
  try {
    kc = loadKubeConfig(config.kubeconfig, config.inClusterRoot);
  } catch (err) {
    log.error((err as Error).message);
    process.exit(2);
  }
  const metrics = createMetrics();
  // API calls reuse connections; watches (the controller's informers) keep the plain config (kube/connections.ts).
  const api = withSharedConnections(kc);
  const core = api.makeApiClient(CoreV1Api);
  // The hub calls back into the controller, which is created right after it.
  let onTelemetry: (key: string) => void = () => {};
  const telemetry = new TelemetryHub({ log, metrics, onTelemetry: (k) => onTelemetry(k), ...(config.natsToken ? { token: config.natsToken } : {}) });
  let natsAuth: NatsCredentialIssuer | undefined;
  if (config.natsAuthSecret) {
    // A transient API error must not crash-loop the operator: try until it works.
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        const bundle = await loadOrCreateAuthBundle(core, config.leaseNamespace, config.natsAuthSecret, log);
        natsAuth = new NatsCredentialIssuer({ bundle, log, registry: metrics.registry, ttlSeconds: config.natsCredentialsTtlSeconds });
        break;
      } catch (err) {
        log.warn('cannot load the NATS auth Secret; retrying', { secret: `${config.leaseNamespace}/${config.natsAuthSecret}`, error: (err as Error).message, retryInMs: delay });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
  const controller = new SwarmController({
    kubeConfig: kc,
    core,
    custom: api.makeApiClient(CustomObjectsApi),
    events: eventRecorder(core, 'spotswarm-operator', log, metrics, config.clusterName),
    metrics,
    log,
    cluster: config.clusterName,
    secretsNamespace: config.leaseNamespace,
    concurrency: config.concurrency,
    telemetry,
    ...(config.defaultTrainerImage ? { defaultTrainerImage: config.defaultTrainerImage } : {}),
    ...(natsAuth ? { natsAuth } : {}),
    ...(config.defaultNatsUrl ? { defaultNatsUrl: config.defaultNatsUrl } : {}),
    ...(config.natsStoreBytes ? { natsStoreBytes: config.natsStoreBytes } : {}),
    ...(config.trainerMetricsPort !== undefined ? { trainerMetricsPort: config.trainerMetricsPort } : {}),
  });
  onTelemetry = (k) => controller.telemetryChanged(k);
  let synced = false;
  const health = await startHealthServer({ host: config.metricsHost, port: config.metricsPort, registry: metrics.registry, ready: () => synced });
  log.info('operator starting', { identity: config.identity, cluster: config.clusterName, server: kc.getCurrentCluster()?.server, metricsPort: health.port });

  const elector = config.leaderElect
    ? startLeaderElection({
      api: api.makeApiClient(CoordinationV1Api), namespace: config.leaseNamespace, name: config.leaseName, identity: config.identity,
      leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs, log,
    })
    : undefined;

  let stopping = false;
  const shutdown = async (why: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('operator stopping', { why });
    await controller.stop();
    await telemetry.stop();
    await natsAuth?.stop();
    await elector?.stop();
    metrics.leader.set(0);
    await health.close();
    process.exit(code);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM', 0));
  process.once('SIGINT', () => void shutdown('SIGINT', 0));

  await controller.startCaches();
  synced = true;
  if (elector) {
    log.info('waiting for the leader lease', { lease: `${config.leaseNamespace}/${config.leaseName}` });
    await elector.acquired;
    // Like controller-runtime: a replica that loses the lease exits, and restarts as a follower.
    void elector.lost.then(() => shutdown('lost leadership', 1));
  }
  metrics.leader.set(1);
  controller.activate();
  log.info('reconciling TrainingSwarms');
}

main().catch((err: unknown) => {
  process.stderr.write(`spotswarm-operator: fatal: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
