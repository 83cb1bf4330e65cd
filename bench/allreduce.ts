/**
 * Benchmark: butterfly all-reduce between N peer processes on 127.0.0.1.
 *
 *   npm run bench:allreduce
 *
 * Measures in the same run:
 *   - B_tcp: raw TCP throughput between two processes (node:net, 1 MiB writes);
 *   - B_p2p: libp2p (TCP + noise + yamux) single-stream throughput between two processes,
 *     and its CPU (sender + receiver) per byte;
 *   - for N peers and vector size S: the time of one all-reduce (slowest peer),
 *     the bandwidth-optimal bound 2(N−1)/N·S/B and the ratio time/bound for
 *     both B, the peak RSS of every peer, with and without compression;
 *   - the busiest peer's CPU-seconds in the round, and their ratio to what the libp2p
 *     stack alone spends on the bytes that peer moved (`cpu÷stk`: 1 would be a round
 *     that costs nothing beyond its transport).
 * Every round is spot-checked against the exact weighted mean.
 * The last line of output is one JSON object.
 *
 * Environment (all optional):
 *   BENCH_PEERS=2,4,8  BENCH_SIZES_MIB=16,64,256  BENCH_COMPRESSION=none,int8
 *   BENCH_TCP_MIB=1024  BENCH_P2P_MIB=512
 *   BENCH_ROUNDS=3   (timed rounds per configuration after the warm-up; time and CPU are the median
 *                     round's, peak RSS is over all of them: later rounds reuse the reducers' buffers)
 *   BENCH_BUDGET_S=540   (configurations that would start after this many seconds are skipped and listed as such)
 *   BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   (extra node flags for the workers)
 *   BENCH_LOG=1   (the averagers' info/warn lines on stderr)
 *   BENCH_VERIFY=1   (for N ≥ 3, also a robust trimmed-mean round and the same round with
 *                     verifyReducers, i.e. three passes; prints verified/robust time ratios)
 *   BENCH_GLOO=1   (also torch.distributed's gloo all-reduce of the same N × S, same rounds, median,
 *                   run alone before that size's rows; prints `gloo s` and the project's time over
 *                   it (`÷gloo`) per row. The pinned torch venv of bench:reference is built on first
 *                   use, a few GB from PyPI, and reused after; see allreduce-gloo.ts)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Libp2p } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { createTestHost, waitWritable } from '../trainer-image/src/averaging/index.ts';
import { glooColumns, glooPython, type GlooResult, runGloo } from './allreduce-gloo.ts';

const MiB = 1 << 20;
/** Same id as in allreduce-worker.ts (not imported: that module runs on import). */
const P2P_BENCH_PROTOCOL = '/spotswarm/bench-throughput/1.0.0';
const env = process.env;
const list = (v: string | undefined, d: string): string[] => (v ?? d).split(',').map((s) => s.trim()).filter(Boolean);
const peersList = list(env.BENCH_PEERS, '2,4,8').map(Number);
const sizesMiB = list(env.BENCH_SIZES_MIB, '16,64,256').map(Number);
const codecs = list(env.BENCH_COMPRESSION, 'none,int8') as Array<'none' | 'fp16' | 'int8' | 'auto'>;
const tcpMiB = Number(env.BENCH_TCP_MIB ?? 1024);
const p2pMiB = Number(env.BENCH_P2P_MIB ?? 512);
const budgetSeconds = Number(env.BENCH_BUDGET_S ?? 540);
const timedRounds = Math.max(1, Number(env.BENCH_ROUNDS ?? 3));
const verifyRows = env.BENCH_VERIFY === '1';
const withGloo = env.BENCH_GLOO === '1';
/** What a round computes: the weighted mean, a robust trimmed mean, or that verified (verify.ts). */
type Mode = 'mean' | 'robust' | 'verified';
const TRIMMED = { method: 'trimmed-mean', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false } as const;
const workerPath = fileURLToPath(new URL('./allreduce-worker.ts', import.meta.url));

type Msg = Record<string, unknown> & { type: string };

class Worker {
  readonly child: ChildProcess;
  readonly #queue: Msg[] = [];
  readonly #waiters: Array<(m: Msg) => void> = [];

  constructor(args: string[]) {
    const extra = (env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    this.child = fork(workerPath, args, { execArgv: ['--disable-warning=ExperimentalWarning', ...extra], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: Msg) => {
      if (m.type === 'error') {
        console.error('worker failed:', m.error);
        process.exit(1);
      }
      const w = this.#waiters.shift();
      if (w) w(m);
      else this.#queue.push(m);
    });
    this.child.on('exit', (code) => {
      if (code && code !== 0) {
        console.error(`worker ${args.join(' ')} exited with ${code}`);
        process.exit(1);
      }
    });
  }

  next(type: string): Promise<Msg> {
    const m = this.#queue.shift();
    const check = (x: Msg): Msg => {
      if (x.type !== type) throw new Error(`expected ${type}, got ${x.type}`);
      return x;
    };
    if (m) return Promise.resolve(check(m));
    return new Promise((resolve, reject) => this.#waiters.push((x) => {
      try {
        resolve(check(x));
      } catch (e) {
        reject(e);
      }
    }));
  }

  send(m: Msg): void {
    this.child.send(m);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await exited;
  }
}

async function rawTcpThroughput(totalMiB: number): Promise<number> {
  const sink = new Worker(['tcp-sink']);
  const { port } = await sink.next('listening');
  const total = totalMiB * MiB;
  const best: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    sink.send({ type: 'expect', bytes: total });
    await sink.next('ready');
    const buf = Buffer.alloc(MiB, 7);
    const sock = connect(port as number, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const t = performance.now();
    const ended = new Promise((r) => sock.once('data', r));
    for (let sent = 0; sent < total; sent += MiB) {
      if (!sock.write(buf)) await new Promise((r) => sock.once('drain', r));
    }
    await ended;
    best.push((total / (performance.now() - t)) * 1000);
    sock.destroy();
    await sink.next('received');
  }
  await sink.kill();
  return median(best);
}

/**
 * libp2p single-stream throughput (bytes/s), and the CPU it costs: sender's
 * plus receiver's CPU-seconds per byte moved (medians of 2 repetitions).
 */
async function libp2pThroughput(totalMiB: number): Promise<{ rate: number; cpuPerByte: number }> {
  const sink = new Worker(['p2p-sink']);
  const info = await sink.next('listening');
  const host: Libp2p = await createTestHost();
  const remote = peerIdFromString(info.peerId as string);
  await host.peerStore.merge(remote, { multiaddrs: (info.addrs as string[]).map((a) => multiaddr(a)) });
  await host.dial(remote);
  const total = totalMiB * MiB;
  const rates: number[] = [];
  const cpuPerByte: number[] = [];
  for (let rep = 0; rep < 2; rep++) {
    sink.send({ type: 'expect', bytes: total });
    await sink.next('ready');
    const stream = await host.dialProtocol(remote, P2P_BENCH_PROTOCOL);
    const done = new Promise<void>((resolve) => stream.addEventListener('message', () => resolve(), { once: true }));
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    for (let sent = 0; sent < total; sent += MiB) {
      // a fresh buffer per write: the stream may hold on to it until it is sent
      if (!stream.send(new Uint8Array(MiB))) await waitWritable(stream);
    }
    await done;
    rates.push((total / (performance.now() - t)) * 1000);
    const c = process.cpuUsage(cpu0);
    sink.send({ type: 'cpu' });
    const sinkCpuMs = (await sink.next('cpu')).cpuMs as number;
    cpuPerByte.push(((c.user + c.system) / 1000 + sinkCpuMs) / 1000 / total);
    await stream.close().catch(() => undefined);
  }
  await host.stop();
  await sink.kill();
  return { rate: median(rates), cpuPerByte: median(cpuPerByte) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

interface Row {
  peers: number;
  sizeMiB: number;
  compression: string;
  mode: Mode;
  seconds: number;
  boundTcpSeconds: number;
  ratioTcp: number;
  boundP2pSeconds: number;
  ratioP2p: number;
  peakRssMiB: number[];
  /** Largest peak RSS of a peer over the vector's size (goal: at most 2.5). */
  peakRssOverVector: number;
  /** RSS of each peer just before the (median) round: the process, its libp2p host and its input vector. */
  rssBeforeRoundMiB: number[];
  rounds: number;
  /** CPU time (user + system) of the busiest peer during the round: on a shared machine, wall time is not all ours */
  cpuSecondsMaxPeer: number;
  /**
   * CPU the libp2p stack alone spends on the bytes the busiest peer moved
   * ((sent + received) / 2 × the single-stream test's sender + receiver CPU
   * per byte), and the round's CPU over it: what the round costs beyond the
   * transport, measured in CPU rather than wall time (a shared machine).
   */
  stackCpuSeconds: number;
  cpuOverStack: number;
  bytesSentPerPeerMiB: number;
  maxAbsError: number;
  fractionAveraged: number;
  /** BENCH_GLOO=1 only: gloo's median round for the same peers × size, and seconds over it. */
  glooSeconds?: number;
  ratioGloo?: number;
}

async function allReduce(n: number, sizeMiB: number, compression: string, bTcp: number, bP2p: number, p2pCpuPerByte: number, mode: Mode = 'mean'): Promise<Row> {
  const run = (roundId: string, members: unknown): Msg => ({
    type: 'run',
    verify: mode === 'verified',
    spec: { roundId, members, compression, timeoutMs: 600_000, ...(mode === 'mean' ? {} : { robust: { ...TRIMMED, verifyReducers: mode === 'verified' } }) },
  });
  const workers = Array.from({ length: n }, (_, i) => new Worker(['peer', String(i)]));
  try {
    const infos = await Promise.all(workers.map((w) => w.next('listening')));
    const peers = infos.map((x) => ({ peerId: x.peerId as string, addrs: x.addrs as string[] }));
    for (const w of workers) w.send({ type: 'peers', peers });
    await Promise.all(workers.map((w) => w.next('connected')));
    // warm-up round (JIT, stream setup) on a small vector
    for (const w of workers) w.send({ type: 'vector', length: 1 << 16 });
    await Promise.all(workers.map((w) => w.next('vector-ready')));
    const members = peers.map((p, i) => ({ peerId: p.peerId, weight: i + 1 }));
    for (const w of workers) w.send(run(`warm-${n}-${sizeMiB}-${compression}-${mode}`, members));
    await Promise.all(workers.map((w) => w.next('result')));
    const length = (sizeMiB * MiB) / 4;
    for (const w of workers) w.send({ type: 'vector', length });
    await Promise.all(workers.map((w) => w.next('vector-ready')));
    const timed: Msg[][] = [];
    for (let k = 0; k < timedRounds; k++) {
      for (const w of workers) w.send(run(`bench-${n}-${sizeMiB}-${compression}-${mode}-${k}`, members));
      timed.push(await Promise.all(workers.map((w) => w.next('result'))));
    }
    // the median round by time; peak RSS is cumulative (the last round's report holds it)
    const slowest = (rs: Msg[]): number => Math.max(...rs.map((r) => r.ms as number));
    const results = [...timed].sort((a, b) => slowest(a) - slowest(b))[Math.floor(timed.length / 2)]!;
    const peakRssMiB = timed.at(-1)!.map((r) => Math.round((r.maxRssKiB as number) / 1024));
    const seconds = slowest(results) / 1000;
    const S = sizeMiB * MiB;
    const cpuMax = Math.max(...results.map((r) => r.cpuMs as number)) / 1000;
    const stackCpu = Math.max(...results.map((r) => (((r.bytesSent as number) + (r.bytesReceived as number)) / 2) * p2pCpuPerByte));
    const boundTcp = bandwidthBound(n, S, bTcp);
    const boundP2p = bandwidthBound(n, S, bP2p);
    return {
      peers: n,
      sizeMiB,
      compression: results[0]!.compression as string,
      mode,
      seconds: round3(seconds),
      boundTcpSeconds: round3(boundTcp),
      ratioTcp: round3(seconds / boundTcp),
      boundP2pSeconds: round3(boundP2p),
      ratioP2p: round3(seconds / boundP2p),
      peakRssMiB,
      rssBeforeRoundMiB: results.map((r) => Math.round((r.rssBeforeKiB as number) / 1024)),
      peakRssOverVector: round3(Math.max(...peakRssMiB) / sizeMiB),
      rounds: timedRounds,
      cpuSecondsMaxPeer: round3(cpuMax),
      stackCpuSeconds: round3(stackCpu),
      cpuOverStack: round3(cpuMax / stackCpu),
      bytesSentPerPeerMiB: round3(Math.max(...results.map((r) => r.bytesSent as number)) / MiB),
      maxAbsError: Math.max(...results.map((r) => r.maxErr as number)),
      fractionAveraged: Math.min(...results.map((r) => r.fractionAveraged as number)),
    };
  } finally {
    for (const w of workers) w.send({ type: 'stop' });
    await Promise.all(workers.map((w) => new Promise((r) => {
      const t = setTimeout(() => void w.kill().then(r), 5000);
      w.child.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    })));
  }
}

/** The bandwidth-optimal all-reduce time of `bytes` between `n` peers at `rate` bytes/s: 2(n−1)/n · bytes / rate. */
const bandwidthBound = (n: number, bytes: number, rate: number): number => (2 * (n - 1) / n) * bytes / rate;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
const pad = (s: unknown, n: number): string => String(s).padStart(n);

async function main(): Promise<void> {
  const t0 = performance.now();
  console.log(`all-reduce benchmark: peers ${peersList.join(',')}, sizes ${sizesMiB.join(',')} MiB, compression ${codecs.join(',')}, ${timedRounds} timed round(s) each (median); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const bTcp = await rawTcpThroughput(tcpMiB);
  console.log(`raw TCP between two processes (node:net): ${(bTcp / MiB).toFixed(0)} MiB/s`);
  const { rate: bP2p, cpuPerByte: p2pCpuPerByte } = await libp2pThroughput(p2pMiB);
  console.log(`libp2p single stream (tcp+noise+yamux) between two processes: ${(bP2p / MiB).toFixed(0)} MiB/s, ${(p2pCpuPerByte * MiB * 1000).toFixed(1)} ms of CPU (sender + receiver) per MiB`);
  const python = withGloo ? await glooPython((l) => console.error(`[venv] ${l}`)) : undefined;
  if (python) console.log(`gloo baseline: torch.distributed all_reduce (sum, float32), ${python.created ? 'venv built now' : 'cached venv'}`);
  console.log(`${pad('N', 3)} ${pad('MiB', 5)} ${pad('codec', 6)} ${pad('time s', 8)} ${pad('tcp bnd', 8)} ${pad('ratio', 7)} ${pad('p2p bnd', 8)} ${pad('ratio', 6)} ${pad('sent MiB', 9)} ${pad('cpu s', 7)} ${pad('cpu÷stk', 7)} ${pad('max err', 9)}${python ? ` ${pad('gloo s', 7)} ${pad('÷gloo', 6)}` : ''}  peak RSS MiB per peer (max ÷ vector; RSS before the round)`);
  const glooRuns: GlooResult[] = [];
  const rows: Row[] = [];
  const skipped: Array<{ peers: number; sizeMiB: number; compression: string; reason: string }> = [];
  for (const n of peersList) {
    for (const size of sizesMiB) {
      for (const c of codecs) {
        if ((performance.now() - t0) / 1000 > budgetSeconds) {
          skipped.push({ peers: n, sizeMiB: size, compression: c, reason: `time budget of ${budgetSeconds} s spent (BENCH_BUDGET_S)` });
          console.log(`${pad(n, 3)} ${pad(size, 5)} ${pad(c, 6)}  skipped: time budget of ${budgetSeconds} s spent`);
          continue;
        }
        let gloo = glooRuns.find((g) => g.peers === n && g.sizeMiB === size);
        if (python && !gloo) {
          gloo = await runGloo(python.python, n, size, timedRounds, (l) => console.error(l));
          glooRuns.push(gloo);
          console.log(`    gloo ${n} × ${size} MiB: ${gloo.seconds.toFixed(3)} s per round (median of ${gloo.rounds}), ${(gloo.seconds / bandwidthBound(n, size * MiB, bTcp)).toFixed(1)}x the TCP bound, torch ${gloo.torch}`);
        }
        for (const mode of verifyRows && n >= 3 ? (['mean', 'robust', 'verified'] as const) : (['mean'] as const)) {
          const measured = await allReduce(n, size, c, bTcp, bP2p, p2pCpuPerByte, mode);
          const g = glooColumns(measured.seconds, gloo);
          const r: Row = g ? { ...measured, glooSeconds: round3(g.glooSeconds), ratioGloo: round3(g.ratioGloo) } : measured;
          rows.push(r);
          const glooText = g ? ` ${pad(g.glooSeconds.toFixed(3), 7)} ${pad(g.ratioGloo.toFixed(1), 6)}` : '';
          console.log(`${pad(r.peers, 3)} ${pad(r.sizeMiB, 5)} ${pad(r.compression, 6)} ${pad(r.seconds.toFixed(3), 8)} ${pad(r.boundTcpSeconds.toFixed(3), 8)} ${pad(r.ratioTcp.toFixed(1), 7)} ${pad(r.boundP2pSeconds.toFixed(3), 8)} ${pad(r.ratioP2p.toFixed(2), 6)} ${pad(r.bytesSentPerPeerMiB.toFixed(1), 9)} ${pad(r.cpuSecondsMaxPeer.toFixed(2), 7)} ${pad(r.cpuOverStack.toFixed(2), 7)} ${pad(r.maxAbsError.toExponential(1), 9)}${glooText}  ${r.peakRssMiB.join(' ')} (${r.peakRssOverVector.toFixed(1)}x; ${r.rssBeforeRoundMiB.join(' ')} before)${mode === 'mean' ? '' : `  (${mode})`}`);
        }
        const robust = rows.find((x) => x.peers === n && x.sizeMiB === size && x.mode === 'robust' && x.compression === rows.at(-1)!.compression);
        const verified = rows.at(-1)!;
        if (robust && verified.mode === 'verified') console.log(`    verifyReducers: ${(verified.seconds / robust.seconds).toFixed(2)}x the robust round's time, ${(verified.bytesSentPerPeerMiB / robust.bytesSentPerPeerMiB).toFixed(2)}x its bytes`);
      }
    }
  }
  const totalSeconds = round3((performance.now() - t0) / 1000);
  console.log(JSON.stringify({
    bench: 'allreduce', tcpMiBps: Math.round(bTcp / MiB), libp2pSingleStreamMiBps: Math.round(bP2p / MiB), libp2pCpuMsPerMiB: round3(p2pCpuPerByte * MiB * 1000), cores: (await import('node:os')).availableParallelism(),
    loadAverage1m: round3(loadavg()[0]!), totalSeconds, rows, skipped,
    ...(python ? { gloo: glooRuns } : {}),
  }));
}

main().then(() => process.exit(0), (e: unknown) => {
  console.error(e);
  process.exit(1);
});
