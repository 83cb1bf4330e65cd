/**
 * Matchmaking: one leader per round, chosen by compare-and-set in the
 * swarm's rounds bucket.
 *
 * Why two peers never see different groups for a round:
 *  1. A round's groups exist only as the value of the KV key `round.<epoch>`.
 *     A peer runs a round only with the groups it decoded from that key's
 *     value, or with the value it wrote there itself.
 *  2. The key is only ever written by `create`, a JetStream publish with
 *     "expected last subject sequence = 0". The server (the stream's single
 *     leader, even in a cluster) accepts exactly one such write for a key that
 *     has no live value; every other create fails with "wrong last sequence".
 *     Nothing updates or deletes a round key, so its value never changes
 *     while it lives.
 *  3. The winner uses exactly the bytes it wrote; the losers read those bytes
 *     back. So every peer that runs round e runs it with the same groups,
 *     order and weights. The leader's membership view may be stale; that
 *     changes who is in the round, never whether peers agree on it.
 *  4. Keys expire after ROUND_TTL (1 h). A peer never matchmakes for an epoch
 *     below its high-water mark, and new peers start at or above the epoch in
 *     the `epoch` key (no TTL), so an expired round key is not recreated.
 *
 * A peer that is not in the assignment (it arrived after the leader wrote
 * it) waits for the next round.
 */
import { KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { openBucket } from './bucket.ts';
import { compareDigest, decodeResultDigest, encodeResultDigest, resultKey, type Agreement } from './agreement.ts';
import { decodeAssignment, encodeAssignment, toMembers, type RoundAssignment } from './assignment.ts';
import { ASSIGNMENT_VERSION, EPOCH_KEY, RESULT_DIGEST_VERSION, ROUND_TTL, ROUNDS_MARKER_TTL_MS, roundKey } from './constants.ts';
import { formGroups, type Candidate } from './groups.ts';
import { Listeners } from './listeners.ts';
import { errorMessage, type SwarmLogger } from './log.ts';
import type { SwarmMetrics } from './metrics.ts';
import { RestartingWatch } from './restarting-watch.ts';

export interface MatchmakerOptions {
  bucket: string;
  /** Stream replicas (1, or 3/5 on a JetStream cluster). @default 1 */
  replicas?: number;
  selfPeerId: string;
  maxGroupSize: number;
  /** Seed of the Moshpit placement (the swarm's uid). */
  seed: string;
  log: SwarmLogger;
  metrics: SwarmMetrics;
  now?: () => number;
}

export interface FormedRound {
  assignment: RoundAssignment;
  /** True when this peer won the compare-and-set and wrote the assignment. */
  leader: boolean;
}

/** Builds the assignment a leader would write: pure, given the candidates. */
export function buildAssignment(inp: { epoch: number; leader: string; createdAt: number; maxGroupSize: number; seed: string; candidates: readonly Candidate[] }): RoundAssignment {
  const { groups, waiting } = formGroups({ candidates: inp.candidates, round: inp.epoch, maxGroupSize: inp.maxGroupSize, seed: inp.seed });
  return {
    v: ASSIGNMENT_VERSION,
    epoch: inp.epoch,
    leader: inp.leader,
    createdAt: inp.createdAt,
    maxGroupSize: inp.maxGroupSize,
    groups: groups.map(toMembers),
    waiting,
  };
}

export class Matchmaker {
  readonly #kv: KV;
  readonly #opts: MatchmakerOptions;
  readonly #now: () => number;
  /** Assignments seen, by epoch (only recent ones are kept). */
  readonly #known = new Map<number, RoundAssignment>();
  readonly #listeners: Listeners<[RoundAssignment]>;
  #watch: RestartingWatch<KvWatchEntry> | undefined;

  private constructor(kv: KV, opts: MatchmakerOptions) {
    this.#kv = kv;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#listeners = new Listeners(opts.log, 'round listener failed');
  }

  static async open(nc: NatsConnection, opts: MatchmakerOptions): Promise<Matchmaker> {
    // No bucket-wide TTL: round keys carry a per-key TTL; the `epoch` key lives on.
    const kv = await openBucket(nc, opts.bucket, { history: 1, replicas: opts.replicas ?? 1, markerTTL: ROUNDS_MARKER_TTL_MS, storage: 'file' }, opts.log);
    const m = new Matchmaker(kv, opts);
    m.#watch = await RestartingWatch.start<KvWatchEntry>({
      open: () => kv.watch({ key: 'round.>', include: KvWatchInclude.UpdatesOnly }),
      onEntry: (e) => m.#onRoundEntry(e),
      onFailure: (e) => {
        m.#metrics().natsErrors.inc({ op: 'watch' });
        opts.log.warn('rounds watch failed', { error: errorMessage(e) });
      },
      onRestartFailure: () => undefined,
    });
    return m;
  }

  #onRoundEntry(e: KvWatchEntry): void {
    if (e.operation !== 'PUT') return;
    const epoch = Number(e.key.slice('round.'.length));
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      this.#metrics().badRecords.inc({ kind: 'assignment' });
      return;
    }
    const a = this.#decode(e.value, epoch, e.key);
    if (a) this.#remember(a);
  }

  #metrics(): SwarmMetrics {
    return this.#opts.metrics;
  }

  #decode(bytes: Uint8Array, epoch: number, key: string): RoundAssignment | undefined {
    const d = decodeAssignment(bytes, epoch);
    if (!d.ok) {
      this.#metrics().badRecords.inc({ kind: 'assignment' });
      this.#opts.log.warn('ignoring bad round assignment', { key, error: d.error });
      return undefined;
    }
    return d.assignment;
  }

  #remember(a: RoundAssignment): void {
    if (this.#known.has(a.epoch)) return;
    this.#known.set(a.epoch, a);
    // Keep the last few epochs only.
    for (const e of this.#known.keys()) if (e < a.epoch - 16) this.#known.delete(e);
    this.#listeners.emit(a);
  }

  /** The assignment of `epoch` seen so far through the watch (no I/O). */
  known(epoch: number): RoundAssignment | undefined {
    return this.#known.get(epoch);
  }

  /**
   * Reads the assignment of `epoch` from the bucket. Resolves undefined when
   * there is none, or when the stored value is invalid (logged and counted:
   * the peer then waits for the next round). Rejects on NATS errors.
   */
  async get(epoch: number): Promise<RoundAssignment | undefined> {
    const r = await this.#read(epoch);
    return r.state === 'ok' ? r.assignment : undefined;
  }

  async #read(epoch: number): Promise<{ state: 'none' | 'invalid' } | { state: 'ok'; assignment: RoundAssignment }> {
    const cached = this.#known.get(epoch);
    if (cached) return { state: 'ok', assignment: cached };
    let e;
    try {
      e = await this.#kv.get(roundKey(epoch));
    } catch (err) {
      this.#metrics().natsErrors.inc({ op: 'get' });
      throw err;
    }
    if (!e || e.operation !== 'PUT') return { state: 'none' };
    const a = this.#decode(e.value, epoch, roundKey(epoch));
    if (!a) return { state: 'invalid' };
    this.#remember(a);
    return { state: 'ok', assignment: a };
  }

  /**
   * Forms round `epoch`: tries to become its leader by creating the key with
   * groups built from `candidates` (the caller's view of the live peers at
   * that epoch); if another peer won, returns that peer's assignment.
   * Resolves undefined when the stored assignment is invalid (the round is
   * lost; peers wait for the next one). Rejects on NATS errors.
   */
  async formRound(epoch: number, candidates: readonly Candidate[]): Promise<FormedRound | undefined> {
    const existing = this.#known.get(epoch);
    if (existing) return { assignment: existing, leader: false };
    const mine = buildAssignment({
      epoch,
      leader: this.#opts.selfPeerId,
      createdAt: this.#now(),
      maxGroupSize: this.#opts.maxGroupSize,
      seed: this.#opts.seed,
      candidates,
    });
    try {
      await this.#kv.create(roundKey(epoch), encodeAssignment(mine), ROUND_TTL);
    } catch (createErr) {
      // Lost the race (or NATS failed): whoever won, their value is the round.
      const theirs = await this.#read(epoch);
      if (theirs.state === 'ok') return { assignment: theirs.assignment, leader: false };
      if (theirs.state === 'invalid') return undefined;
      this.#metrics().natsErrors.inc({ op: 'create' });
      throw createErr;
    }
    this.#metrics().roundsLed.inc();
    this.#remember(mine);
    this.#opts.log.info('round formed', { epoch, groups: mine.groups.map((g) => g.length), waiting: mine.waiting.length });
    await this.#raiseEpoch(epoch).catch((e: unknown) => this.#opts.log.warn('could not record the swarm epoch', { epoch, error: errorMessage(e) }));
    return { assignment: mine, leader: true };
  }

  /** Raises the `epoch` key to `epoch` (compare-and-set; never lowers it). */
  async #raiseEpoch(epoch: number): Promise<void> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const e = await this.#kv.get(EPOCH_KEY);
      const current = e && e.operation === 'PUT' ? Number(e.string()) : NaN;
      if (Number.isSafeInteger(current) && current >= epoch) return;
      try {
        if (e && e.operation === 'PUT') await this.#kv.update(EPOCH_KEY, String(epoch), e.revision);
        else await this.#kv.create(EPOCH_KEY, String(epoch));
        return;
      } catch {
        // Someone else moved it; read again.
      }
    }
  }

  /**
   * Settles which averaged vector round `roundId` produced (swarm/agreement.ts):
   * the first member to call this writes its digest; everyone compares with
   * what is stored. Never rejects: NATS failures and invalid stored values
   * resolve `unconfirmed` (logged and counted).
   */
  async agree(roundId: string, sha256: string): Promise<Agreement> {
    const key = resultKey(roundId);
    const self = this.#opts.selfPeerId;
    try {
      await this.#kv.create(key, encodeResultDigest({ v: RESULT_DIGEST_VERSION, roundId, peerId: self, sha256 }), ROUND_TTL);
      return { state: 'canonical', writer: self };
    } catch (createErr) {
      let e;
      try {
        e = await this.#kv.get(key);
      } catch (getErr) {
        this.#metrics().natsErrors.inc({ op: 'get' });
        return { state: 'unconfirmed', error: `reading ${key}: ${errorMessage(getErr)}` };
      }
      if (!e || e.operation !== 'PUT') {
        this.#metrics().natsErrors.inc({ op: 'create' });
        return { state: 'unconfirmed', error: `writing ${key}: ${errorMessage(createErr)}` };
      }
      const d = decodeResultDigest(e.value, roundId);
      if (!d.ok) {
        this.#metrics().badRecords.inc({ kind: 'result' });
        this.#opts.log.warn('ignoring bad round result digest', { key, error: d.error });
        return { state: 'unconfirmed', error: `${key}: ${d.error}` };
      }
      return compareDigest(sha256, d.digest);
    }
  }

  /**
   * Whether some member of round `roundId` finished it (its result digest is
   * stored): that member applied the round's step. Never rejects: a NATS
   * failure counts and resolves false (unknown).
   */
  async hasResult(roundId: string): Promise<boolean> {
    try {
      const e = await this.#kv.get(resultKey(roundId));
      return e !== null && e.operation === 'PUT';
    } catch (err) {
      this.#metrics().natsErrors.inc({ op: 'get' });
      this.#opts.log.debug('could not read a round result digest', { roundId, error: errorMessage(err) });
      return false;
    }
  }

  /** The highest epoch any leader formed a round for, or -1 when none is recorded. */
  async swarmEpoch(): Promise<number> {
    const e = await this.#kv.get(EPOCH_KEY);
    if (!e || e.operation !== 'PUT') return -1;
    const v = Number(e.string());
    if (!Number.isSafeInteger(v) || v < 0) {
      this.#metrics().badRecords.inc({ kind: 'assignment' });
      return -1;
    }
    return v;
  }

  /** Calls `fn` for each new assignment seen (the peer's own ones included). */
  onAssignment(fn: (a: RoundAssignment) => void): () => void {
    return this.#listeners.add(fn);
  }

  close(): void {
    this.#watch?.close();
    this.#listeners.clear();
  }
}
