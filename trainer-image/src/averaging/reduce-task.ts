/**
 * The reduction of one shard by this member: collect the members' parts
 * (checked, signature-verified, accumulated as they stream in) until each
 * has arrived, was dropped or missed its adaptive deadline, then broadcast
 * the result (broadcast.ts).
 */
import { errorMessage } from '../common/index.ts';
import { broadcastResult } from './broadcast.ts';
import type { AckReason } from './codec.ts';
import { decodeInto, decodeView, encodePayload } from './compression.ts';
import { now, PHASE_CAPS, type RoundView } from './context.ts';
import { ArrivalTracker } from './deadline.ts';
import { rejectReasonOf, type RejectReason } from './metrics.ts';
import { chunks, type Shard } from './partition.ts';
import { shardReduction, type Segment, type ShardReduction } from './reduce.ts';
import { MIN_ROBUST_CONTRIBUTORS } from './robust.ts';
import type { FrameStream } from './stream-io.ts';
import type { DropReason } from './types.ts';

/** A member's incoming part stream. */
interface PartIn {
  fs: FrameStream;
  complete: boolean;
  closed: boolean;
}

/** Reduction of one shard by this member: collect parts, then broadcast the mean. */
export class ReduceTask {
  readonly round: RoundView;
  readonly shard: Shard;
  readonly backup: boolean;
  state: 'collecting' | 'broadcasting' | 'done' | 'handedOff' = 'collecting';
  #acc: ShardReduction;
  #tracker: ArrivalTracker<number>;
  readonly #parts = new Map<number, PartIn>();
  readonly #dropped = new Set<number>();

  /** `extraExpected`: members to wait for besides the live weighted ones (a leaver that handed its shard to us). */
  constructor(round: RoundView, shard: Shard, backup: boolean, extraExpected: number[]) {
    this.round = round;
    this.shard = shard;
    this.backup = backup;
    this.#acc = shardReduction(shard.length, round.spec.robust, round.ranks, round.ctx.sums);
    const r = round;
    const expected = new Set<number>();
    for (let m = 0; m < r.n; m++) if (m !== r.self && r.weights[m]! > 0 && !r.gone.has(m) && !(backup && m === shard.index)) expected.add(m);
    for (const m of extraExpected) if (m !== r.self && r.weights[m]! > 0) expected.add(m);
    const t = now();
    const cap = r.t0 + (backup ? PHASE_CAPS.backupParts : PHASE_CAPS.primaryParts) * r.T;
    this.#tracker = new ArrivalTracker(expected, t, Math.max(cap, Math.min(t + r.ctx.opts.policy.slackMs, r.t0 + PHASE_CAPS.backupResults * r.T)), r.ctx.opts.policy);
    if (r.myWeight > 0) this.#addOwnPart();
    if (backup) r.log('info', 'all-reduce: re-reducing shard as backup', { shard: shard.index, expected: [...expected].map((m) => r.ids[m]) });
  }

  /**
   * Our own part goes through the round's codec as if we had sent it: every
   * reducer of this shard (a backup, or another pass of a verified round)
   * then reduces the same values and produces the same bytes.
   */
  #addOwnPart(): void {
    const r = this.round;
    const { start, length } = this.shard;
    const { chunkElements, int8BlockSize } = r.ctx.opts;
    for (const [off, count] of chunks(length, chunkElements)) {
      try {
        const values = r.input.subarray(start + off, start + off + count);
        let part = values;
        if (r.codec !== 'none') {
          const [codec, payload] = encodePayload(r.codec, values, int8BlockSize);
          part = new Float32Array(count);
          decodeInto(codec, payload, count, part, codec === 'int8' ? int8BlockSize : 0);
        }
        this.#acc.add(r.self, r.myWeight, off, part);
      } catch (e) {
        r.reject(rejectReasonOf(e), r.self, `own part: ${errorMessage(e)}`, this.shard.index);
        return;
      }
    }
  }

  /** A member's part stream; `context` is its OPEN frame's signed context (signing.ts). */
  attachPart(fs: FrameStream, m: number, context: Uint8Array): void {
    const r = this.round;
    if (this.#parts.has(m)) {
      r.reject('duplicate', m, 'second part stream for the same shard', this.shard.index);
      r.ackAndClose(fs, 'duplicate', 0);
      fs.discard();
      return;
    }
    if (this.state !== 'collecting') {
      r.ackAndClose(fs, this.state === 'handedOff' ? 'leaving' : this.#dropped.has(m) ? 'deadline' : 'roundOver', 0);
      fs.discard();
      return;
    }
    if (!(r.weights[m]! > 0) || this.#dropped.has(m)) {
      if (!(r.weights[m]! > 0)) r.reject('unexpected', m, 'part from a member with weight 0', this.shard.index);
      r.ackAndClose(fs, this.#dropped.has(m) ? 'deadline' : 'rejected', 0);
      fs.discard();
      return;
    }
    const part: PartIn = { fs, complete: false, closed: false };
    this.#parts.set(m, part);
    this.#tracker.add(m);
    const w = r.weights[m]!;
    const len = this.shard.length;
    const s = this.shard.index;
    const reject = (reason: RejectReason, detail: string): void => {
      if (part.closed) return;
      r.reject(reason, m, detail, s);
      this.#closePart(m, part, 'rejected');
      this.#drop(m, 'rejected');
    };
    fs.setHandlers({
      onFrame: (f) => {
        if (part.closed || this.state !== 'collecting') return;
        if (f.type === 'chunk') {
          if (f.codec === 'empty' || f.contributors.byteLength !== 0) return reject('bad_frame', `part chunk with codec ${f.codec} and a ${f.contributors.byteLength}-byte bitset`);
          if (f.offset !== this.#acc.prefixOf(m) || f.offset + f.count > len) return reject('wrong_size', `chunk [${f.offset}, +${f.count}) expected at ${this.#acc.prefixOf(m)} of ${len}`);
          const unsigned = r.ctx.verifier.check(r.ids[m]!, context, f);
          if (unsigned !== undefined) return reject('bad_signature', unsigned);
          const values = decodeView(f.codec, f.payload, f.count, f.blockSize, r.scratch(f.count));
          try {
            this.#acc.add(m, w, f.offset, values);
          } catch (e) {
            return reject(rejectReasonOf(e), errorMessage(e));
          }
          this.#tracker.progress(m, now());
          return;
        }
        if (f.type === 'end') {
          if (f.total !== len || this.#acc.prefixOf(m) !== len) return reject('wrong_size', `END after ${this.#acc.prefixOf(m)} of ${len}`);
          part.complete = true;
          this.#tracker.complete(m, now());
          this.#closePart(m, part, 'complete');
          r.poke();
          return;
        }
        return reject('unexpected', `unexpected ${f.type} frame on a part stream`);
      },
      onFinish: (err) => {
        if (part.closed || part.complete) return;
        part.closed = true;
        r.log('debug', 'all-reduce: part stream ended early', { shard: s, sender: r.ids[m], error: err ? errorMessage(err) : undefined });
        if (err) r.memberGone(m, 'disconnected');
        if (this.state === 'collecting') this.#drop(m, r.gone.get(m) ?? 'disconnected');
      },
      onError: (err) => reject(rejectReasonOf(err), errorMessage(err)),
    });
    fs.resume();
  }

  #closePart(m: number, part: PartIn, reason: AckReason): void {
    if (part.closed) return;
    part.closed = true;
    this.round.ackAndClose(part.fs, reason, this.#acc.prefixOf(m));
    if (reason !== 'complete') part.fs.discard();
  }

  #drop(m: number, reason: DropReason): void {
    if (this.#dropped.has(m)) return;
    this.#dropped.add(m);
    this.#tracker.remove(m, now());
    this.round.addDrop(m, reason, 'sender', this.shard.index);
    const part = this.#parts.get(m);
    if (part && !part.closed) this.#closePart(m, part, reason === 'deadline' ? 'deadline' : 'rejected');
    this.round.poke();
  }

  /** A member disconnected or left: stop expecting it unless its part is streaming (a leaver finishes open streams). */
  memberGone(m: number, reason: DropReason): void {
    if (this.state === 'broadcasting') return; // its result stream fails by itself
    if (this.state !== 'collecting' || !this.#tracker.has(m)) return;
    const part = this.#parts.get(m);
    if (reason === 'left' && part && !part.closed) return;
    this.#drop(m, reason);
  }

  /** Drop everyone still pending (hard deadline). */
  dropPending(reason: DropReason): void {
    if (this.state !== 'collecting') return;
    for (const m of this.#tracker.pending) this.#drop(m, reason);
  }

  tick(t: number): void {
    if (this.state !== 'collecting') return;
    for (const o of this.#tracker.overdue(t)) this.#drop(o.key, 'deadline');
    if (this.#tracker.done) this.#finalize();
  }

  /** Leave: stop collecting; senders go to the backup. */
  handOff(): void {
    if (this.state !== 'collecting') return;
    this.state = 'handedOff';
    for (const [m, part] of this.#parts) if (!part.closed) this.#closePart(m, part, 'leaving');
    this.release();
  }

  release(): void {
    this.#acc.release();
  }

  #finalize(): void {
    this.state = 'broadcasting';
    for (const [m, part] of this.#parts) if (!part.closed) this.#closePart(m, part, part.complete ? 'complete' : 'deadline');
    const segments = this.#acc.segments();
    this.#reportFewContributors(segments);
    this.round.track(broadcastResult(this.round, this.shard, this.backup, this.#acc, segments).finally(() => {
      if (this.state === 'broadcasting') this.state = 'done';
      this.release();
      this.round.poke();
    }));
  }

  /** Under a robust rule, segments without a majority (robust.ts) are counted and logged: the swarm's protection is thinner there. */
  #reportFewContributors(segments: Segment[]): void {
    const r = this.round;
    if (r.spec.robust === undefined || r.spec.robust.method === 'none') return;
    const few = segments.filter((g) => g.members.length > 0 && g.members.length < MIN_ROBUST_CONTRIBUTORS);
    if (few.length === 0) return;
    r.ctx.metrics.fewContributorSegments.inc(few.length);
    r.log('info', 'all-reduce: robust rule had fewer than 3 contributors; norm-clipped mean instead', {
      shard: this.shard.index, segments: few.map((g) => ({ start: g.start, end: g.end, contributors: g.members.map((m) => r.ids[m]) })),
    });
  }
}
