/**
 * Swarm membership in a JetStream KV bucket: key = peer id, value = a
 * MembershipRecord. The bucket has a bucket-wide TTL (max_age): each refresh
 * is a new message, so an entry lives until TTL after its last refresh, and
 * a dead peer's entry expires on its own. With a marker TTL the server
 * leaves a delete marker at expiry, so watchers learn of it at once
 * (nats-server ≥ 2.11). The bucket lives in JetStream storage, so it
 * survives a NATS restart.
 *
 * The local view is fed by a KV watch; a record that fails validation is
 * logged, counted and ignored. Every entry also carries the server's
 * timestamp, and the view drops entries older than the TTL (plus slack) even
 * if no marker arrived, e.g. while NATS was down. From those server
 * timestamps the view also measures each live peer's throughput
 * (throughput.ts), which bounds the samples it may claim.
 */
import { KvWatchInclude, type KV, type KvEntry, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { openBucket } from './bucket.ts';
import { DEFAULT_MEMBERSHIP_TTL_MS, MEMBERSHIP_MARKER_TTL_MS } from './constants.ts';
import { Listeners } from './listeners.ts';
import { errorMessage, type SwarmLogger } from './log.ts';
import type { SwarmMetrics } from './metrics.ts';
import { decodeRecord, encodeRecord, type MembershipRecord } from './record.ts';
import { RestartingWatch } from './restarting-watch.ts';
import { observe, type PeerThroughput } from './throughput.ts';

export interface MembershipOptions {
  bucket: string;
  /** Stream replicas (1, or 3/5 on a JetStream cluster). @default 1 */
  replicas?: number;
  /** @default DEFAULT_MEMBERSHIP_TTL_MS */
  ttlMs?: number;
  log: SwarmLogger;
  metrics: SwarmMetrics;
  /** Injected clock. @default Date.now */
  now?: () => number;
}

interface LiveEntry {
  record: MembershipRecord;
  /** Server time of the entry. */
  storedAt: number;
}

export class Membership {
  readonly bucket: string;
  readonly ttlMs: number;
  readonly #kv: KV;
  readonly #log: SwarmLogger;
  readonly #metrics: SwarmMetrics;
  readonly #now: () => number;
  readonly #live = new Map<string, LiveEntry>();
  /** Per live peer, a few numbers; a peer's entry goes when the peer leaves the view. */
  readonly #throughput = new Map<string, PeerThroughput>();
  readonly #listeners: Listeners<[peerId: string, record: MembershipRecord | undefined]>;
  #watch: RestartingWatch<KvWatchEntry> | undefined;
  /** Marks the end of the current watch's initial replay. */
  #replayed: () => void = () => undefined;
  #replay: Promise<void> = Promise.resolve();
  /** Puts not acknowledged yet (deregister waits for them: its delete must land last). */
  readonly #pending = new Set<Promise<unknown>>();

  private constructor(kv: KV, bucket: string, opts: MembershipOptions) {
    this.#kv = kv;
    this.bucket = bucket;
    this.ttlMs = opts.ttlMs ?? DEFAULT_MEMBERSHIP_TTL_MS;
    this.#log = opts.log;
    this.#metrics = opts.metrics;
    this.#now = opts.now ?? Date.now;
    this.#listeners = new Listeners(opts.log, 'membership listener failed');
  }

  /** Opens (creating if needed) the bucket and starts watching it. Resolves once the initial values are loaded. */
  static async open(nc: NatsConnection, opts: MembershipOptions): Promise<Membership> {
    const ttlMs = opts.ttlMs ?? DEFAULT_MEMBERSHIP_TTL_MS;
    const kv = await openBucket(nc, opts.bucket, { history: 1, replicas: opts.replicas ?? 1, ttl: ttlMs, markerTTL: MEMBERSHIP_MARKER_TTL_MS, storage: 'file' }, opts.log);
    const m = new Membership(kv, opts.bucket, opts);
    m.#watch = await RestartingWatch.start<KvWatchEntry>({
      open: () => m.#openWatch(),
      onEntry: (e) => {
        m.#apply(e);
        if (e.isUpdate) m.#replayed();
      },
      onFailure: (e) => {
        m.#metrics.natsErrors.inc({ op: 'watch' });
        m.#log.warn('membership watch failed', { bucket: m.bucket, error: errorMessage(e) });
      },
      onEnd: () => m.#replayed(),
      afterOpen: () => m.#awaitReplay(),
      onRestartFailure: (err) => m.#log.warn('membership watch restart failed', { error: errorMessage(err) }),
    });
    return m;
  }

  // The watch first replays the last value of every key; the last replayed entry is the first with isUpdate.
  async #openWatch(): Promise<QueuedIterator<KvWatchEntry>> {
    const w = await this.#kv.watch({ include: KvWatchInclude.LastValue });
    this.#replay = new Promise<void>((r) => (this.#replayed = r));
    return w;
  }

  /** Waits (at most 2 s) until the current watch has replayed the bucket. */
  async #awaitReplay(): Promise<void> {
    const replay = this.#replay;
    const replayed = this.#replayed;
    // An empty bucket replays nothing, so nothing would mark the end of the replay.
    const status = await this.#kv.status();
    if (status.values === 0) replayed();
    await Promise.race([replay, new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  #apply(e: KvEntry): void {
    const key = e.key;
    if (e.operation !== 'PUT') {
      this.#forget(key);
      return;
    }
    const d = decodeRecord(e.value, key);
    if (!d.ok) {
      this.#metrics.badRecords.inc({ kind: 'membership' });
      this.#log.warn('ignoring bad membership record', { bucket: this.bucket, key: key.slice(0, 128), error: d.error });
      this.#forget(key);
      return;
    }
    const storedAt = e.created.getTime();
    this.#live.set(key, { record: d.record, storedAt });
    this.#throughput.set(key, observe(this.#throughput.get(key), { storedAt, epoch: d.record.epoch, samples: d.record.samples }));
    this.#emit(key, d.record);
  }

  #forget(key: string): void {
    this.#throughput.delete(key);
    if (this.#live.delete(key)) this.#emit(key, undefined);
  }

  #emit(peerId: string, record: MembershipRecord | undefined): void {
    this.#metrics.livePeers.set(this.#live.size);
    this.#listeners.emit(peerId, record);
  }

  /** Entries of the local view whose server timestamp is within TTL (plus one refresh of slack). */
  live(): MembershipRecord[] {
    const limit = this.#now() - this.ttlMs * 1.25;
    const out: MembershipRecord[] = [];
    for (const [k, e] of this.#live) {
      if (e.storedAt < limit) {
        this.#forget(k);
        continue;
      }
      out.push(e.record);
    }
    return out;
  }

  /** What the watch measured of each peer in the local view, by peer id (server clock). */
  throughput(): ReadonlyMap<string, PeerThroughput> {
    return this.#throughput;
  }

  /** The live record of `peerId` in the local view. */
  get(peerId: string): MembershipRecord | undefined {
    const e = this.#live.get(peerId);
    if (!e || e.storedAt < this.#now() - this.ttlMs * 1.25) return undefined;
    return e.record;
  }

  /**
   * Whether `peerId` is registered: the local view, or else one read of the
   * bucket (a peer that registered a moment ago may not have reached our
   * watch yet). Never throws; a failed read counts as not registered.
   */
  async isRegistered(peerId: string): Promise<boolean> {
    if (this.get(peerId)) return true;
    try {
      const e = await this.#kv.get(peerId);
      if (!e || e.operation !== 'PUT') return false;
      const d = decodeRecord(e.value, peerId);
      if (!d.ok) {
        this.#metrics.badRecords.inc({ kind: 'membership' });
        return false;
      }
      return e.created.getTime() >= this.#now() - this.ttlMs * 1.25;
    } catch (e) {
      this.#metrics.natsErrors.inc({ op: 'get' });
      this.#log.debug('membership lookup failed', { peerId, error: errorMessage(e) });
      return false;
    }
  }

  /**
   * Writes (refreshes) a record. Writes go out at once, without waiting for the
   * previous write's acknowledgement: one connection delivers them to the server
   * in call order, and the server stores them in that order. Waiting for acks
   * would hold a sample update back until the trainer's event loop turns again,
   * a whole micro-batch later. Rejects on NATS errors.
   */
  publish(record: MembershipRecord): Promise<void> {
    const p = this.#kv.put(record.peerId, encodeRecord(record));
    const settled = p.catch(() => undefined);
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
    return p.then(
      () => undefined,
      (e: unknown) => {
        this.#metrics.natsErrors.inc({ op: 'put' });
        throw e;
      },
    );
  }

  /** Removes a peer's entry at once (clean leave). */
  async deregister(peerId: string): Promise<void> {
    await Promise.all(this.#pending);
    await this.#kv.delete(peerId);
  }

  /** Calls `fn(peerId, record | undefined)` on every change of the view. Returns an unsubscribe function. */
  onChange(fn: (peerId: string, record: MembershipRecord | undefined) => void): () => void {
    return this.#listeners.add(fn);
  }

  close(): void {
    this.#watch?.close();
    this.#listeners.clear();
  }
}
