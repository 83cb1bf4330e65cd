/**
 * One training run of the project: real trainer processes (the training
 * workload on wasm) against a real nats-server, talking libp2p to each
 * other, on the bench's corpus files. The run's curve comes from its
 * checkpoints: each is fetched from the swarm's NATS object store as soon
 * as a trainer logs it (before the writer prunes it), so the bench
 * evaluates exactly the global parameters of that epoch.
 */
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { Buckets, Env } from '../../api/index.ts';
import { Fleet, type LogLine, type NatsServer, type Trainer } from '../../testkit/harness/index.ts';
import { decodeState } from '../../trainer-image/src/state/index.ts';

export interface SwarmRunOptions {
  nats: NatsServer;
  name: string;
  uid: string;
  peers: number;
  training: Record<string, unknown> & { targetBatchSize: number };
  stopAfterEpochs: number;
  /** Epochs whose checkpoints to fetch (the spec's checkpointEvery must hit them). */
  checkpointEpochs: readonly number[];
  log: (line: string) => void;
}

export interface SwarmRunResult {
  checkpoints: { epoch: number; params: Float32Array }[];
  /** Samples in the step of each epoch (the sum of the round's weights), by epoch. */
  stepSamples: Map<number, number>;
  /** The mean loss over its micro-batches that peer 0 logged with each epoch's step (key: the epoch reached). */
  epochLosses: Map<number, number>;
  /** Peer ids, in spawn order. */
  peerIds: string[];
  /** peer 0's `model ready` line (tokenizer hash, parameters). */
  ready: LogLine;
  /** Checksum peer 0 logged for state(0). */
  initialChecksum: string | undefined;
  seconds: number;
}

const ready = (t: Trainer): Promise<LogLine> => t.waitFor('model ready');

export async function runSwarm(o: SwarmRunOptions): Promise<SwarmRunResult> {
  const fleet = new Fleet();
  const nc = await connect({ servers: o.nats.url });
  const t0 = performance.now();
  try {
    const ts = Array.from({ length: o.peers }, (_, i) => fleet.spawn({
      name: `${o.name}-${i}`,
      natsUrl: o.nats.url,
      swarm: { namespace: 'bench', name: o.name, uid: o.uid },
      training: o.training,
      env: { [Env.Workload]: 'train', [Env.Backends]: 'wasm', [Env.StopAfterEpochs]: String(o.stopAfterEpochs), [Env.EvalBatches]: '0' },
    }));
    const checkpoints: { epoch: number; params: Float32Array }[] = [];
    const fetches = o.checkpointEpochs.map(async (epoch) => {
      const line = await Promise.any(ts.map((t) => t.waitFor('checkpoint written', (l) => l['epoch'] === epoch)));
      // The trainers create the bucket; it exists once one logged a checkpoint.
      const os = await new Objm(nc).open(Buckets.checkpoints({ namespace: 'bench', name: o.name }));
      const blob = await os.getBlob(line['checkpoint'] as string);
      if (blob === null) throw new Error(`checkpoint ${String(line['checkpoint'])} is gone before the bench read it`);
      checkpoints.push({ epoch, params: decodeState(blob).state.params });
      o.log(`  ${o.name}: checkpoint of epoch ${epoch} read`);
    });
    for (const f of fetches) f.catch(() => {}); // awaited below, after the exits (a failed run reports its trainers first)
    const exits = await Promise.all(ts.map((t) => t.exited));
    if (exits.some((e) => e.code !== 0)) throw new Error(`a trainer of ${o.name} failed: ${JSON.stringify(exits)}\n${ts.map((t) => t.stderr.slice(-800)).join('\n')}`);
    await Promise.all(fetches);
    const stepSamples = new Map<number, number>();
    for (const t of ts) {
      for (const l of t.find('round finished')) {
        if (l['applied'] !== true) continue;
        const sum = (l['weights'] as number[] | undefined)?.reduce((a, b) => a + b, 0) ?? (l['samples'] as number);
        stepSamples.set(l['epoch'] as number, Math.max(stepSamples.get(l['epoch'] as number) ?? 0, sum));
      }
    }
    const epochLosses = new Map<number, number>();
    for (const l of ts[0]!.find('epoch finished')) if (l['via'] === 'step' && typeof l['loss'] === 'number') epochLosses.set(l['epoch'] as number, l['loss']);
    const peerIds = (await Promise.all(ts.map((t) => t.waitFor('joined swarm')))).map((l) => l['peerId'] as string);
    const initial = ts[0]!.find('epoch finished').find((l) => l['epoch'] === 0);
    return {
      checkpoints: checkpoints.sort((a, b) => a.epoch - b.epoch),
      stepSamples,
      epochLosses,
      peerIds,
      ready: await ready(ts[0]!),
      initialChecksum: initial?.['checksum'] as string | undefined,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await fleet.stopAll();
    await nc.close();
  }
}
