/**
 * CPU-profile breakdown of a bench:allreduce timed round, by category.
 *
 *   BENCH_PEERS=2 BENCH_SIZES_MIB=64 BENCH_COMPRESSION=none \
 *     BENCH_WORKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench:allreduce
 *   node bench/allreduce-profile.ts /tmp/prof
 *
 * For each peer's .cpuprofile: the samples of the longest timed round (the
 * longest stretch between two samples in the bench worker's own code, which
 * fills the vector before and spot-checks the result after each round), each attributed to its
 * leaf frame's category. Shares of busy time (idle excluded). On a shared
 * machine a sample's weight is wall time, so read the shares, not the ms.
 * Prints one JSON line per profile.
 */
import { readdirSync, readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** First match wins; a leaf frame is `functionName url:line`. */
const CATEGORIES: Array<[string, RegExp]> = [
  ['signing (sha256, Ed25519)', /crypto\/hash|crypto\/sig|averaging\/signing\.ts/],
  ['noise cipher', /crypto\/cipher|chaCha|libp2p-noise|as-chacha20poly1305/],
  ['GC', /^\(garbage collector\)/],
  ['finite checks', /firstNonFinite|assertFinite/],
  ['summation', /averaging\/reduce\.ts/],
  ['codec and copies', /averaging\/compression\.ts|_copyActual|createUnsafeBuffer|FastBuffer|node:buffer|createUnsafeArrayBuffer/],
  ['framing (yamux, frames, lists)', /yamux|averaging\/codec\.ts|uint8arraylist|stream-io\.ts|@libp2p\/utils|varint/],
  ['socket', /writeBuffer|writev|stream_base|onStreamRead|writeGeneric|streams\/writable|streams\/readable|socket-to-conn/],
  ['events, promises, timers', /runMicrotasks|event_target|task_queues|timers|promises|main-event|@libp2p\/interface\/dist\/src\/events/],
  ['idle', /^\(idle\)/],
];

function breakdown(p: Profile): { windowMs: number; busyMs: number; shares: Record<string, number> } {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const key = (id: number): string => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url}:${f.lineNumber}`;
  };
  const marks: number[] = [];
  for (let i = 0; i < p.samples.length; i++) if (/allreduce-worker\.ts|valueAt|test-peers\.ts/.test(key(p.samples[i]!))) marks.push(i);
  let start = 0;
  let end = 0;
  let best = 0;
  for (let j = 0; j + 1 < marks.length; j++) {
    let t = 0;
    for (let i = marks[j]! + 1; i < marks[j + 1]!; i++) t += p.timeDeltas[i] ?? 0;
    if (t > best) [best, start, end] = [t, marks[j]! + 1, marks[j + 1]!];
  }
  const ms = new Map<string, number>();
  for (let i = start; i < end; i++) {
    const k = key(p.samples[i]!);
    const c = CATEGORIES.find(([, re]) => re.test(k))?.[0] ?? 'other';
    ms.set(c, (ms.get(c) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  }
  const windowMs = [...ms.values()].reduce((a, b) => a + b, 0);
  const busyMs = windowMs - (ms.get('idle') ?? 0);
  const shares: Record<string, number> = {};
  for (const [c, v] of [...ms].sort((a, b) => b[1] - a[1])) if (c !== 'idle') shares[c] = Math.round((1000 * v) / busyMs) / 1000;
  return { windowMs: Math.round(windowMs), busyMs: Math.round(busyMs), shares };
}

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/allreduce-profile.ts <dir with .cpuprofile files>');
for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
  const b = breakdown(JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as Profile);
  console.log(`${f}: timed round ${b.windowMs} ms, busy ${b.busyMs} ms`);
  for (const [c, s] of Object.entries(b.shares)) console.log(`  ${c.padEnd(32)} ${(100 * s).toFixed(0).padStart(3)}%`);
  console.log(JSON.stringify({ profile: f, ...b }));
}
