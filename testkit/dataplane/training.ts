/**
 * Shared setup of the training integration tests: one real nats-server per
 * test file, real trainer processes running the training workload on the
 * tiny LeanALBERT and the generated corpus, and readers for what the
 * trainers log (epochs with their parameter checksums, rounds, evaluations).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Env, parseTelemetry, Subjects, type TelemetryReport } from '../../api/index.ts';
import { dataplaneSuite, type DataplaneSuite } from './dataplane.ts';
import type { LogLine, Trainer } from '../harness/index.ts';

/** The training tests' setup is the data plane's: one nats-server per file, trainers stopped after each test. */
export type TrainingSuite = DataplaneSuite;
export const trainingSuite = dataplaneSuite;

/**
 * spec.training of the tests: the tiny preset at sequence length 32, micro-batches
 * of 8, a global batch of 32 (a few micro-batches per peer per epoch on 2 cores).
 */
export function tinyTraining(over: { optimizer?: Record<string, unknown>; averaging?: Record<string, unknown>; targetBatchSize?: number; checkpointEvery?: number } = {}): Record<string, unknown> & { targetBatchSize: number } {
  return {
    model: { size: 'tiny', seqLength: 32 },
    data: { urls: ['generated:tiny-corpus'], microBatchSize: 8 },
    optimizer: { name: 'lamb', learningRate: 0.02, ...over.optimizer },
    targetBatchSize: over.targetBatchSize ?? 32,
    averaging: { maxGroupSize: 4, timeoutSeconds: 30, ...over.averaging },
    checkpointEvery: over.checkpointEvery ?? 5,
  };
}

export interface PeerOpts {
  /** uid seeds the initial parameters (default: namespace/name). */
  swarm: { namespace: string; name: string; uid?: string };
  training: Record<string, unknown> & { targetBatchSize: number };
  stopAfterEpochs?: number;
  evalBatches?: number;
  nanGradientEpochs?: number[];
  /** SPOTSWARM_FAULT_BYZANTINE: scale:<factor>, random:<std> or nan, on every gradient sent. */
  byzantine?: string;
  /** SPOTSWARM_FAULT_BYZANTINE_RESULTS: the same, on every shard result it reduces. */
  byzantineResults?: string;
  metricsPort?: number;
  membershipTtlSeconds?: number;
}

export function spawnPeer(suite: TrainingSuite, name: string, o: PeerOpts): Trainer {
  const env: Record<string, string> = { [Env.Workload]: 'train', [Env.Backends]: 'wasm' };
  if (o.stopAfterEpochs !== undefined) env[Env.StopAfterEpochs] = String(o.stopAfterEpochs);
  if (o.evalBatches !== undefined) env[Env.EvalBatches] = String(o.evalBatches);
  if (o.nanGradientEpochs !== undefined) env[Env.FaultNanGradientEpochs] = o.nanGradientEpochs.join(',');
  if (o.byzantine !== undefined) env[Env.FaultByzantine] = o.byzantine;
  if (o.byzantineResults !== undefined) env[Env.FaultByzantineResults] = o.byzantineResults;
  if (o.metricsPort !== undefined) env[Env.MetricsPort] = String(o.metricsPort);
  if (o.membershipTtlSeconds !== undefined) env[Env.MembershipTtlSeconds] = String(o.membershipTtlSeconds);
  return suite.fleet.spawn({ name, natsUrl: suite.nats().url, swarm: o.swarm, training: o.training, env });
}

export interface EpochLine {
  epoch: number;
  checksum: string;
  via: string;
  loss: number | undefined;
}

/** `epoch finished` lines of a trainer, in order. */
export function epochsOf(t: Trainer): EpochLine[] {
  return t.find('epoch finished').map((l) => ({ epoch: l['epoch'] as number, checksum: l['checksum'] as string, via: l['via'] as string, loss: l['loss'] as number | undefined }));
}

/** `round finished` lines of a trainer. */
export function roundsOf(t: Trainer): LogLine[] {
  return t.find('round finished');
}

/** Held-out losses by epoch (SPOTSWARM_EVAL_BATCHES > 0). */
export function evalsOf(t: Trainer): Map<number, number> {
  return new Map(t.find('evaluated').map((l) => [l['epoch'] as number, l['evalLoss'] as number]));
}

/** Waits until the trainer logged `epoch finished` at `epoch` or later. */
export function reachEpoch(t: Trainer, epoch: number): Promise<LogLine> {
  return t.waitFor('epoch finished', (l) => (l['epoch'] as number) >= epoch);
}

/** Collects the telemetry reports of a swarm (as the operator would see them) until close(). */
export async function watchTelemetry(suite: TrainingSuite, swarm: { namespace: string; name: string }): Promise<{ reports: TelemetryReport[]; bad: string[]; close(): Promise<void> }> {
  const nc: NatsConnection = await connect({ servers: suite.nats().url });
  const reports: TelemetryReport[] = [];
  const bad: string[] = [];
  const sub = nc.subscribe(Subjects.telemetry(swarm));
  void (async () => {
    for await (const m of sub) {
      const r = parseTelemetry(m.data);
      if (r.ok) reports.push(r.report);
      else bad.push(r.error);
    }
  })();
  return { reports, bad, close: () => nc.close() };
}
