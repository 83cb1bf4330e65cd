/**
 * Benchmark: how fast a joining peer downloads the swarm's state from donors
 * that are training, against donors that are not.
 *
 *   npm run bench:state
 *
 * With a real nats-server and real trainer processes (the training workload
 * on wasm, the `base` preset at a short sequence so that one micro-batch
 * takes about 1–2 s here), it measures in the same run:
 *   - busy: two trainers train; once both stepped past epoch 0, a third
 *     trainer starts and downloads state(e) from them while they compute.
 *     The donors' micro-batches during the download are counted from their
 *     membership records (every micro-batch is published), so the run shows
 *     they were computing;
 *   - idle: the same download (same model, optimizer, fingerprint, so a blob
 *     of the same size) by a real trainer process from two donors that do
 *     not compute: swarm members run in this process with the trainer's own
 *     Swarm and StateServer, serving a snapshot of the same layout;
 *   - idle with CPU hogs: the same, while two busy-loop processes take as
 *     much CPU as the two computing donors do. On a machine with few cores
 *     this separates CPU contention (which no threading removes) from a
 *     blocked event loop.
 * Two figures per joiner, from its own log: the download (`state loaded
 * from peers`: ms, bytes, chunks), and the time to state: from `joined
 * swarm` (set up, registered, ready to sync) to `state loaded from peers`,
 * which includes asking the donors for their META (a donor whose event loop
 * is blocked may not answer in time; the joiner then waits and asks again).
 * The ratios busy/idle are what computing on the donors' event loop costs a
 * joiner (1 = nothing).
 * The last line of output is one JSON object.
 *
 * Environment (all optional):
 *   BENCH_SIZE=base  BENCH_SEQ=16  BENCH_MICRO=2  BENCH_TARGET=48 (an epoch is long enough that the donors compute through the joiner's sync)
 *   BENCH_VERBOSE=1 (the joiner's and donors' log lines around the sync, and the donors' micro-batches)
 */
import { spawn } from 'node:child_process';
import { Buckets, Env, type ModelPreset } from '../api/index.ts';
import { startNats, type NatsServer, Fleet, type LogLine, NODE_BIN, type Trainer } from '../testkit/harness/index.ts';
import { loadBackend } from '../trainer-image/src/backend/index.ts';
import { createTokenizer } from '../trainer-image/src/data/index.ts';
import { createModel, modelConfig } from '../trainer-image/src/model/index.ts';
import { CollaborativeOptimizer, segmentsOf } from '../trainer-image/src/optim/index.ts';
import { createStateMetrics, encodeState, makeSnapshot, type Snapshot, StateServer, stateFingerprint } from '../trainer-image/src/state/index.ts';
import { connectNats, createSwarmMetrics, Membership, silentLogger, Swarm } from '../trainer-image/src/swarm/index.ts';
import { parseTrainingSpec } from '../trainer-image/src/training-spec.ts';
import { Registry } from 'prom-client';

const env = process.env;
const SIZE = (env['BENCH_SIZE'] ?? 'base') as ModelPreset;
const SEQ = Number(env['BENCH_SEQ'] ?? 16);
const MICRO = Number(env['BENCH_MICRO'] ?? 2);
const TARGET = Number(env['BENCH_TARGET'] ?? 48);
const DATA = 'generated:tiny-corpus';
/** As the trainer: the vocabulary is trained on this many lines. */
const TOKENIZER_TRAIN_LINES = 5_000;

const training = {
  model: { size: SIZE, seqLength: SEQ },
  data: { urls: [DATA], microBatchSize: MICRO },
  optimizer: { name: 'lamb', learningRate: 0.001 },
  targetBatchSize: TARGET,
  averaging: { mode: 'gradient', maxGroupSize: 4, timeoutSeconds: 60 },
  checkpointEvery: 1000,
};
const trainerEnv = { [Env.Workload]: 'train', [Env.Backends]: 'wasm' };

const round2 = (x: number): number => Math.round(x * 100) / 100;
const at = (l: LogLine): number => Date.parse(l['timestamp'] as string);

interface Download {
  /** The download proper (the joiner's `ms`). */
  ms: number;
  /** From `joined swarm` to `state loaded from peers`. */
  syncMs: number;
  /** META rounds that found no usable donor before the download (the joiner's `waiting for a donor` lines). */
  waits: number;
  bytes: number;
  chunks: number;
  epoch: number;
  donors: number;
  /** When the joiner logged it (ms since the epoch). */
  endedAt: number;
}

function downloadOf(joiner: Trainer, l: LogLine): Download {
  const donors = l['donors'];
  const joined = joiner.find('joined swarm')[0];
  if (!joined) throw new Error('the joiner did not log joined swarm');
  return {
    ms: l['ms'] as number,
    syncMs: at(l) - at(joined),
    waits: joiner.find('waiting for a donor with the state of this epoch').length,
    bytes: l['bytes'] as number,
    chunks: l['chunks'] as number,
    epoch: l['epoch'] as number,
    donors: Array.isArray(donors) ? donors.length : Number(donors),
    endedAt: at(l),
  };
}

function mibps(d: Download): number {
  return round2(d.bytes / (1 << 20) / (d.ms / 1000));
}

async function joinerDownload(fleet: Fleet, nats: NatsServer, swarm: string): Promise<{ joiner: Trainer; download: Download }> {
  const joiner = fleet.spawn({ name: `${swarm}-joiner`, natsUrl: nats.url, swarm: { namespace: 'bench', name: swarm, uid: 'bench' }, training, env: trainerEnv });
  const line = await joiner.waitFor('state loaded from peers');
  return { joiner, download: downloadOf(joiner, line) };
}

// ---------------------------------------------------------------- idle donors (baseline)

/** The state a trainer of this spec holds: same model, optimizer and fingerprint as the joiner expects. */
async function idleSnapshot(): Promise<Snapshot> {
  const t = parseTrainingSpec(JSON.stringify(training), { dataRequired: true });
  await loadBackend({ order: ['wasm'] });
  const tokenizer = await createTokenizer(t.data, { trainLines: TOKENIZER_TRAIN_LINES });
  const mc = modelConfig(t.model.size, { vocabSize: tokenizer.vocabSize, maxSeqLength: t.model.seqLength });
  const model = createModel(mc, { seed: 'bench/model' });
  const opt = new CollaborativeOptimizer({ segments: segmentsOf(model.params), params: await model.getFlat(), mode: t.averaging.mode, optimizer: { ...t.optimizer } });
  model.dispose();
  const EPOCH = 1;
  opt.relabel(EPOCH);
  const fingerprint = stateFingerprint({ v: 1, model: mc, tokenizer: tokenizer.hash, mode: t.averaging.mode });
  return makeSnapshot(encodeState(opt.shared(), fingerprint), { epoch: EPOCH, mode: t.averaging.mode, fingerprint });
}

/**
 * Busy-loop processes: the CPU the computing donors take from the rest of this machine, without
 * blocking anyone's event loop. With as many as there are computing donors, the idle download
 * shows what CPU contention alone costs (this box has few cores).
 */
function cpuHogs(n: number): { stop(): Promise<void> } {
  const hogs = Array.from({ length: n }, () => spawn(NODE_BIN, ['-e', 'for (;;);'], { stdio: 'ignore' }));
  return {
    async stop() {
      await Promise.all(hogs.map((h) => new Promise((r) => {
        if (h.exitCode !== null || h.signalCode !== null) return r(undefined);
        h.once('exit', r);
        h.kill('SIGKILL');
      })));
    },
  };
}

async function idle(nats: NatsServer, snap: Snapshot, hogCount: number): Promise<Download> {
  const name = `state-idle-${Date.now()}`;
  const ref = { namespace: 'bench', name };
  const EPOCH = snap.epoch;
  const registry = new Registry();
  const nc = await connectNats({ url: nats.url, name: 'bench-idle-donors', log: silentLogger, metrics: createSwarmMetrics(registry) });
  const donors: { swarm: Swarm; server: StateServer }[] = [];
  const fleet = new Fleet();
  const hogs = cpuHogs(hogCount);
  try {
    for (let i = 0; i < 2; i++) {
      const swarm = await Swarm.join({
        nc, swarm: ref, seed: 'bench', pod: { name: `${name}-donor-${i}`, ip: '127.0.0.1' }, p2pPort: 0, maxGroupSize: 4,
        log: silentLogger, metrics: createSwarmMetrics(new Registry()),
      });
      const server = new StateServer(swarm.host, { snapshot: () => snap, workloadEpoch: () => EPOCH, log: silentLogger, metrics: createStateMetrics(new Registry()) });
      await server.start();
      swarm.setLocal({ epoch: EPOCH, samples: 0, samplesPerSecond: 0 });
      await swarm.register();
      donors.push({ swarm, server });
    }
    const { download } = await joinerDownload(fleet, nats, name);
    if (download.bytes !== snap.blob.byteLength) throw new Error(`idle: the joiner downloaded ${download.bytes} bytes, the donors serve ${snap.blob.byteLength}`);
    console.log(`idle donors${hogCount > 0 ? ` with ${hogCount} CPU hogs` : ''}: ${download.bytes} bytes in ${download.chunks} chunks from ${download.donors} donors in ${download.ms} ms (${mibps(download)} MiB/s); time to state ${download.syncMs} ms`);
    return download;
  } finally {
    await hogs.stop();
    await fleet.stopAll();
    for (const d of donors) {
      await d.server.stop();
      await d.swarm.leave();
    }
    await nc.drain().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- computing donors

interface Busy extends Download {
  /** Micro-batches the donors published while the joiner synced (their samples grew). */
  donorMicroBatches: number;
  /** The same during the download proper. */
  donorMicroBatchesInDownload: number;
  /** Global steps the donors took while the joiner synced. */
  donorSteps: number;
}

async function busy(nats: NatsServer): Promise<Busy> {
  const name = `state-busy-${Date.now()}`;
  const ref = { namespace: 'bench', name };
  const fleet = new Fleet();
  const registry = new Registry();
  const metrics = createSwarmMetrics(registry);
  const nc = await connectNats({ url: nats.url, name: 'bench-busy-watch', log: silentLogger, metrics });
  // Every micro-batch a donor computes is published (samples grow): record them as they arrive.
  const growth: { t: number; peer: string }[] = [];
  const last = new Map<string, { epoch: number; samples: number }>();
  const membership = await Membership.open(nc, { bucket: Buckets.membership(ref), log: silentLogger, metrics });
  membership.onChange((peer, r) => {
    if (!r) return;
    const prev = last.get(peer);
    if (prev && (r.epoch > prev.epoch ? r.samples > 0 : r.samples > prev.samples)) growth.push({ t: Date.now(), peer });
    last.set(peer, { epoch: r.epoch, samples: r.samples });
  });
  try {
    const donors = [0, 1].map((i) => fleet.spawn({ name: `${name}-donor-${i}`, natsUrl: nats.url, swarm: { ...ref, uid: 'bench' }, training, env: trainerEnv }));
    await Promise.all(donors.map((d) => d.waitFor('epoch finished', (l) => l['via'] === 'step' && (l['epoch'] as number) >= 1)));
    const { joiner, download } = await joinerDownload(fleet, nats, name);
    const from = download.endedAt - download.syncMs;
    const inWindow = (t: number, a: number, b: number): boolean => t >= a && t <= b;
    const donorPeers = new Set(growth.map((g) => g.peer));
    const joinerPeer = joiner.find('joined swarm')[0]?.['peerId'];
    if (typeof joinerPeer === 'string') donorPeers.delete(joinerPeer);
    const mb = (a: number, b: number): number => growth.filter((g) => donorPeers.has(g.peer) && inWindow(g.t, a, b)).length;
    const steps = donors.flatMap((d) => d.find('epoch finished', (l) => l['via'] === 'step' && inWindow(at(l), from, download.endedAt))).length;
    const r: Busy = { ...download, donorMicroBatches: mb(from, download.endedAt), donorMicroBatchesInDownload: mb(download.endedAt - download.ms, download.endedAt), donorSteps: steps };
    if (env['BENCH_VERBOSE'] === '1') {
      const show = (who: string, l: LogLine): void => console.log(`  ${at(l) - from} ms ${who}: ${l.message} ${JSON.stringify({ epoch: l['epoch'], samples: l['samples'], ms: l['ms'], via: l['via'] })}`);
      for (const [i, d] of donors.entries()) for (const l of d.lines) if (at(l) >= from - 15_000 && at(l) <= download.endedAt + 2000) show(`donor${i}`, l);
      for (const l of joiner.lines) if (l.message.startsWith('waiting') || l.level !== 'info') console.log('  joiner', JSON.stringify(l)); else show('joiner', l);
      for (const g of growth) if (g.t >= from - 15_000 && g.t <= download.endedAt + 2000) console.log(`  ${g.t - from} ms micro-batch of ${g.peer.slice(-6)}`);
    }
    console.log(`computing donors: ${r.bytes} bytes in ${r.chunks} chunks from ${r.donors} donors in ${r.ms} ms (${mibps(r)} MiB/s); time to state ${r.syncMs} ms (${r.waits} META rounds without a usable donor), while the donors computed ${r.donorMicroBatches} micro-batches (${r.donorMicroBatchesInDownload} during the download proper) and took ${r.donorSteps} steps`);
    return r;
  } finally {
    await fleet.stopAll();
    membership.close();
    await nc.drain().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- main

const t0 = Date.now();
const nats = await startNats();
let base: Download;
let contended: Download;
let computing: Busy;
try {
  const snap = await idleSnapshot();
  base = await idle(nats, snap, 0);
  contended = await idle(nats, snap, 2);
  computing = await busy(nats);
} finally {
  await nats.stop();
}
if (computing.bytes !== base.bytes) console.log(`warning: the two downloads differ in size (${computing.bytes} vs ${base.bytes} bytes)`);
const ratio = round2(computing.ms / base.ms);
const syncRatio = round2(computing.syncMs / base.syncMs);
const syncOverContended = round2(computing.syncMs / contended.syncMs);
console.log(`computing/idle donors: time to state ${syncRatio}x (${computing.syncMs} ms against ${base.syncMs} ms), download ${ratio}x (${computing.ms} ms against ${base.ms} ms); time to state against idle donors on a machine as loaded (2 CPU hogs): ${syncOverContended}x (${contended.syncMs} ms); bench took ${Math.round((Date.now() - t0) / 1000)} s`);
console.log(JSON.stringify({
  bench: 'state-while-computing',
  model: SIZE, seqLength: SEQ, microBatch: MICRO, targetBatchSize: TARGET,
  bytes: base.bytes, chunks: base.chunks,
  idle: { syncMs: base.syncMs, ms: base.ms, mibPerSecond: mibps(base), donors: base.donors, waits: base.waits },
  computing: { syncMs: computing.syncMs, ms: computing.ms, mibPerSecond: mibps(computing), donors: computing.donors, waits: computing.waits, donorMicroBatches: computing.donorMicroBatches, donorMicroBatchesInDownload: computing.donorMicroBatchesInDownload, donorSteps: computing.donorSteps },
  idleWithCpuHogs: { syncMs: contended.syncMs, ms: contended.ms, mibPerSecond: mibps(contended), donors: contended.donors, waits: contended.waits },
  syncComputingOverIdle: syncRatio,
  syncComputingOverIdleWithCpuHogs: syncOverContended,
  downloadComputingOverIdle: ratio,
}));
process.exit(0);
