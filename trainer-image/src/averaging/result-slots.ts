/**
 * Receiving results: one slot per shard another member reduces, saying
 * whom we expect its result from; the adaptive deadlines of the primary
 * and backup reducers' results; and the result streams themselves
 * (checked, signature-verified, decoded into our output). Which backup
 * takes over a failed reducer is the round's decision (round.ts).
 */
import { errorMessage, firstNonFinite } from '../common/index.ts';
import type { Frame, OpenFrame } from './codec.ts';
import { decodeInto } from './compression.ts';
import { now, PHASE_CAPS, type RoundView } from './context.ts';
import { bitset, bitsWithin } from './coverage.ts';
import { ArrivalTracker } from './deadline.ts';
import { rejectReasonOf, type RejectReason } from './metrics.ts';
import type { Shard } from './partition.ts';
import { streamContext } from './signing.ts';
import type { FrameStream } from './stream-io.ts';
import type { DropReason } from './types.ts';

/** A shard another member reduces, as we await its result. */
export interface ResultSlot {
  shard: Shard;
  /** member we expect the result from */
  source: number;
  backup: boolean;
  tried: Set<number>;
  complete: boolean;
  givenUp: boolean;
  reducedBy?: number;
  active?: { fs: FrameStream; from: number; next: number };
}

export class ResultSlots {
  readonly #r: RoundView;
  readonly #reducerFailed: (s: number, reason: DropReason) => void;
  readonly #slots = new Map<number, ResultSlot>();
  readonly #primary: ArrivalTracker<number>;
  #backup: ArrivalTracker<number> | undefined;

  /** `reducerFailed`: the round's failover, called when the reducer we read from fails or sends bad data. */
  constructor(r: RoundView, reducerFailed: (s: number, reason: DropReason) => void) {
    this.#r = r;
    this.#reducerFailed = reducerFailed;
    this.#primary = new ArrivalTracker<number>([], r.t0, r.t0 + PHASE_CAPS.primaryResults * r.T, r.ctx.opts.policy);
  }

  get(s: number): ResultSlot | undefined {
    return this.#slots.get(s);
  }

  values(): IterableIterator<ResultSlot> {
    return this.#slots.values();
  }

  /** Await `shard`'s result from its primary reducer. */
  expect(shard: Shard): void {
    this.#slots.set(shard.index, { shard, source: shard.index, backup: false, tried: new Set(), complete: false, givenUp: false });
    this.#primary.add(shard.index);
  }

  /** Shards whose reducer is overdue at `t`: the primaries' first, then (computed after those were handled) the backups'. */
  *overdue(t: number): Generator<number> {
    for (const tr of [this.#primary, this.#backup]) {
      if (!tr) continue;
      for (const o of tr.overdue(t)) yield o.key;
    }
  }

  /** Stop the deadline clock of shard `s` (its reducer failed, or we hold its result). */
  stopClock(s: number, t: number): void {
    this.#primary.remove(s, t);
    this.#backup?.remove(s, t);
  }

  /** Await shard `s` from a backup reducer, by `cap` at the latest. */
  awaitBackup(s: number, t: number, cap: number): void {
    this.#backup ??= new ArrivalTracker<number>([], t, cap, this.#r.ctx.opts.policy);
    this.#backup.add(s);
  }

  /** Whether a reduce task for `s` (we reduce it as a backup) should write its result into our output. */
  wants(s: number): boolean {
    const slot = this.#slots.get(s);
    return !!slot && !slot.complete && !this.#r.leaving;
  }

  /** A reduce task of ours wrote shard `s`'s result into our output: a result stream for it is not needed. */
  writtenLocally(s: number): void {
    const slot = this.#slots.get(s);
    if (!slot) return;
    if (slot.active) {
      const a = slot.active;
      slot.active = undefined;
      this.#r.ackAndClose(a.fs, 'notNeeded', a.next);
      a.fs.discard();
    }
    slot.complete = true;
    slot.reducedBy = this.#r.self;
    this.stopClock(s, now());
    this.#r.poke();
  }

  /** We leave: every result stream under way gets a 'leaving' ACK, and we stop reading it. */
  leave(): void {
    for (const slot of this.#slots.values()) {
      if (slot.active) {
        const a = slot.active;
        slot.active = undefined;
        this.#r.ackAndClose(a.fs, 'leaving', a.next);
        a.fs.discard();
      }
    }
  }

  /** An incoming result stream from member `m`, whose OPEN frame is `open`. */
  attach(fs: FrameStream, open: OpenFrame, m: number): void {
    const r = this.#r;
    const s = open.shard;
    const slot = this.#slots.get(s);
    if (!slot) {
      r.reject('unexpected', m, `result for shard ${s}, which we do not await`, s);
      r.ackAndClose(fs, 'rejected', 0);
      fs.discard();
      return;
    }
    if (r.leaving) {
      r.ackAndClose(fs, 'leaving', 0);
      fs.discard();
      return;
    }
    if (slot.complete || slot.givenUp || slot.active) {
      r.ackAndClose(fs, 'notNeeded', 0);
      fs.discard();
      return;
    }
    if (!open.backup && m !== s) {
      r.reject('unexpected', m, `primary result for shard ${s} from member ${m}`, s);
      r.ackAndClose(fs, 'rejected', 0);
      fs.discard();
      return;
    }
    if (m !== slot.source) {
      // a valid result from a reducer other than the one we expect (a backup
      // that noticed a failure before us, or a late primary): take it.
      slot.source = m;
    }
    this.#read(fs, open, m, slot);
  }

  /** Read a result stream into our output, chunk by chunk, until END or failure. */
  #read(fs: FrameStream, open: OpenFrame, m: number, slot: ResultSlot): void {
    const r = this.#r;
    const s = open.shard;
    const active = { fs, from: m, next: 0 };
    slot.active = active;
    const shard = slot.shard;
    const context = streamContext(open);
    const bitsLength = Math.ceil(r.n / 8);
    const selfBits = bitset([r.self], r.n);
    const bad = (reason: RejectReason, detail: string): void => {
      if (slot.active !== active) return;
      r.reject(reason, m, detail, s);
      r.ackAndClose(fs, 'rejected', active.next);
      fs.discard();
      slot.active = undefined;
      this.#reducerFailed(s, 'rejected');
    };
    fs.setHandlers({
      onFrame: (f: Frame) => {
        if (slot.active !== active) return;
        if (f.type === 'chunk') {
          if (f.offset !== active.next || f.offset + f.count > shard.length) return bad('wrong_size', `chunk [${f.offset}, +${f.count}) at ${active.next} of ${shard.length}`);
          if (f.contributors.byteLength !== bitsLength || !bitsWithin(f.contributors, r.n)) return bad('bad_frame', 'contributor bitset does not fit the group');
          const unsigned = r.ctx.verifier.check(r.ids[m]!, context, f);
          if (unsigned !== undefined) return bad('bad_signature', unsigned);
          const a = shard.start + f.offset;
          const dst = r.output.subarray(a, a + f.count);
          let bits: Uint8Array;
          if (f.codec === 'empty') {
            dst.set(r.input.subarray(a, a + f.count));
            bits = selfBits;
          } else {
            decodeInto(f.codec, f.payload, f.count, dst, f.blockSize);
            const nonFinite = firstNonFinite(dst);
            if (nonFinite >= 0) {
              dst.set(r.input.subarray(a, a + f.count));
              return bad('non_finite', `result value ${dst[nonFinite]} at element ${f.offset + nonFinite}`);
            }
            bits = f.contributors.slice();
          }
          r.coverage[s]!.set(f.offset, f.offset + f.count, bits);
          active.next += f.count;
          const t = now();
          this.#primary.progress(s, t);
          this.#backup?.progress(s, t);
          return;
        }
        if (f.type === 'end') {
          if (f.total !== shard.length || active.next !== shard.length) return bad('wrong_size', `END after ${active.next} of ${shard.length}`);
          slot.active = undefined;
          slot.complete = true;
          slot.reducedBy = m;
          const t = now();
          this.#primary.complete(s, t);
          this.#backup?.complete(s, t);
          r.ackAndClose(fs, 'complete', shard.length);
          r.poke();
          return;
        }
        return bad('unexpected', `unexpected ${f.type} frame on a result stream`);
      },
      onFinish: (err) => {
        if (slot.active !== active) return;
        slot.active = undefined;
        r.log('debug', 'all-reduce: result stream ended early', { shard: s, reducer: r.ids[m], error: err ? errorMessage(err) : undefined });
        if (err) r.memberGone(m, 'disconnected');
        this.#reducerFailed(s, r.gone.get(m) ?? 'disconnected');
      },
      onError: (err) => bad(rejectReasonOf(err), errorMessage(err)),
    });
    fs.resume();
  }
}
