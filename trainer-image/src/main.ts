/**
 * Trainer entrypoint: the only place that reads process.env. Parses and
 * freezes the config, connects to NATS (reconnecting forever), starts the
 * membership-gated libp2p host, joins the swarm, and runs the workload:
 * `train` (the default: LeanALBERT on the collaborative optimizer, on the
 * first TensorFlow.js backend that loads) or `averaging` (a synthetic vector
 * averaged in rounds, for data-plane tests).
 *
 * SIGTERM (preemption): the averager leaves (finishing or handing off its
 * shard, telling the group), the peer deregisters, the host closes, NATS
 * drains, exit 0. Exit 1 on a fatal error, 2 on a bad configuration. A
 * fatal problem the operator should name (NATS unreachable at start, the
 * backend spec.trainer.backend asks for unusable) is also written to the
 * termination message file (termination.ts).
 */
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Env } from '../../api/index.ts';
import { createAverager } from './averaging/index.ts';
import { ConfigError, parseConfig, type TrainerConfig } from './config.ts';
import { createLogger } from './log.ts';
import { serveMetrics } from './metrics-server.ts';
import { relayMain } from './relay/main.ts';
import { errorMessage } from './common/index.ts';
import { connectNats, createSwarmMetrics, NatsUnreachableError, Swarm, type ClaimCapOptions } from './swarm/index.ts';
import { gpuRequirementError, orderFor } from './backend/index.ts';
import { FatalProblem, writeTerminationMessage } from './termination.ts';
import type { TrainWorkloadConfig } from './config.ts';
import { ComputeWorker } from './model/index.ts';
import { AveragingWorkload } from './workload/averaging.ts';
import { applyByzantineFault } from './workload/faults.ts';
import { TrainingWorkload } from './workload/training.ts';
import type { Workload } from './workload/workload.ts';

/** Longest a clean shutdown may take before we give up and exit 1 (Kubernetes' default grace is 30 s). */
const SHUTDOWN_LIMIT_MS = 25_000;

/**
 * The cap on other peers' claimed samples (swarm/throughput.ts), on with
 * robust aggregation only. Without it a Byzantine peer moves the plain mean
 * wherever it likes anyway, so the cap would protect nothing there, while it
 * would still under-count honest peers more than maxSamplesRatio × the median
 * faster (a swarm mixing GPU generations) and change their weights. The floor
 * is one report's worth: a micro-batch, or a second of the synthetic rate
 * (that workload reports every 250 ms).
 */
function claimCap(cfg: TrainerConfig): ClaimCapOptions | undefined {
  const robust = cfg.training.averaging.robust;
  if (robust.method === 'none') return undefined;
  const floorSamples = cfg.workload === 'train' ? cfg.training.data.microBatchSize : Math.max(1, Math.ceil(cfg.synthetic.samplesPerSecond));
  return { maxSamplesRatio: robust.maxSamplesRatio, floorSamples };
}

async function run(cfg: TrainerConfig, log: ReturnType<typeof createLogger>): Promise<number> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let ready = false;
  const metricsServer = cfg.metricsPort !== undefined ? await serveMetrics(cfg.metricsPort, registry, () => ready) : undefined;
  // With port 0 the OS chose it: the log is how a local scraper finds it.
  if (metricsServer) log.info('metrics served', { metricsPort: (metricsServer.address() as AddressInfo).port });

  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });

  log.info('trainer starting', {
    swarm: cfg.swarm.name,
    namespace: cfg.swarm.namespace,
    podIp: cfg.pod.ip,
    natsUrl: cfg.nats.url,
    workload: cfg.workload,
    training: cfg.training,
    vectorElements: cfg.synthetic.vectorElements,
  });
  // The backend first: a forced backend that cannot run here fails before the peer joins anything.
  const compute = cfg.train ? await startCompute(cfg.train, log) : undefined;
  const swarmMetrics = createSwarmMetrics(registry);
  let nc;
  try {
    nc = await connectNats({ url: cfg.nats.url, credentials: cfg.nats.credentials, name: cfg.pod.name, log, metrics: swarmMetrics, firstConnectTimeoutMs: cfg.nats.connectTimeoutMs });
  } catch (e) {
    throw e instanceof NatsUnreachableError ? new FatalProblem('NatsUnreachable', e.message) : e;
  }
  log.info('connected to NATS', { server: nc.getServer() });

  const cap = claimCap(cfg);
  const swarm = await Swarm.join({
    nc,
    swarm: { namespace: cfg.swarm.namespace, name: cfg.swarm.name },
    seed: cfg.swarm.uid ?? `${cfg.swarm.namespace}/${cfg.swarm.name}`,
    pod: cfg.pod.cluster === undefined ? { name: cfg.pod.name, ip: cfg.pod.ip } : { name: cfg.pod.name, ip: cfg.pod.ip, cluster: cfg.pod.cluster },
    p2pPort: cfg.p2pPort,
    ...(cfg.network.announceIp !== undefined ? { announceIp: cfg.network.announceIp } : {}),
    ...(cfg.network.relays !== undefined ? { relays: cfg.network.relays } : {}),
    maxGroupSize: cfg.training.averaging.maxGroupSize,
    replicas: cfg.nats.replicas,
    membershipTtlMs: cfg.membershipTtlMs,
    log,
    metrics: swarmMetrics,
    ...(cap !== undefined ? { claimCap: cap } : {}),
  });
  const train = cfg.train;
  const resultsFault = train?.faults.byzantineResults;
  const averager = createAverager(swarm.host, {
    privateKey: swarm.privateKey,
    logger: log,
    registry,
    ...(resultsFault ? { tamperResult: (v: Float32Array) => applyByzantineFault(resultsFault, v, 0) } : {}),
  });
  if (resultsFault) log.warn('fault injection: this peer tampers with every shard result it reduces', { fault: resultsFault });
  const workload: Workload = train && compute
    ? new TrainingWorkload({ swarm, averager, nc, config: cfg, train, compute, log, registry })
    : new AveragingWorkload({ swarm, averager, config: cfg, log });
  // Starting may wait (for readable data); SIGTERM meanwhile still leaves cleanly.
  const started = await Promise.race([workload.start().then(() => undefined), signalled]);
  ready = started === undefined;

  // A dead compute worker is fatal: leave the swarm cleanly, then exit 1 (the pod restarts).
  const computeFailed = compute ? compute.failed.then(() => 'compute worker failed') : new Promise<string>(() => undefined);
  const why = started ?? await Promise.race([signalled, workload.ended.then((e) => e.reason), computeFailed]);
  if (why === 'compute worker failed') log.error('the compute worker failed; leaving the swarm', { reason: why, epoch: workload.epoch });
  else log.info(why.startsWith('SIG') ? `${why} received, leaving the swarm` : 'done, leaving the swarm', { reason: why, epoch: workload.epoch });
  const watchdog = setTimeout(() => {
    log.error('shutdown took too long; exiting', { limitMs: SHUTDOWN_LIMIT_MS });
    process.exit(1);
  }, SHUTDOWN_LIMIT_MS);
  watchdog.unref();

  await workload.stop();
  await compute?.stop();
  await averager.stop();
  await swarm.leave();
  await nc.drain().catch((e: unknown) => log.warn('NATS drain failed', { error: errorMessage(e) }));
  metricsServer?.close();
  log.info('trainer stopped', { reason: why, epoch: workload.epoch });
  return why === 'compute worker failed' ? 1 : 0;
}

/**
 * The model computes in a worker thread (model/compute.ts): a micro-batch would block NATS and
 * libp2p here. The backend is the user's choice (spec.trainer.backend); gpu without a usable GPU
 * is a FatalProblem naming the field.
 */
async function startCompute(train: TrainWorkloadConfig, log: ReturnType<typeof createLogger>): Promise<ComputeWorker> {
  const order = train.backend === 'auto' ? train.backends : orderFor(train.backend);
  let compute: ComputeWorker;
  try {
    compute = await ComputeWorker.start({ ...(order ? { order } : {}), log });
  } catch (e) {
    if (train.backend === 'auto') throw e;
    throw new FatalProblem('BackendUnavailable', `spec.trainer.backend is ${train.backend}, but it cannot be used here: ${errorMessage(e)}`);
  }
  const b = compute.backend;
  log.info('TensorFlow.js backend', { device: b.device, backend: b.kind, tfBackend: b.tfBackend, simd: b.simd, requested: train.backend, skipped: b.attempts, thread: 'compute worker' });
  const unmet = gpuRequirementError(train.backend, b);
  if (unmet !== undefined) {
    await compute.stop();
    throw new FatalProblem('BackendUnavailable', unmet);
  }
  return compute;
}

function main(): void {
  // The same image runs the circuit relay for peers behind NAT (Relay network mode).
  if (process.env[Env.Workload] === 'relay') {
    relayMain(process.env, hostname());
    return;
  }
  let cfg: TrainerConfig;
  try {
    cfg = parseConfig(process.env, { hostname: hostname() });
  } catch (e) {
    const boot = createLogger({ format: process.env[Env.LogFormat] === 'json' ? 'json' : 'text', level: 'info', meta: {} });
    boot.error('invalid configuration', { error: errorMessage(e), variable: e instanceof ConfigError ? e.variable : undefined });
    process.exitCode = 2;
    return;
  }
  const log = createLogger({ format: cfg.log.format, level: cfg.log.level, meta: { pod: cfg.pod.name } });
  process.on('unhandledRejection', (e) => log.error('unhandled rejection', { error: errorMessage(e) }));
  run(cfg, log).then(
    (code) => process.exit(code),
    (e: unknown) => {
      if (e instanceof FatalProblem) {
        log.error('trainer cannot run', { reason: e.reason, error: e.message });
        writeTerminationMessage(cfg.terminationLog, e, log);
      } else log.error('trainer failed', { error: errorMessage(e), stack: e instanceof Error ? e.stack : undefined });
      process.exit(1);
    },
  );
}

main();
