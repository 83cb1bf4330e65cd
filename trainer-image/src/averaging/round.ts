/**
 * One all-reduce round as seen by one member: reduce tasks (shards this
 * member reduces), part senders, result slots (shards reduced elsewhere),
 * deadlines, failures and the final summary. Network I/O goes through
 * FrameStream; all maths through the pure modules.
 */
import type { Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  encodeAck, encodeChunkHead, encodeEnd, encodeOpen, type AckReason, type ChunkCodec, type Frame, type OpenFrame,
} from './codec.ts';
import { decodeInto, decodeView, encodedSize, encodeInto, resolveCompression, type AutoThresholds, type Codec } from './compression.ts';
import { PROTOCOL } from './constants.ts';
import { bitset, bitsWithin, Coverage, summarize } from './coverage.ts';
import { ArrivalTracker, type DeadlinePolicy } from './deadline.ts';
import { AveragerLeftError, BadFrameError, StreamFailedError, FrameTooLargeError, NonFiniteContributionError, RoundAbortedError, UnknownFrameTypeError, UnsupportedVersionError } from './errors.ts';
import type { DropReason, DroppedPeer, RoundResult, RoundSpec, ShardReport } from './types.ts';
import { errorMessage, firstNonFinite, type Logger } from '../common/index.ts';
import type { AveragingMetrics, RejectReason } from './metrics.ts';
import { streamContext, type ChunkSigner, type ChunkVerifier } from './signing.ts';
import { bandwidthShares, chunks, partition, type Shard } from './partition.ts';
import { effectiveWeights, peerIdRanks, shardReduction, type Segment, type ShardReduction } from './reduce.ts';
import { capWeights, MIN_ROBUST_CONTRIBUTORS } from './robust.ts';
import { FrameStream } from './stream-io.ts';

/**
 * Phase caps, as fractions of `timeoutMs` after the local start. Adaptive
 * deadlines act inside them; they leave room for the next phase so the
 * round as a whole ends by `timeoutMs`.
 */
/** Encoded result chunks a reducer keeps for members that lag behind the fastest one (they recompute beyond it). */
export const RESULT_CACHE_BYTES = 32 * 1024 * 1024;

export const PHASE_CAPS = Object.freeze({
  /** a primary reducer stops waiting for parts */
  primaryParts: 0.4,
  /** members stop waiting for a primary reducer's result and go to a backup */
  primaryResults: 0.6,
  /** a backup reducer stops waiting for parts */
  backupParts: 0.75,
  /** members stop waiting for a backup's result and keep their local values */
  backupResults: 0.9,
});

export interface ResolvedOptions {
  chunkElements: number;
  int8BlockSize: number;
  auto: AutoThresholds;
  policy: DeadlinePolicy;
  pendingRoundWaitMs: number;
  maxPendingStreams: number;
  dialTimeoutMs: number;
}

export interface RoundContext {
  host: Libp2p;
  selfId: string;
  opts: ResolvedOptions;
  log: Logger;
  metrics: AveragingMetrics;
  /** Signs every chunk we write (signing.ts). */
  signer: ChunkSigner;
  /** Checks every chunk we receive against its writer's peer id. */
  verifier: ChunkVerifier;
  /** Fault injection (AveragerOptions.tamperResult). */
  tamperResult?: (values: Float32Array) => void;
}

/** Map a thrown frame error to its metric reason. */
export function rejectReasonOf(e: unknown): RejectReason {
  if (e instanceof NonFiniteContributionError) return 'non_finite';
  if (e instanceof UnsupportedVersionError) return 'version';
  if (e instanceof FrameTooLargeError) return 'too_large';
  if (e instanceof UnknownFrameTypeError) return 'unknown_type';
  return 'bad_frame';
}

const now = (): number => performance.now();

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface ResultSlot {
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

export class Round {
  readonly id: string;
  readonly spec: RoundSpec;
  readonly n: number;
  readonly self: number;
  readonly ids: string[];
  /** Members' positions in peer-id order: the order robust rules see parts in. */
  readonly ranks: number[];
  readonly weights: number[];
  readonly weighted: Uint8Array;
  readonly shares: number[];
  readonly shards: Shard[];
  readonly codec: Codec;
  readonly input: Float32Array;
  readonly output: Float32Array;
  readonly coverage: Coverage[];
  readonly t0: number;
  readonly T: number;
  readonly ctx: RoundContext;
  readonly ac = new AbortController();
  readonly gone = new Map<number, DropReason>();
  readonly tasks = new Map<number, ReduceTask>();
  readonly slots = new Map<number, ResultSlot>();
  readonly #drops = new Map<string, DroppedPeer>();
  readonly #sentTo = new Set<string>();
  readonly #work = new Set<Promise<unknown>>();
  #primaryResults: ArrivalTracker<number>;
  #backupResults: ArrivalTracker<number> | undefined;
  #scratch = new Float32Array(0);
  #timer: ReturnType<typeof setInterval> | undefined;
  #settled = false;
  #leaving = false;
  #tickQueued = false;
  #done = deferred<RoundResult>();
  bytesSent = 0;
  bytesReceived = 0;
  deadlineHit = false;
  hardDeadlineHit = false;

  constructor(ctx: RoundContext, spec: RoundSpec, self: number, vector: Float32Array) {
    this.ctx = ctx;
    this.spec = spec;
    this.id = spec.roundId;
    this.n = spec.members.length;
    this.self = self;
    this.ids = spec.members.map((m) => m.peerId);
    this.ranks = peerIdRanks(this.ids);
    this.weights = effectiveWeights(this.#claimedWeights(spec, ctx));
    this.weighted = bitset(this.weights.flatMap((w, i) => (w > 0 ? [i] : [])), this.n);
    const bandwidths = spec.members.map((m) => m.bandwidth);
    this.shares = bandwidthShares(bandwidths);
    this.shards = partition(vector.length, bandwidths);
    this.codec = resolveCompression(spec.compression, vector.length, ctx.opts.auto);
    this.input = vector;
    this.output = new Float32Array(vector.length);
    this.coverage = this.shards.map((s) => new Coverage(s.length));
    this.t0 = now();
    this.T = spec.timeoutMs;
    this.#primaryResults = new ArrivalTracker<number>([], this.t0, this.t0 + PHASE_CAPS.primaryResults * this.T, ctx.opts.policy);
  }

  /**
   * The members' self-reported samples, capped under robust aggregation at
   * maxSamplesRatio × the group's median (every member computes the same
   * caps from the same spec). Capped peers are counted and logged here.
   */
  #claimedWeights(spec: RoundSpec, ctx: RoundContext): number[] {
    const claimed = spec.members.map((m) => m.weight);
    const rule = spec.robust;
    if (rule === undefined || rule.method === 'none') return claimed;
    const { weights, capped, cap } = capWeights(claimed, rule.maxSamplesRatio);
    for (const i of capped) {
      ctx.metrics.cappedWeights.inc();
      ctx.log.warn('all-reduce: capped a peer\'s self-reported samples', { round: spec.roundId, peer: spec.members[i]!.peerId, claimed: claimed[i], cap, maxSamplesRatio: rule.maxSamplesRatio });
    }
    return weights;
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  get settled(): boolean {
    return this.#settled;
  }

  get leaving(): boolean {
    return this.#leaving;
  }

  get myWeight(): number {
    return this.weights[this.self]!;
  }

  /** Start the round; resolves with the result (or rejects: aborted, left). */
  run(userSignal?: AbortSignal): Promise<RoundResult> {
    if (userSignal?.aborted) {
      // Settled before it began: nothing may start (a tick interval started now would never be cleared).
      this.#fail(new RoundAbortedError());
      return this.#done.promise;
    }
    userSignal?.addEventListener('abort', () => this.#fail(new RoundAbortedError()), { once: true });
    for (const shard of this.shards) {
      if (shard.length === 0) continue;
      if (shard.index === this.self) {
        this.tasks.set(shard.index, new ReduceTask(this, shard, false, []));
      } else {
        this.slots.set(shard.index, { shard, source: shard.index, backup: false, tried: new Set(), complete: false, givenUp: false });
        this.#primaryResults.add(shard.index);
        if (this.myWeight > 0) this.sendPart(shard.index, shard.index, false);
      }
    }
    this.#timer = setInterval(() => this.tick(), 20);
    this.poke();
    return this.#done.promise;
  }

  // ------------------------------------------------------------ bookkeeping

  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, meta: Record<string, unknown> = {}): void {
    this.ctx.log[level](msg, { round: this.id, self: this.ids[this.self], ...meta });
  }

  // byte counts go to the metrics in batches (every tick and at the end), not per piece
  #unflushedIn = 0;
  #unflushedOut = 0;
  counters = {
    bytesIn: (k: number): void => {
      this.bytesReceived += k;
      this.#unflushedIn += k;
    },
    bytesOut: (k: number): void => {
      this.bytesSent += k;
      this.#unflushedOut += k;
    },
  };

  #flushBytes(): void {
    if (this.#unflushedIn > 0) this.ctx.metrics.bytesReceived.inc(this.#unflushedIn);
    if (this.#unflushedOut > 0) this.ctx.metrics.bytesSent.inc(this.#unflushedOut);
    this.#unflushedIn = 0;
    this.#unflushedOut = 0;
  }

  addDrop(member: number, reason: DropReason, role: 'sender' | 'reducer', shard: number): void {
    const key = `${member}:${role}:${shard}`;
    if (this.#drops.has(key) || member === this.self) return;
    this.#drops.set(key, { peerId: this.ids[member]!, reason, role, shard });
    if (reason === 'deadline') this.deadlineHit = true;
    this.ctx.metrics.droppedPeers.inc({ reason, role });
    this.log('warn', 'all-reduce: dropped peer', { peer: this.ids[member], reason, role, shard });
  }

  reject(reason: RejectReason, peer: number, detail: string, shard?: number): void {
    this.ctx.metrics.rejectedFrames.inc({ reason });
    this.log('warn', 'all-reduce: rejected contribution', { peer: this.ids[peer], reason, shard, detail });
  }

  scratch(count: number): Float32Array {
    if (this.#scratch.length < count) this.#scratch = new Float32Array(count);
    return this.#scratch.subarray(0, count);
  }

  /** Track background work so `leave()` can wait for it. */
  track<T>(p: Promise<T>): void {
    const q = p.catch(() => undefined).finally(() => {
      this.#work.delete(q);
      this.poke();
    });
    this.#work.add(q);
  }

  /**
   * Open an all-reduce stream to `member`. Retries a failed dial (twice, with
   * backoff, within `dialTimeoutMs`): when every member dials every other at
   * the start of a round, simultaneous connection attempts can reset each
   * other's handshakes, and that must not count as a failed peer.
   */
  async dial(member: number): Promise<FrameStream> {
    const signal = AbortSignal.any([this.signal, AbortSignal.timeout(this.ctx.opts.dialTimeoutMs)]);
    const peer = peerIdFromString(this.ids[member]!);
    let stream: Stream | undefined;
    for (let attempt = 0; stream === undefined; attempt++) {
      try {
        stream = await this.ctx.host.dialProtocol(peer, PROTOCOL, { signal });
      } catch (e) {
        if (attempt >= 2 || signal.aborted) throw e;
        this.log('debug', 'all-reduce: dial failed, retrying', { to: this.ids[member], error: errorMessage(e) });
        await new Promise((r) => setTimeout(r, 50 * 4 ** attempt));
      }
    }
    if (this.#settled) {
      stream.abort(new StreamFailedError('round over'));
      throw new RoundAbortedError('round over');
    }
    return this.register(new FrameStream(stream, this.counters));
  }

  /** How long a stream may make no write progress before we give up on it. */
  get stallMs(): number {
    return Math.max(5000, this.ctx.opts.policy.stallMs * 5);
  }

  /**
   * Reply with an ACK and close our side, in the background. Not bound to the
   * round's signal: the ACK must still go out when the round just finished.
   */
  ackAndClose(fs: FrameStream, reason: AckReason, accepted: number): void {
    this.track((async () => {
      const signal = AbortSignal.timeout(this.stallMs);
      await fs.write([encodeAck(reason, accepted)], signal);
      await fs.closeWrite(signal);
    })());
  }

  /** Streams of this round; those still open a grace period after the round are aborted. */
  readonly streams = new Set<FrameStream>();
  register(fs: FrameStream): FrameStream {
    this.streams.add(fs);
    return fs;
  }

  #reapStreams(): void {
    setTimeout(() => {
      for (const fs of this.streams) if (!fs.closed) fs.abort('round over');
      this.streams.clear();
    }, this.stallMs).unref();
  }

  /** Next backup reducer for shard `s` in group order after `s`, skipping tried and gone members; prefers members with bandwidth. */
  backupFor(s: number, tried: Set<number>): number | undefined {
    for (const needShare of [true, false]) {
      for (let k = 1; k < this.n; k++) {
        const c = (s + k) % this.n;
        if (tried.has(c) || this.gone.has(c) || c === s) continue;
        if (needShare && !(this.shares[c]! > 0)) continue;
        return c;
      }
    }
    return undefined;
  }

  poke(): void {
    if (this.#tickQueued || this.#settled) return;
    this.#tickQueued = true;
    setImmediate(() => {
      this.#tickQueued = false;
      this.tick();
    });
  }

  tick(): void {
    this.#flushBytes();
    if (this.#settled) return;
    const t = now();
    if (t >= this.t0 + this.T) {
      if (this.#leaving) this.#finishLeft();
      else this.#finish(true);
      return;
    }
    if (this.ctx.host.status !== 'started') {
      // our own host is going away: nothing more can arrive
      this.log('warn', 'all-reduce: libp2p host stopped during the round, keeping local values');
      for (const slot of this.slots.values()) if (!slot.complete) slot.givenUp = true;
      for (const task of this.tasks.values()) task.dropPending('disconnected');
      this.#finish(false);
      return;
    }
    for (const task of this.tasks.values()) task.tick(t);
    if (!this.#leaving) {
      for (const tr of [this.#primaryResults, this.#backupResults]) {
        if (!tr) continue;
        for (const o of tr.overdue(t)) this.reducerFailed(o.key, 'deadline');
      }
    }
    if (this.#leaving) {
      const busy = [...this.tasks.values()].some((k) => k.state === 'collecting' || k.state === 'broadcasting');
      if (!busy && this.#work.size === 0) this.#finishLeft();
      return;
    }
    const slotsDone = [...this.slots.values()].every((s) => s.complete || s.givenUp);
    const tasksDone = [...this.tasks.values()].every((k) => k.state === 'done' || k.state === 'handedOff');
    if (slotsDone && tasksDone) this.#finish(false);
  }

  // ------------------------------------------------------------ failures

  /** A member is gone for this round (disconnected or left). */
  memberGone(m: number, reason: DropReason): void {
    if (m === this.self || this.#settled) return;
    if (!this.gone.has(m)) this.gone.set(m, reason);
    for (const task of this.tasks.values()) task.memberGone(m, reason);
    if (reason === 'disconnected') {
      for (const slot of this.slots.values()) if (slot.source === m) this.reducerFailed(slot.shard.index, this.gone.get(m) ?? reason);
    }
    this.poke();
  }

  /** The member we expect shard `s`'s result from failed: record it and move to the next backup. */
  reducerFailed(s: number, reason: DropReason, preferred?: number, extraExpected: number[] = []): void {
    const slot = this.slots.get(s);
    if (!slot || slot.complete || slot.givenUp || this.#leaving || this.#settled) return;
    const src = slot.source;
    if (src !== this.self) this.addDrop(src, reason, 'reducer', s);
    slot.tried.add(src);
    if (slot.active) {
      const a = slot.active;
      slot.active = undefined;
      a.fs.discard();
      a.fs.abort('reducer dropped');
    }
    const t = now();
    this.#primaryResults.remove(s, t);
    this.#backupResults?.remove(s, t);
    let next = preferred !== undefined && !slot.tried.has(preferred) && !this.gone.has(preferred) ? preferred : this.backupFor(s, slot.tried);
    const cap = this.t0 + PHASE_CAPS.backupResults * this.T;
    if (next === undefined || t >= cap) {
      slot.givenUp = true;
      this.log('warn', 'all-reduce: no backup reducer left, keeping local values', { shard: s });
      this.poke();
      return;
    }
    slot.source = next;
    slot.backup = true;
    this.log('info', 'all-reduce: shard moves to backup reducer', { shard: s, failed: this.ids[src], backup: this.ids[next], reason });
    if (next === this.self) {
      this.ensureBackupTask(s, extraExpected);
    } else {
      this.#backupResults ??= new ArrivalTracker<number>([], t, cap, this.ctx.opts.policy);
      this.#backupResults.add(s);
      if (this.myWeight > 0) this.sendPart(s, next, true);
    }
    this.poke();
  }

  ensureBackupTask(s: number, extraExpected: number[]): ReduceTask | undefined {
    const existing = this.tasks.get(s);
    if (existing) return existing;
    if (this.#leaving || this.#settled) return undefined;
    const shard = this.shards[s]!;
    const task = new ReduceTask(this, shard, true, extraExpected);
    this.tasks.set(s, task);
    this.ctx.metrics.backupReductions.inc();
    return task;
  }

  /** A reduce task finished its result for shard `s` locally (output written). */
  resultWrittenLocally(s: number): void {
    const slot = this.slots.get(s);
    if (!slot) return;
    if (slot.active) {
      const a = slot.active;
      slot.active = undefined;
      this.ackAndClose(a.fs, 'notNeeded', a.next);
      a.fs.discard();
    }
    slot.complete = true;
    slot.reducedBy = this.self;
    this.#primaryResults.remove(s, now());
    this.#backupResults?.remove(s, now());
    this.poke();
  }

  /** Whether a reduce task for `s` should write its result into our output. */
  wantsLocalResult(s: number): boolean {
    if (s === this.self) return true;
    const slot = this.slots.get(s);
    return !!slot && !slot.complete && !this.#leaving;
  }

  // ------------------------------------------------------------ sending parts

  /** Stream our part of shard `s` to member `target` (once per pair). */
  sendPart(s: number, target: number, backup: boolean): void {
    const key = `${s}:${target}`;
    if (this.#sentTo.has(key) || target === this.self || this.#settled) return;
    this.#sentTo.add(key);
    this.track(this.#sendPart(s, target, backup));
  }

  async #sendPart(s: number, target: number, backup: boolean): Promise<void> {
    const shard = this.shards[s]!;
    const { chunkElements, int8BlockSize } = this.ctx.opts;
    let fs: FrameStream | undefined;
    try {
      fs = await this.dial(target);
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
      const open = { kind: 'part', backup, groupSize: this.n, sender: this.self, shard: s, shardLength: shard.length, handoff: null, roundId: this.id } as const;
      await fs.write([encodeOpen(open)], this.signal);
      const context = streamContext(open);
      for (const [off, count] of chunks(shard.length, chunkElements)) {
        if (acked !== undefined) break;
        const values = this.input.subarray(shard.start + off, shard.start + off + count);
        const [codec, payload] = encodePayload(this.codec, values, int8BlockSize);
        const chunk = { offset: off, count, codec, blockSize: codec === 'int8' ? int8BlockSize : 0, contributors: new Uint8Array(0), payload };
        const head = encodeChunkHead({ ...chunk, signature: this.ctx.signer.sign(context, chunk) }, payload.byteLength);
        await fs.write([head, payload], this.signal);
      }
      if (acked === undefined) await fs.write([encodeEnd(shard.length)], this.signal);
      await fs.closeWrite(this.signal);
      const reason = await raceSignal(ack.promise, this.signal);
      if (reason === 'leaving') this.#partTargetFailed(s, target, 'left');
      else if (reason === 'unknownRound') this.#partTargetFailed(s, target, 'deadline');
      else if (reason !== 'complete') this.log('info', 'all-reduce: reducer stopped taking our part', { shard: s, reducer: this.ids[target], reason });
    } catch (e) {
      fs?.abort('part failed');
      if (this.#settled || this.signal.aborted) return;
      this.log('debug', 'all-reduce: part stream failed', { shard: s, reducer: this.ids[target], error: errorMessage(e) });
      this.#partTargetFailed(s, target, 'disconnected');
    }
  }

  #partTargetFailed(s: number, target: number, reason: DropReason): void {
    // a stream that fails (rather than being ACKed) means the member is unreachable for this round
    if (reason === 'disconnected') this.memberGone(target, 'disconnected');
    const slot = this.slots.get(s);
    if (slot && slot.source === target) this.reducerFailed(s, this.gone.get(target) ?? reason);
  }

  // ------------------------------------------------------------ incoming streams

  /** Route an incoming stream whose OPEN frame names this round. */
  attach(fs: FrameStream, open: OpenFrame, remote: string): void {
    this.register(fs);
    this.bytesReceived += fs.bytesRead; // the OPEN frame, read before routing (already in the metric)
    fs.setCounters(this.counters);
    const m = open.sender;
    const fail = (reason: RejectReason, detail: string): void => {
      this.reject(reason, m < this.n ? m : this.self, detail, open.shard);
      this.ackAndClose(fs, 'rejected', 0);
      fs.discard();
    };
    if (open.groupSize !== this.n) return fail('wrong_round', `group size ${open.groupSize}, ours is ${this.n}`);
    if (this.ids[m] !== remote) return fail('wrong_peer', `stream from ${remote} claims to be member ${m}`);
    if (m === this.self) return fail('wrong_peer', 'stream claims to be from ourselves');
    const shard = this.shards[open.shard]!;
    if (open.kind === 'leave') {
      this.#onLeave(m, open.shard, open.handoff);
      void fs.closeWrite().catch(() => undefined);
      fs.discard();
      return;
    }
    if (open.shardLength !== shard.length) return fail('wrong_size', `shard ${open.shard} has ${shard.length} elements, stream says ${open.shardLength}`);
    if (this.#settled) {
      this.ackAndClose(fs, 'roundOver', 0);
      return;
    }
    if (open.kind === 'part') {
      if (this.#leaving) {
        this.ackAndClose(fs, 'leaving', 0);
        fs.discard();
        return;
      }
      let task = this.tasks.get(open.shard);
      if (!task && open.backup) task = this.ensureBackupTask(open.shard, []);
      if (!task) return fail('unexpected', `part for shard ${open.shard}, which we do not reduce`);
      task.attachPart(fs, m, streamContext(open));
      return;
    }
    this.#attachResult(fs, open, m);
  }

  #onLeave(q: number, s: number, handoff: number | null): void {
    this.log('info', 'all-reduce: peer leaves the round', { peer: this.ids[q], shard: s, handoff: handoff === null ? null : this.ids[handoff] });
    this.memberGone(q, 'left');
    if (handoff !== null) {
      const slot = this.slots.get(s);
      if (slot && slot.source === q) this.reducerFailed(s, 'left', handoff, this.weights[q]! > 0 ? [q] : []);
    }
  }

  #attachResult(fs: FrameStream, open: OpenFrame, m: number): void {
    const s = open.shard;
    const slot = this.slots.get(s);
    if (!slot) {
      this.reject('unexpected', m, `result for shard ${s}, which we do not await`, s);
      this.ackAndClose(fs, 'rejected', 0);
      fs.discard();
      return;
    }
    if (this.#leaving) {
      this.ackAndClose(fs, 'leaving', 0);
      fs.discard();
      return;
    }
    if (slot.complete || slot.givenUp || slot.active) {
      this.ackAndClose(fs, 'notNeeded', 0);
      fs.discard();
      return;
    }
    if (!open.backup && m !== s) {
      this.reject('unexpected', m, `primary result for shard ${s} from member ${m}`, s);
      this.ackAndClose(fs, 'rejected', 0);
      fs.discard();
      return;
    }
    if (m !== slot.source) {
      // a valid result from a reducer other than the one we expect (a backup
      // that noticed a failure before us, or a late primary): take it.
      slot.source = m;
    }
    const active = { fs, from: m, next: 0 };
    slot.active = active;
    const shard = slot.shard;
    const context = streamContext(open);
    const bitsLength = Math.ceil(this.n / 8);
    const selfBits = bitset([this.self], this.n);
    const bad = (reason: RejectReason, detail: string): void => {
      if (slot.active !== active) return;
      this.reject(reason, m, detail, s);
      this.ackAndClose(fs, 'rejected', active.next);
      fs.discard();
      slot.active = undefined;
      this.reducerFailed(s, 'rejected');
    };
    fs.setHandlers({
      onFrame: (f: Frame) => {
        if (slot.active !== active) return;
        if (f.type === 'chunk') {
          if (f.offset !== active.next || f.offset + f.count > shard.length) return bad('wrong_size', `chunk [${f.offset}, +${f.count}) at ${active.next} of ${shard.length}`);
          if (f.contributors.byteLength !== bitsLength || !bitsWithin(f.contributors, this.n)) return bad('bad_frame', 'contributor bitset does not fit the group');
          const unsigned = this.ctx.verifier.check(this.ids[m]!, context, f);
          if (unsigned !== undefined) return bad('bad_signature', unsigned);
          const a = shard.start + f.offset;
          const dst = this.output.subarray(a, a + f.count);
          let bits: Uint8Array;
          if (f.codec === 'empty') {
            dst.set(this.input.subarray(a, a + f.count));
            bits = selfBits;
          } else {
            decodeInto(f.codec, f.payload, f.count, dst, f.blockSize);
            const bad_ = firstNonFinite(dst);
            if (bad_ >= 0) {
              dst.set(this.input.subarray(a, a + f.count));
              return bad('non_finite', `result value ${dst[bad_]} at element ${f.offset + bad_}`);
            }
            bits = f.contributors.slice();
          }
          this.coverage[s]!.set(f.offset, f.offset + f.count, bits);
          active.next += f.count;
          const t = now();
          this.#primaryResults.progress(s, t);
          this.#backupResults?.progress(s, t);
          return;
        }
        if (f.type === 'end') {
          if (f.total !== shard.length || active.next !== shard.length) return bad('wrong_size', `END after ${active.next} of ${shard.length}`);
          slot.active = undefined;
          slot.complete = true;
          slot.reducedBy = m;
          const t = now();
          this.#primaryResults.complete(s, t);
          this.#backupResults?.complete(s, t);
          this.ackAndClose(fs, 'complete', shard.length);
          this.poke();
          return;
        }
        return bad('unexpected', `unexpected ${f.type} frame on a result stream`);
      },
      onFinish: (err) => {
        if (slot.active !== active) return;
        slot.active = undefined;
        this.log('debug', 'all-reduce: result stream ended early', { shard: s, reducer: this.ids[m], error: err ? errorMessage(err) : undefined });
        if (err) this.memberGone(m, 'disconnected');
        this.reducerFailed(s, this.gone.get(m) ?? 'disconnected');
      },
      onError: (err) => bad(rejectReasonOf(err), errorMessage(err)),
    });
    fs.resume();
  }

  // ------------------------------------------------------------ leave / finish

  /** Graceful leave: hand off or finish our reductions, tell everyone, finish in-flight parts. */
  leave(): Promise<RoundResult> {
    if (this.#settled || this.#leaving) return this.#done.promise;
    this.#leaving = true;
    this.log('info', 'all-reduce: leaving the round');
    for (const slot of this.slots.values()) {
      if (slot.active) {
        const a = slot.active;
        slot.active = undefined;
        this.ackAndClose(a.fs, 'leaving', a.next);
        a.fs.discard();
      }
    }
    const announced = new Set<number>();
    for (const task of this.tasks.values()) {
      announced.add(task.shard.index);
      if (task.state === 'collecting') {
        const tried = new Set<number>([this.self]);
        if (task.backup) tried.add(task.shard.index);
        const h = this.backupFor(task.shard.index, tried);
        task.handOff();
        this.#announceLeave(task.shard.index, h ?? null);
        if (h !== undefined && this.myWeight > 0) this.sendPart(task.shard.index, h, true);
      } else {
        this.#announceLeave(task.shard.index, null);
      }
    }
    if (announced.size === 0) this.#announceLeave(this.self, null);
    this.poke();
    return this.#done.promise;
  }

  #announceLeave(s: number, handoff: number | null): void {
    for (let d = 0; d < this.n; d++) {
      if (d === this.self || this.gone.has(d)) continue;
      this.track((async () => {
        const fs = await this.dial(d);
        await fs.write([encodeOpen({ kind: 'leave', backup: false, groupSize: this.n, sender: this.self, shard: s, shardLength: 0, handoff, roundId: this.id })], this.signal);
        await fs.closeWrite(this.signal);
      })());
    }
  }

  #fail(e: Error): void {
    if (this.#settled) return;
    this.#settled = true;
    clearInterval(this.#timer);
    this.ac.abort(e);
    this.#reapStreams();
    this.#flushBytes();
    setTimeout(() => this.#flushBytes(), this.stallMs).unref(); // ACKs still going out
    for (const t of this.tasks.values()) t.release();
    this.ctx.metrics.rounds.inc({ outcome: e instanceof AveragerLeftError ? 'left' : e instanceof RoundAbortedError ? 'aborted' : 'failed' });
    this.#done.reject(e);
  }

  #finishLeft(): void {
    this.#fail(new AveragerLeftError('left during the round'));
  }

  /** Abort everything at once (stop()). */
  abort(e: Error): void {
    this.#fail(e);
  }

  #finish(hard: boolean): void {
    if (this.#settled) return;
    if (hard) {
      this.hardDeadlineHit = true;
      this.deadlineHit = true;
      for (const task of this.tasks.values()) task.dropPending('deadline');
      for (const slot of this.slots.values()) {
        if (!slot.complete && !slot.givenUp) {
          if (slot.source !== this.self) this.addDrop(slot.source, 'deadline', 'reducer', slot.shard.index);
          slot.givenUp = true;
        }
      }
      this.log('warn', 'all-reduce: hard deadline hit', { timeoutMs: this.T });
    }
    this.#settled = true;
    clearInterval(this.#timer);
    this.ac.abort(new RoundAbortedError('round over'));
    this.#reapStreams();
    this.#flushBytes();
    setTimeout(() => this.#flushBytes(), this.stallMs).unref(); // ACKs still going out
    for (const t of this.tasks.values()) t.release();
    // elements no result reached keep our local values
    for (const shard of this.shards) {
      for (const [a, b] of this.coverage[shard.index]!.gaps()) this.output.set(this.input.subarray(shard.start + a, shard.start + b), shard.start + a);
    }
    const sum = summarize(this.coverage, this.weighted, this.self, this.n);
    const drops = [...this.#drops.values()];
    const droppedSet = new Set(drops.map((d) => d.peerId));
    const shards: ShardReport[] = this.shards.map((shard) => {
      const slot = this.slots.get(shard.index);
      const cov = this.coverage[shard.index]!;
      const by = shard.index === this.self ? this.self : slot?.complete ? slot.reducedBy ?? this.self : cov.empty ? this.self : slot?.source ?? this.self;
      return {
        start: shard.start,
        length: shard.length,
        reducedBy: this.ids[by]!,
        backup: shard.index === this.self ? false : !!slot && (slot.backup || (slot.reducedBy !== undefined && slot.reducedBy !== shard.index)),
        local: shard.length > 0 && cov.empty,
        contributors: sum.contributorsPerShard[shard.index]!,
      };
    });
    const durationMs = now() - this.t0;
    const result: RoundResult = {
      vector: this.output,
      fractionAveraged: sum.fractionAveraged,
      fractionMultiPeer: sum.fractionMultiPeer,
      contributorsPerShard: sum.contributorsPerShard,
      droppedPeers: this.ids.filter((id) => droppedSet.has(id)),
      drops,
      shards,
      deadlineHit: this.deadlineHit,
      hardDeadlineHit: this.hardDeadlineHit,
      compression: this.codec,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      durationMs,
    };
    const m = this.ctx.metrics;
    m.rounds.inc({ outcome: sum.fractionAveraged === 1 ? 'complete' : 'partial' });
    m.roundSeconds.observe(durationMs / 1000);
    m.fractionAveraged.set(sum.fractionAveraged);
    this.log(sum.fractionAveraged === 1 ? 'debug' : 'info', 'all-reduce: round done', {
      fractionAveraged: sum.fractionAveraged, contributorsPerShard: sum.contributorsPerShard, dropped: result.droppedPeers, ms: Math.round(durationMs),
    });
    this.#done.resolve(result);
  }
}

/** Encode a chunk with the round's codec, falling back to raw float32 when fp16 would overflow. */
function encodePayload(codec: Codec, values: Float32Array, blockSize: number, copy = false): [Codec, Uint8Array] {
  if (codec === 'none') {
    const view = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    return ['none', copy ? view.slice() : view];
  }
  const out = new Uint8Array(encodedSize(codec, values.length, blockSize));
  if (encodeInto(codec, values, out, blockSize)) return [codec, out];
  return ['none', new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice()];
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

interface PartIn {
  fs: FrameStream;
  complete: boolean;
  closed: boolean;
}

/** Reduction of one shard by this member: collect parts, then broadcast the mean. */
export class ReduceTask {
  readonly round: Round;
  readonly shard: Shard;
  readonly backup: boolean;
  state: 'collecting' | 'broadcasting' | 'done' | 'handedOff' = 'collecting';
  #acc: ShardReduction;
  #tracker: ArrivalTracker<number>;
  readonly #parts = new Map<number, PartIn>();
  readonly #dropped = new Set<number>();

  constructor(round: Round, shard: Shard, backup: boolean, extraExpected: number[]) {
    this.round = round;
    this.shard = shard;
    this.backup = backup;
    this.#acc = shardReduction(shard.length, round.spec.robust, round.ranks);
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
    this.round.track(this.#broadcast(segments).finally(() => {
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

  /**
   * All-gather of this shard: one writer per member, each at its own pace.
   * A chunk is computed (mean, encoded) once by the first writer that needs
   * it and cached for the others while they still need it, up to
   * RESULT_CACHE_BYTES; a writer further behind recomputes its chunks from
   * the float64 sums or the robust result (same bytes: the computation is
   * deterministic). So a slow or not-yet-started member never holds the
   * others back, and memory stays bounded. Our own output is written when a
   * chunk is first computed.
   */
  async #broadcast(segments: Segment[]): Promise<void> {
    const r = this.round;
    const s = this.shard.index;
    const { chunkElements, int8BlockSize, policy } = r.ctx.opts;
    const writeLocal = r.wantsLocalResult(s);
    const emptyBits = new Uint8Array(Math.ceil(r.n / 8));
    const selfBits = bitset([r.self], r.n);
    interface Planned { a: number; count: number; weight: number; bits: Uint8Array }
    const plan: Planned[] = [];
    for (const seg of segments) {
      const bits = seg.weight > 0 ? bitset(seg.members, r.n) : emptyBits;
      for (let a = seg.start; a < seg.end; a += chunkElements) plan.push({ a, count: Math.min(chunkElements, seg.end - a), weight: seg.weight, bits });
    }
    interface Encoded { head: Uint8Array; payload: Uint8Array }
    interface Dest { d: number; fs: FrameStream; ok: boolean; done: boolean; pos: number; lastProgress: number; acked: Promise<void> }
    const dests: Dest[] = [];
    const cache = new Map<number, Encoded & { pending: number }>();
    let cachedBytes = 0;
    const localDone = new Uint8Array(plan.length);
    let localLeft = writeLocal ? plan.length : 0;
    // Every member gets the same RESULT stream (OPEN and chunks), so each chunk is signed once.
    const open = { kind: 'result', backup: this.backup, groupSize: r.n, sender: r.self, shard: s, shardLength: this.shard.length, handoff: null, roundId: r.id } as const;
    const context = streamContext(open);

    const compute = (i: number): Encoded => {
      const c = plan[i]!;
      const g = this.shard.start + c.a;
      let codec: ChunkCodec = 'empty';
      let payload: Uint8Array = new Uint8Array(0);
      if (c.weight > 0) {
        // a fresh array per chunk: streams may hold the bytes until they are written
        const mean = new Float32Array(c.count);
        this.#acc.resultInto(c.a, c.weight, mean);
        r.ctx.tamperResult?.(mean);
        [codec, payload] = encodePayload(r.codec, mean, int8BlockSize);
      }
      if (writeLocal && !localDone[i]) {
        localDone[i] = 1;
        if (c.weight > 0) decodeInto(codec === 'empty' ? 'none' : codec, payload, c.count, r.output.subarray(g, g + c.count), codec === 'int8' ? int8BlockSize : 0);
        else r.output.set(r.input.subarray(g, g + c.count), g);
        r.coverage[s]!.set(c.a, c.a + c.count, c.weight > 0 ? c.bits : selfBits);
        if (--localLeft === 0) r.resultWrittenLocally(s);
      }
      const chunk = { offset: c.a, count: c.count, codec, blockSize: codec === 'int8' ? int8BlockSize : 0, contributors: c.bits, payload };
      const head = encodeChunkHead({ ...chunk, signature: r.ctx.signer.sign(context, chunk) }, payload.byteLength);
      return { head, payload };
    };
    const take = (i: number, who: Dest | undefined): Encoded => {
      const hit = cache.get(i);
      if (hit) {
        if (--hit.pending <= 0) {
          cache.delete(i);
          cachedBytes -= hit.payload.byteLength;
        }
        return hit;
      }
      const e = compute(i);
      const pending = dests.filter((x) => x !== who && x.ok && !x.done && x.pos <= i).length;
      if (pending > 0 && cachedBytes + e.payload.byteLength <= RESULT_CACHE_BYTES) {
        cache.set(i, { ...e, pending });
        cachedBytes += e.payload.byteLength;
      }
      return e;
    };
    const drop = (x: Dest, why: string): void => {
      if (!x.ok) return;
      x.ok = false;
      x.fs.abort(why);
      for (const [i, e] of cache) {
        if (i >= x.pos && --e.pending <= 0) {
          cache.delete(i);
          cachedBytes -= e.payload.byteLength;
        }
      }
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
        await fs.write([encodeEnd(this.shard.length)], r.signal);
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

    // stragglers: no write progress for 5×stallMs (>= 5 s), or for stallMs once everyone else is served
    const slow = Math.max(5000, policy.stallMs * 5);
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
      const targets = Array.from({ length: r.n }, (_, d) => d).filter((d) => d !== r.self && !r.gone.has(d) && !(this.backup && d === s));
      await Promise.all(targets.map((d) => serve(d)));
    } finally {
      clearInterval(watchdog);
    }
    // every member failed or none was left: our own output still gets the result
    for (let i = 0; i < plan.length && localLeft > 0; i++) if (!localDone[i]) compute(i);
    cache.clear();
  }
}
