/**
 * Benchmark: training throughput and traffic of the tiny LeanALBERT.
 *
 *   npm run bench:training
 *
 * Measures in the same run:
 *   - one peer's samples/s (forward + backward + accumulate of one
 *     micro-batch) on every TensorFlow.js backend that loads here, in this
 *     process (tfjs-node-gpu and tfjs-node are tried too and reported as
 *     skipped when they do not load);
 *   - the swarm's samples/s with 1, 2 and 3 real trainer processes (a real
 *     nats-server, the training workload on wasm): samples averaged over
 *     the measured epochs / wall time between their first and last step;
 *   - the share of the samples the peers computed that the steps weighted
 *     (a peer's samples count with the weight the round's leader saw, 0 if
 *     it saw none yet): the cost of peers not seeing each other's progress;
 *   - all-reduce bytes sent per epoch and per averaged sample, in gradient
 *     mode and in DiLoCo mode, and the ratio.
 * All peers share this machine's cores, so swarm samples/s shows the cost of
 * the protocol on one box, not the speed-up of real GPUs.
 * The last line of output is one JSON object.
 *
 * Environment (all optional):
 *   BENCH_PEERS=1,2,3  BENCH_EPOCHS=10  BENCH_WARMUP_EPOCHS=2  BENCH_INNER_STEPS=8
 *   BENCH_BACKEND_STEPS=8 (micro-batches timed per backend; cpu takes a quarter)
 */
import { Env } from '../api/index.ts';
import { startNats, type NatsServer, Fleet, type LogLine, type Trainer } from '../testkit/harness/index.ts';
import { DEFAULT_BACKEND_ORDER, loadBackend, type BackendKind } from '../trainer-image/src/backend/index.ts';
import { createDataset, createTokenizer, mlmBatches } from '../trainer-image/src/data/index.ts';
import { createModel, modelConfig } from '../trainer-image/src/model/index.ts';
import { CollaborativeOptimizer, segmentsOf } from '../trainer-image/src/optim/index.ts';

const env = process.env;
const list = (v: string | undefined, d: string): number[] => (v ?? d).split(',').map((s) => Number(s.trim())).filter((n) => Number.isFinite(n) && n > 0);
const PEERS = list(env['BENCH_PEERS'], '1,2,3');
const EPOCHS = Number(env['BENCH_EPOCHS'] ?? 10);
const WARMUP = Number(env['BENCH_WARMUP_EPOCHS'] ?? 2);
const INNER_STEPS = Number(env['BENCH_INNER_STEPS'] ?? 8);
const BACKEND_STEPS = Number(env['BENCH_BACKEND_STEPS'] ?? 8);

const SEQ = 32;
const MICRO = 8;
const TARGET = 32;
const training = (mode: 'gradient' | 'diloco') => ({
  model: { size: 'tiny', seqLength: SEQ },
  data: { urls: ['generated:tiny-corpus'], microBatchSize: MICRO },
  optimizer: { name: mode === 'diloco' ? 'adam' : 'lamb', learningRate: mode === 'diloco' ? 0.003 : 0.02 },
  targetBatchSize: TARGET,
  averaging: mode === 'diloco' ? { mode, innerSteps: INNER_STEPS, maxGroupSize: 4, timeoutSeconds: 60 } : { mode, maxGroupSize: 4, timeoutSeconds: 60 },
  checkpointEvery: 1000,
});

const round2 = (x: number): number => Math.round(x * 100) / 100;

// ---------------------------------------------------------------- one peer, per backend

interface BackendResult { backend: BackendKind; samplesPerSecond?: number; msPerMicroBatch?: number; skipped?: string }

async function benchBackends(): Promise<BackendResult[]> {
  const tokenizer = await createTokenizer({ urls: ['generated:tiny-corpus'] }, { trainLines: 5000 });
  const out: BackendResult[] = [];
  for (const kind of DEFAULT_BACKEND_ORDER) {
    let choice;
    try {
      choice = await loadBackend({ order: [kind] });
    } catch (e) {
      out.push({ backend: kind, skipped: (e as Error).message.split(': ').slice(-1)[0]!.slice(0, 120) });
      console.log(`backend ${kind}: skipped (does not load here)`);
      continue;
    }
    const model = createModel(modelConfig('tiny', { vocabSize: tokenizer.vocabSize, maxSeqLength: SEQ }), { seed: 'bench' });
    const opt = new CollaborativeOptimizer({ segments: segmentsOf(model.params), params: await model.getFlat(), mode: 'gradient', optimizer: { name: 'lamb', learningRate: 0.01, warmupEpochs: 0, weightDecay: 0.01 } });
    const batches = mlmBatches(createDataset({ urls: ['generated:tiny-corpus'], seed: 'bench' }, { index: 0, count: 1 }), tokenizer, { seqLength: SEQ, batchSize: MICRO, seed: 'bench' })[Symbol.asyncIterator]();
    const steps = kind === 'cpu' ? Math.max(1, Math.floor(BACKEND_STEPS / 4)) : BACKEND_STEPS;
    const one = async (): Promise<void> => {
      const b = (await batches.next()).value!;
      const r = await model.lossAndGradients(b);
      opt.accumulate(r.grads, b.batchSize);
    };
    await one(); // warm-up: kernels, wasm compilation
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await one();
    const ms = (performance.now() - t0) / steps;
    model.dispose();
    out.push({ backend: choice.kind, samplesPerSecond: round2((MICRO * 1000) / ms), msPerMicroBatch: Math.round(ms) });
    console.log(`backend ${choice.kind}: ${round2((MICRO * 1000) / ms)} samples/s (${Math.round(ms)} ms per micro-batch of ${MICRO}×${SEQ} tokens, ${steps} timed)`);
  }
  return out;
}

// ---------------------------------------------------------------- swarms of trainer processes

function find(t: Trainer, message: string): LogLine[] {
  return t.find(message);
}

const at = (l: LogLine): number => Date.parse(l['timestamp'] as string);

interface SwarmRun {
  peers: number;
  mode: 'gradient' | 'diloco';
  samplesPerSecond: number;
  samples: number;
  /** Samples the peers computed for the measured steps (each peer's own count at its step). */
  computed: number;
  seconds: number;
  epochs: number;
  bytesPerEpoch: number;
  bytesPerSample: number;
}

async function runSwarm(nats: NatsServer, peers: number, mode: 'gradient' | 'diloco', epochs: number, warmup: number): Promise<SwarmRun> {
  const fleet = new Fleet();
  const name = `bench-${mode}-${peers}-${Date.now()}`;
  const stop = warmup + epochs;
  try {
    const ts = Array.from({ length: peers }, (_, i) =>
      fleet.spawn({
        name: `${name}-${i}`,
        natsUrl: nats.url,
        swarm: { namespace: 'bench', name, uid: 'bench' },
        training: training(mode),
        env: { [Env.Workload]: 'train', [Env.Backends]: 'wasm', [Env.StopAfterEpochs]: String(stop) },
      }),
    );
    const exits = await Promise.all(ts.map((t) => t.exited));
    if (exits.some((e) => e.code !== 0)) throw new Error(`a trainer failed: ${JSON.stringify(exits)}\n${ts.map((t) => t.stderr.slice(-500)).join('\n')}`);
    // Peer 0's view: steps of epochs [warmup, stop), from the step that reached `warmup` to the one that reached `stop`.
    const ep = find(ts[0]!, 'epoch finished').filter((l) => l['via'] === 'step');
    const start = ep.find((l) => l['epoch'] === warmup);
    const end = ep.find((l) => l['epoch'] === stop);
    if (!start || !end) throw new Error(`peer 0 did not step through epochs ${warmup}..${stop}`);
    const measured = find(ts[0]!, 'round finished').filter((l) => (l['epoch'] as number) >= warmup && (l['epoch'] as number) < stop && l['applied'] === true);
    const samples = measured.reduce((a, l) => a + (l['weights'] as number[]).reduce((x, y) => x + y, 0), 0);
    const computed = ts.flatMap((t) => find(t, 'round finished')).filter((l) => (l['epoch'] as number) >= warmup && (l['epoch'] as number) < stop && l['applied'] === true).reduce((a, l) => a + (l['samples'] as number), 0);
    const seconds = (at(end) - at(start)) / 1000;
    // Bytes: every peer's all-reduce traffic of the measured epochs.
    const bytes = ts.flatMap((t) => find(t, 'round finished')).filter((l) => (l['epoch'] as number) >= warmup && (l['epoch'] as number) < stop).reduce((a, l) => a + (l['bytesSent'] as number), 0);
    const r: SwarmRun = {
      peers, mode, samples, computed, seconds: round2(seconds), epochs, samplesPerSecond: round2(samples / seconds),
      bytesPerEpoch: Math.round(bytes / epochs), bytesPerSample: round2(bytes / Math.max(1, samples)),
    };
    console.log(`swarm ${mode} ×${peers}: ${r.samplesPerSecond} samples/s (${samples} samples averaged in ${r.seconds} s over ${epochs} epochs; ${computed} computed, ${round2(samples / Math.max(1, computed))} weighted), ${r.bytesPerEpoch} bytes sent per epoch, ${r.bytesPerSample} per sample`);
    return r;
  } finally {
    await fleet.stopAll();
  }
}

// ---------------------------------------------------------------- main

const backends = await benchBackends();
const nats = await startNats();
const swarms: SwarmRun[] = [];
let diloco: SwarmRun;
try {
  for (const p of PEERS) swarms.push(await runSwarm(nats, p, 'gradient', EPOCHS, WARMUP));
  // DiLoCo: one outer epoch covers INNER_STEPS global batches; measure 2 outer epochs after 1 of warm-up.
  diloco = await runSwarm(nats, Math.max(...PEERS), 'diloco', 2, 1);
} finally {
  await nats.stop();
}
const bs = (k: BackendKind): number | undefined => backends.find((b) => b.backend === k)?.samplesPerSecond;
const one = swarms.find((s) => s.peers === 1);
const gradientMax = swarms.find((s) => s.peers === diloco.peers)!;
const result = {
  bench: 'training',
  model: 'tiny',
  seqLength: SEQ,
  microBatch: MICRO,
  targetBatchSize: TARGET,
  backends,
  wasmOverCpu: bs('wasm') && bs('cpu') ? round2(bs('wasm')! / bs('cpu')!) : null,
  swarm: swarms.map((s) => ({ peers: s.peers, samplesPerSecond: s.samplesPerSecond, samples: s.samples, computed: s.computed, weightedOverComputed: round2(s.samples / Math.max(1, s.computed)), seconds: s.seconds })),
  swarmScaling: one ? Object.fromEntries(swarms.map((s) => [`${s.peers}/1`, round2(s.samplesPerSecond / one.samplesPerSecond)])) : null,
  bytesPerEpoch: { gradient: gradientMax.bytesPerEpoch, diloco: diloco.bytesPerEpoch, peers: diloco.peers, dilocoInnerSteps: INNER_STEPS },
  bytesPerSample: { gradient: gradientMax.bytesPerSample, diloco: diloco.bytesPerSample },
  gradientOverDilocoBytesPerSample: round2(gradientMax.bytesPerSample / diloco.bytesPerSample),
};
console.log(JSON.stringify(result));
process.exit(0);
