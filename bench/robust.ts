/**
 * Benchmark: the CPU cost of a robust reduction against the streaming
 * sample-weighted mean, for one reducer's shard (pure code, one process).
 *
 *   npm run bench:robust
 *
 * For n contributors and a shard of S float32 elements it times adding
 * every part and producing the result (`ShardAccumulator` vs `RobustShard`
 * with trimmed-mean and centered-clip at the CRD defaults), best of a few
 * repetitions, and prints each robust time as a ratio to the mean's, plus
 * the buffered bytes. The last line of output is one JSON object.
 *
 * Environment (optional): BENCH_PEERS=4,8,16  BENCH_SHARD_MIB=4  BENCH_REPEAT=3
 */
import { randomVector, RobustShard, ShardAccumulator, type ShardReduction } from '../trainer-image/src/averaging/index.ts';
import type { RobustAggregation } from '../api/index.ts';

const env = process.env;
const peersList = (env.BENCH_PEERS ?? '4,8,16').split(',').map(Number);
const shardMiB = Number(env.BENCH_SHARD_MIB ?? 4);
const repeat = Number(env.BENCH_REPEAT ?? 3);
const length = Math.floor((shardMiB * (1 << 20)) / 4);
const DEFAULTS: Omit<RobustAggregation, 'method'> = { trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false };

function timeOne(make: () => ShardReduction, parts: Float32Array[]): number {
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    const red = make();
    parts.forEach((p, m) => red.add(m, 8 + m, 0, p));
    const out = new Float32Array(length);
    red.resultInto(0, 1, out);
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const rows = [];
for (const n of peersList) {
  const parts = Array.from({ length: n }, (_, m) => randomVector(m + 1, length));
  const meanMs = timeOne(() => new ShardAccumulator(length), parts);
  const ranks = parts.map((_, m) => m);
  const trimmedMs = timeOne(() => new RobustShard(length, { method: 'trimmed-mean', ...DEFAULTS }, ranks), parts);
  const clipMs = timeOne(() => new RobustShard(length, { method: 'centered-clip', ...DEFAULTS }, ranks), parts);
  const row = {
    peers: n, shardMiB, meanMs: +meanMs.toFixed(1), trimmedMeanMs: +trimmedMs.toFixed(1), centeredClipMs: +clipMs.toFixed(1),
    trimmedMeanRatio: +(trimmedMs / meanMs).toFixed(2), centeredClipRatio: +(clipMs / meanMs).toFixed(2),
    bufferedMiB: n * shardMiB, meanBufferMiB: 2 * shardMiB,
  };
  rows.push(row);
  console.log(`n=${n} shard=${shardMiB} MiB: mean ${row.meanMs} ms, trimmed-mean ${row.trimmedMeanMs} ms (×${row.trimmedMeanRatio}), centered-clip ${row.centeredClipMs} ms (×${row.centeredClipRatio}); buffers ${row.bufferedMiB} MiB vs ${row.meanBufferMiB} MiB`);
}
console.log(JSON.stringify({ bench: 'robust', rows }));
