/**
 * One all-reduce round as seen by one member: its lifecycle (start, tick,
 * leave, finish), routing of incoming streams, and failover (a reducer that
 * fails is replaced by the next backup). The parts it drives live beside
 * it: reduce tasks for the shards this member reduces (reduce-task.ts, with
 * the result broadcast in broadcast.ts), part senders (send-part.ts), result
 * slots for the shards reduced elsewhere (result-slots.ts), the round's
 * streams (round-streams.ts) and the final summary (round-summary.ts).
 * Network I/O goes through FrameStream; all maths through the pure modules.
 */
import { encodeOpen, type AckReason, type OpenFrame } from './codec.ts';
import { resolveCompression, type Codec } from './compression.ts';
import { now, PHASE_CAPS, type RoundContext, type RoundView } from './context.ts';
import { bitset, Coverage } from './coverage.ts';
import { AveragerLeftError, RoundAbortedError } from './errors.ts';
import type { RejectReason } from './metrics.ts';
import { bandwidthShares, partition, type Shard } from './partition.ts';
import { deferred } from './promises.ts';
import { effectiveWeights, peerIdRanks } from './reduce.ts';
import { ReduceTask } from './reduce-task.ts';
import { ResultSlots } from './result-slots.ts';
import { capWeights } from './robust.ts';
import { RoundStreams } from './round-streams.ts';
import { summarizeRound } from './round-summary.ts';
import { sendPart } from './send-part.ts';
import { streamContext } from './signing.ts';
import type { FrameStream } from './stream-io.ts';
import type { DropReason, DroppedPeer, RoundResult, RoundSpec } from './types.ts';

export class Round implements RoundView {
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
  readonly results: ResultSlots;
  readonly streams: RoundStreams;
  readonly #drops = new Map<string, DroppedPeer>();
  readonly #sentTo = new Set<string>();
  readonly #work = new Set<Promise<unknown>>();
  #scratch = new Float32Array(0);
  #timer: ReturnType<typeof setInterval> | undefined;
  #settled = false;
  #leaving = false;
  #tickQueued = false;
  #done = deferred<RoundResult>();
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
    this.results = new ResultSlots(this, (s, reason) => this.reducerFailed(s, reason));
    this.streams = new RoundStreams(this);
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
        this.results.expect(shard);
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

  /** Open an all-reduce stream to `member` (round-streams.ts). */
  dial(member: number): Promise<FrameStream> {
    return this.streams.dial(member);
  }

  /** Reply with an ACK and close our side, in the background (round-streams.ts). */
  ackAndClose(fs: FrameStream, reason: AckReason, accepted: number): void {
    this.streams.ackAndClose(fs, reason, accepted);
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
    this.streams.flushBytes();
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
      for (const slot of this.results.values()) if (!slot.complete) slot.givenUp = true;
      for (const task of this.tasks.values()) task.dropPending('disconnected');
      this.#finish(false);
      return;
    }
    for (const task of this.tasks.values()) task.tick(t);
    if (!this.#leaving) {
      for (const s of this.results.overdue(t)) this.reducerFailed(s, 'deadline');
    }
    if (this.#leaving) {
      const busy = [...this.tasks.values()].some((k) => k.state === 'collecting' || k.state === 'broadcasting');
      if (!busy && this.#work.size === 0) this.#finishLeft();
      return;
    }
    const slotsDone = [...this.results.values()].every((s) => s.complete || s.givenUp);
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
      for (const slot of this.results.values()) if (slot.source === m) this.reducerFailed(slot.shard.index, this.gone.get(m) ?? reason);
    }
    this.poke();
  }

  /** The member we expect shard `s`'s result from failed: record it and move to the next backup. */
  reducerFailed(s: number, reason: DropReason, preferred?: number, extraExpected: number[] = []): void {
    const slot = this.results.get(s);
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
    this.results.stopClock(s, t);
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
      this.results.awaitBackup(s, t, cap);
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
    this.results.writtenLocally(s);
  }

  /** Whether a reduce task for `s` should write its result into our output. */
  wantsLocalResult(s: number): boolean {
    return s === this.self || this.results.wants(s);
  }

  // ------------------------------------------------------------ sending parts

  /** Stream our part of shard `s` to member `target` (once per pair). */
  sendPart(s: number, target: number, backup: boolean): void {
    const key = `${s}:${target}`;
    if (this.#sentTo.has(key) || target === this.self || this.#settled) return;
    this.#sentTo.add(key);
    this.track(sendPart(this, s, target, backup).then((failed) => {
      if (failed !== undefined) this.#partTargetFailed(s, target, failed);
    }));
  }

  #partTargetFailed(s: number, target: number, reason: DropReason): void {
    // a stream that fails (rather than being ACKed) means the member is unreachable for this round
    if (reason === 'disconnected') this.memberGone(target, 'disconnected');
    const slot = this.results.get(s);
    if (slot && slot.source === target) this.reducerFailed(s, this.gone.get(target) ?? reason);
  }

  // ------------------------------------------------------------ incoming streams

  /** Route an incoming stream whose OPEN frame names this round. */
  attach(fs: FrameStream, open: OpenFrame, remote: string): void {
    this.streams.adopt(fs);
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
    this.results.attach(fs, open, m);
  }

  #onLeave(q: number, s: number, handoff: number | null): void {
    this.log('info', 'all-reduce: peer leaves the round', { peer: this.ids[q], shard: s, handoff: handoff === null ? null : this.ids[handoff] });
    this.memberGone(q, 'left');
    if (handoff !== null) {
      const slot = this.results.get(s);
      if (slot && slot.source === q) this.reducerFailed(s, 'left', handoff, this.weights[q]! > 0 ? [q] : []);
    }
  }

  // ------------------------------------------------------------ leave / finish

  /** Graceful leave: hand off or finish our reductions, tell everyone, finish in-flight parts. */
  leave(): Promise<RoundResult> {
    if (this.#settled || this.#leaving) return this.#done.promise;
    this.#leaving = true;
    this.log('info', 'all-reduce: leaving the round');
    this.results.leave();
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

  /** Abort everything at once (stop()). */
  abort(e: Error): void {
    this.#fail(e);
  }

  #finishLeft(): void {
    this.#fail(new AveragerLeftError('left during the round'));
  }

  /**
   * The one way a round settles, whether it failed or finished: stop the
   * clock, abort what is in flight with `reason`, let the streams wind
   * down (round-streams.ts), free the reductions' memory.
   */
  #settle(reason: Error): void {
    this.#settled = true;
    clearInterval(this.#timer);
    this.ac.abort(reason);
    this.streams.settle();
    for (const t of this.tasks.values()) t.release();
  }

  #fail(e: Error): void {
    if (this.#settled) return;
    this.#settle(e);
    this.ctx.metrics.rounds.inc({ outcome: e instanceof AveragerLeftError ? 'left' : e instanceof RoundAbortedError ? 'aborted' : 'failed' });
    this.#done.reject(e);
  }

  #finish(hard: boolean): void {
    if (this.#settled) return;
    if (hard) {
      this.hardDeadlineHit = true;
      this.deadlineHit = true;
      for (const task of this.tasks.values()) task.dropPending('deadline');
      for (const slot of this.results.values()) {
        if (!slot.complete && !slot.givenUp) {
          if (slot.source !== this.self) this.addDrop(slot.source, 'deadline', 'reducer', slot.shard.index);
          slot.givenUp = true;
        }
      }
      this.log('warn', 'all-reduce: hard deadline hit', { timeoutMs: this.T });
    }
    this.#settle(new RoundAbortedError('round over'));
    // elements no result reached keep our local values
    for (const shard of this.shards) {
      for (const [a, b] of this.coverage[shard.index]!.gaps()) this.output.set(this.input.subarray(shard.start + a, shard.start + b), shard.start + a);
    }
    const durationMs = now() - this.t0;
    const result = summarizeRound(
      { ids: this.ids, self: this.self, shards: this.shards, coverage: this.coverage, weighted: this.weighted, slots: this.shards.map((s) => this.results.get(s.index)), drops: [...this.#drops.values()] },
      { vector: this.output, deadlineHit: this.deadlineHit, hardDeadlineHit: this.hardDeadlineHit, compression: this.codec, bytesSent: this.streams.bytesSent, bytesReceived: this.streams.bytesReceived, durationMs },
    );
    const m = this.ctx.metrics;
    m.rounds.inc({ outcome: result.fractionAveraged === 1 ? 'complete' : 'partial' });
    m.roundSeconds.observe(durationMs / 1000);
    m.fractionAveraged.set(result.fractionAveraged);
    this.log(result.fractionAveraged === 1 ? 'debug' : 'info', 'all-reduce: round done', {
      fractionAveraged: result.fractionAveraged, contributorsPerShard: result.contributorsPerShard, dropped: result.droppedPeers, ms: Math.round(durationMs),
    });
    this.#done.resolve(result);
  }
}
