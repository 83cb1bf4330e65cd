/**
 * The result broadcast of one reduced shard (the all-gather): one writer per
 * member, each at its own pace, over a shared cache of encoded chunks
 * (result-cache.ts), with a watchdog for members that stop taking it.
 */
import { errorMessage } from '../common/index.ts';
import { encodeChunkHead, encodeEnd, encodeOpen, type ChunkCodec } from './codec.ts';
import { decodeInto, encodePayload } from './compression.ts';
import { now, streamStallLimitMs, type RoundView } from './context.ts';
import { bitset } from './coverage.ts';
import type { Shard } from './partition.ts';
import { deferred, raceSignal } from './promises.ts';
import type { Segment, ShardReduction } from './reduce.ts';
import { ResultCache, type EncodedChunk } from './result-cache.ts';
import { streamContext } from './signing.ts';
import type { FrameStream } from './stream-io.ts';

/** One result chunk to send: where, how many elements, their total weight and contributors. */
interface Planned {
  a: number;
  count: number;
  weight: number;
  bits: Uint8Array;
}

/** One member the result goes to, and how far its writer got. */
interface Dest {
  d: number;
  fs: FrameStream;
  ok: boolean;
  done: boolean;
  pos: number;
  lastProgress: number;
  acked: Promise<void>;
}

/**
 * All-gather of shard `shard`, reduced by us into `acc` over `segments`.
 * A chunk is computed (mean, encoded) once by the first writer that needs
 * it and cached for the others while they still need it, up to
 * RESULT_CACHE_BYTES; a writer further behind recomputes its chunks from
 * the float64 sums or the robust result (same bytes: the computation is
 * deterministic). So a slow or not-yet-started member never holds the
 * others back, and memory stays bounded. Our own output is written when a
 * chunk is first computed. `backup`: we reduce it as a backup (the planned
 * reducer gets no copy).
 */
export async function broadcastResult(r: RoundView, shard: Shard, backup: boolean, acc: ShardReduction, segments: Segment[]): Promise<void> {
  const s = shard.index;
  const { chunkElements, int8BlockSize, policy } = r.ctx.opts;
  const writeLocal = r.wantsLocalResult(s);
  const emptyBits = new Uint8Array(Math.ceil(r.n / 8));
  const selfBits = bitset([r.self], r.n);
  const plan: Planned[] = [];
  for (const seg of segments) {
    const bits = seg.weight > 0 ? bitset(seg.members, r.n) : emptyBits;
    for (let a = seg.start; a < seg.end; a += chunkElements) plan.push({ a, count: Math.min(chunkElements, seg.end - a), weight: seg.weight, bits });
  }
  const dests: Dest[] = [];
  const cache = new ResultCache();
  const localDone = new Uint8Array(plan.length);
  let localLeft = writeLocal ? plan.length : 0;
  // Every member gets the same RESULT stream (OPEN and chunks), so each chunk is signed once.
  const open = { kind: 'result', backup, groupSize: r.n, sender: r.self, shard: s, shardLength: shard.length, handoff: null, roundId: r.id } as const;
  const context = streamContext(open);

  // Our own shard's mean goes straight into our output, and an uncompressed
  // chunk's payload is a view of it: no array and no copy per chunk. Safe
  // because nothing else writes that range of the output during the round
  // (no result stream is accepted for the shard we reduce as primary) and
  // the round ends only after every stream took or dropped the chunk. A
  // shard we reduce as backup may also arrive from another reducer into the
  // same range, so its means get arrays of their own.
  const inOutput = writeLocal && s === r.self && !backup;
  const compute = (i: number): EncodedChunk => {
    const c = plan[i]!;
    const g = shard.start + c.a;
    const local = writeLocal && !localDone[i];
    let codec: ChunkCodec = 'empty';
    let payload: Uint8Array = new Uint8Array(0);
    if (c.weight > 0) {
      // otherwise a fresh array per chunk: streams may hold the bytes until they are written
      const mean = local && inOutput ? r.output.subarray(g, g + c.count) : new Float32Array(c.count);
      acc.resultInto(c.a, c.weight, mean);
      r.ctx.tamperResult?.(mean);
      [codec, payload] = encodePayload(r.codec, mean, int8BlockSize);
      // the output holds what the other members get: the decoded payload
      if (local && (codec !== 'none' || !inOutput)) decodeInto(codec, payload, c.count, r.output.subarray(g, g + c.count), codec === 'int8' ? int8BlockSize : 0);
    } else if (local) {
      r.output.set(r.input.subarray(g, g + c.count), g);
    }
    if (local) {
      localDone[i] = 1;
      r.coverage[s]!.set(c.a, c.a + c.count, c.weight > 0 ? c.bits : selfBits);
      if (--localLeft === 0) r.resultWrittenLocally(s);
    }
    const chunk = { offset: c.a, count: c.count, codec, blockSize: codec === 'int8' ? int8BlockSize : 0, contributors: c.bits, payload };
    const head = encodeChunkHead({ ...chunk, signature: r.ctx.signer.sign(context, chunk) }, payload.byteLength);
    return { head, payload };
  };
  const take = (i: number, who: Dest): EncodedChunk => {
    const hit = cache.take(i);
    if (hit) return hit;
    const e = compute(i);
    cache.keep(i, e, dests.filter((x) => x !== who && x.ok && !x.done && x.pos <= i).length);
    return e;
  };
  const drop = (x: Dest, why: string): void => {
    if (!x.ok) return;
    x.ok = false;
    x.fs.abort(why);
    cache.release(x.pos);
  };

  const serve = async (d: number): Promise<void> => {
    let dest: Dest | undefined;
    try {
      const fs = await r.dial(d);
      const acked = deferred<void>();
      dest = { d, fs, ok: true, done: false, pos: 0, lastProgress: now(), acked: acked.promise };
      const x = dest;
      dests.push(x);
      fs.setHandlers({
        onFrame: (f) => {
          if (f.type !== 'ack') return;
          if (f.reason !== 'complete') x.ok = false; // leaving, not needed: stop sending
          acked.resolve();
        },
        onFinish: () => acked.resolve(),
        onError: () => {
          x.ok = false;
          acked.resolve();
        },
      });
      await fs.write([encodeOpen(open)], r.signal);
      for (; x.pos < plan.length; ) {
        if (!x.ok || r.gone.has(d)) return;
        const e = take(x.pos, x);
        x.pos++;
        await fs.write([e.head, e.payload], r.signal);
        x.lastProgress = now();
      }
      if (!x.ok) return;
      await fs.write([encodeEnd(shard.length)], r.signal);
      await fs.closeWrite(r.signal);
      x.lastProgress = now();
      // wait for the member's ACK, so a leaving peer does not exit with results in flight
      await raceSignal(x.acked, r.signal);
      x.done = true;
    } catch (e) {
      if (dest) drop(dest, 'result stream failed');
      if (!r.signal.aborted) r.log(dest ? 'warn' : 'debug', 'all-reduce: result stream to member failed', { shard: s, to: r.ids[d], error: errorMessage(e) });
    }
  };

  // stragglers: no write progress for the stream stall limit, or for stallMs once everyone else is served
  const slow = streamStallLimitMs(policy);
  const watchdog = setInterval(() => {
    const t = now();
    const open = dests.filter((x) => x.ok && !x.done);
    const othersDone = dests.some((x) => x.done) && open.length <= Math.max(1, Math.floor(dests.length / 4));
    for (const x of open) {
      const idle = t - x.lastProgress;
      if (idle > slow || (othersDone && idle > policy.stallMs)) {
        r.log('warn', 'all-reduce: member stopped taking our result', { shard: s, to: r.ids[x.d], idleMs: Math.round(idle) });
        drop(x, 'result stream stalled');
      }
    }
  }, 100);
  try {
    const targets = Array.from({ length: r.n }, (_, d) => d).filter((d) => d !== r.self && !r.gone.has(d) && !(backup && d === s));
    await Promise.all(targets.map((d) => serve(d)));
  } finally {
    clearInterval(watchdog);
  }
  // every member failed or none was left: our own output still gets the result
  for (let i = 0; i < plan.length && localLeft > 0; i++) if (!localDone[i]) compute(i);
  cache.clear();
}
