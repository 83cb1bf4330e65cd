/**
 * Sending one part: our values of one shard, streamed to the member that
 * reduces it (OPEN, signed chunks, END), and its ACK awaited. The round
 * decides what a failed reducer means (round.ts).
 */
import { errorMessage } from '../common/index.ts';
import { encodeChunkHead, encodeEnd, encodeOpen, type AckReason } from './codec.ts';
import { encodePayload } from './compression.ts';
import type { RoundView } from './context.ts';
import { BadFrameError, StreamFailedError } from './errors.ts';
import { chunks } from './partition.ts';
import { deferred, raceSignal } from './promises.ts';
import { streamContext } from './signing.ts';
import type { FrameStream } from './stream-io.ts';
import type { DropReason } from './types.ts';

/**
 * Stream our part of shard `s` to member `target`. Resolves with why
 * `target` is lost as this shard's reducer ('left', 'deadline' when it no
 * longer knows the round, 'disconnected' when the stream failed), or
 * undefined when it took the part or stopped taking it for a reason that
 * is its own (complete, not needed, rejected), or the round is over.
 */
export async function sendPart(r: RoundView, s: number, target: number, backup: boolean): Promise<DropReason | undefined> {
  const shard = r.shards[s]!;
  const { chunkElements, int8BlockSize } = r.ctx.opts;
  let fs: FrameStream | undefined;
  try {
    fs = await r.dial(target);
    const ack = deferred<AckReason>();
    let acked: AckReason | undefined;
    fs.setHandlers({
      onFrame: (f) => {
        if (f.type === 'ack') {
          acked = f.reason;
          ack.resolve(f.reason);
        } else ack.reject(new BadFrameError(`unexpected ${f.type} frame on a part stream`));
      },
      onFinish: (err) => ack.reject(err ?? new StreamFailedError('part stream ended without ACK')),
      onError: (err) => ack.reject(err),
    });
    ack.promise.catch(() => undefined);
    const open = { kind: 'part', backup, groupSize: r.n, sender: r.self, shard: s, shardLength: shard.length, handoff: null, roundId: r.id } as const;
    await fs.write([encodeOpen(open)], r.signal);
    const context = streamContext(open);
    for (const [off, count] of chunks(shard.length, chunkElements)) {
      if (acked !== undefined) break;
      const values = r.input.subarray(shard.start + off, shard.start + off + count);
      const [codec, payload] = encodePayload(r.codec, values, int8BlockSize);
      const chunk = { offset: off, count, codec, blockSize: codec === 'int8' ? int8BlockSize : 0, contributors: new Uint8Array(0), payload };
      const head = encodeChunkHead({ ...chunk, signature: r.ctx.signer.sign(context, chunk) }, payload.byteLength);
      await fs.write([head, payload], r.signal);
    }
    if (acked === undefined) await fs.write([encodeEnd(shard.length)], r.signal);
    await fs.closeWrite(r.signal);
    const reason = await raceSignal(ack.promise, r.signal);
    if (reason === 'leaving') return 'left';
    if (reason === 'unknownRound') return 'deadline';
    if (reason !== 'complete') r.log('info', 'all-reduce: reducer stopped taking our part', { shard: s, reducer: r.ids[target], reason });
    return undefined;
  } catch (e) {
    fs?.abort('part failed');
    if (r.settled || r.signal.aborted) return undefined;
    r.log('debug', 'all-reduce: part stream failed', { shard: s, reducer: r.ids[target], error: errorMessage(e) });
    return 'disconnected';
  }
}
