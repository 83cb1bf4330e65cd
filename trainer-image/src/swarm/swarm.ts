/**
 * A peer's seat in its swarm: the libp2p host (gated by membership), its
 * membership record kept fresh in NATS KV, the live view of the other peers,
 * global progress, and the matchmaker. The caller owns the local progress
 * (epoch, samples) and tells the swarm about it with setLocal().
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets, Subjects, type SwarmRef, type TelemetryReport } from '../../../api/index.ts';
import type { AssignmentMember } from './assignment.ts';
import { DEFAULT_MEMBERSHIP_TTL_MS, DEFAULT_REFRESH_FRACTION, MAX_UNACKED_WRITES } from './constants.ts';
import { membershipGater } from './gater.ts';
import type { Candidate } from './groups.ts';
import { createRelayedHost, hostMultiaddrs, rememberPeer } from './host.ts';
import { circuitMultiaddrs, parseRelay, relayIdsIn, type RelayReservations } from './relay-client.ts';
import { errorMessage, type SwarmLogger } from './log.ts';
import { Matchmaker } from './matchmaking.ts';
import { Membership } from './membership.ts';
import type { SwarmMetrics } from './metrics.ts';
import { computeProgress, type GlobalProgress } from './progress.ts';
import { RECORD_VERSION } from './constants.ts';
import type { MembershipRecord } from './record.ts';
import { capClaims } from './throughput.ts';

export interface SwarmJoinOptions {
  nc: NatsConnection;
  swarm: SwarmRef;
  /** Seed of the group placement; the swarm's uid. */
  seed: string;
  pod: { name: string; ip: string; cluster?: string };
  /** libp2p TCP port; 0 = any free port. */
  p2pPort: number;
  /** Address to announce instead of the pod IP (HostPort network mode). */
  announceIp?: string;
  /**
   * Relay network mode: circuit relay multiaddrs (with /p2p/<relay id>). The
   * host is reachable only through them and announces one circuit address per relay.
   */
  relays?: readonly string[];
  /** Relay mode: how long to wait for a first reservation. @default 120000 */
  relayWaitMs?: number;
  maxGroupSize: number;
  /** Replicas of the swarm's buckets (a clustered NATS). @default 1 */
  replicas?: number;
  /** @default DEFAULT_MEMBERSHIP_TTL_MS */
  membershipTtlMs?: number;
  log: SwarmLogger;
  metrics: SwarmMetrics;
  privateKey?: PrivateKey;
  now?: () => number;
  /**
   * Count other peers' samples only up to what their measured throughput
   * allows (swarm/throughput.ts); undefined = count claims as they are.
   */
  claimCap?: ClaimCapOptions;
}

export interface ClaimCapOptions {
  /** spec.training.averaging.robust.maxSamplesRatio. */
  maxSamplesRatio: number;
  /** Samples a claim may always count: one report's worth (a micro-batch). */
  floorSamples: number;
}

export interface LocalProgress {
  epoch: number;
  samples: number;
  samplesPerSecond: number;
}

export interface ProgressTarget {
  highWaterEpoch: number;
  targetBatchSize: number;
  matchmakingWindowMs: number;
}

export class Swarm {
  readonly host: Libp2p;
  /** The host's identity key (the all-reduce signs with it). */
  readonly privateKey: PrivateKey;
  readonly peerId: string;
  readonly multiaddrs: string[];
  readonly membership: Membership;
  readonly matchmaker: Matchmaker;
  readonly #opts: SwarmJoinOptions;
  readonly #now: () => number;
  /** Relay mode: the reservation keeper, whose first reservation register() awaits. */
  readonly #reservations: RelayReservations | undefined;
  #local: LocalProgress = { epoch: 0, samples: 0, samplesPerSecond: 0 };
  #timer: NodeJS.Timeout | undefined;
  #left = false;
  /** Membership writes sent and not yet acknowledged. */
  #unacked = 0;
  #lastWrite: Promise<boolean> = Promise.resolve(true);
  #again = false;
  #reconnectedAt = -Infinity;
  #failingSince: number | undefined;
  #lastFailLog = -Infinity;
  /** The epoch each capped peer was last reported at: one log line and one count per peer and epoch. */
  readonly #cappedReported = new Map<string, number>();

  private constructor(host: Libp2p, privateKey: PrivateKey, membership: Membership, matchmaker: Matchmaker, opts: SwarmJoinOptions, reservations: RelayReservations | undefined) {
    this.host = host;
    this.#reservations = reservations;
    this.privateKey = privateKey;
    this.peerId = host.peerId.toString();
    // Relay mode: the relays' addresses as configured (reachable from every placement), not what the relays report.
    this.multiaddrs = opts.relays !== undefined ? circuitMultiaddrs(opts.relays, this.peerId) : hostMultiaddrs(host);
    this.membership = membership;
    this.matchmaker = matchmaker;
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Opens the swarm's buckets and starts the gated host. The peer is not yet
   * registered: call setLocal() and then register().
   */
  static async join(opts: SwarmJoinOptions): Promise<Swarm> {
    // Relays we may dial: ours, and those that live members announce in their circuit addresses.
    const ownRelays = new Set((opts.relays ?? []).map((r) => parseRelay(r).peerId.toString()));
    const membership = await Membership.open(opts.nc, {
      bucket: Buckets.membership(opts.swarm),
      replicas: opts.replicas ?? 1,
      ttlMs: opts.membershipTtlMs ?? DEFAULT_MEMBERSHIP_TTL_MS,
      log: opts.log,
      metrics: opts.metrics,
      ...(opts.now ? { now: opts.now } : {}),
    });
    const privateKey = opts.privateKey ?? (await generateKeyPair('Ed25519'));
    let self: string | undefined;
    const isRelay = (id: string): boolean => ownRelays.has(id) || membership.live().some((r) => relayIdsIn(r.multiaddrs).includes(id));
    let host: Libp2p;
    let reservations: RelayReservations | undefined;
    try {
      ({ host, reservations } = await createRelayedHost({
        ip: opts.pod.ip,
        port: opts.p2pPort,
        ...(opts.announceIp !== undefined ? { announceIp: opts.announceIp } : {}),
        ...(opts.relays !== undefined ? { relays: opts.relays, onRelayReservations: (n: number) => opts.metrics.relayReservations.set(n) } : {}),
        ...(opts.relayWaitMs !== undefined ? { relayWaitMs: opts.relayWaitMs } : {}),
        connectionGater: membershipGater({ isMember: (id) => membership.isRegistered(id), isRelay, metrics: opts.metrics, log: opts.log, get self() { return self; } }),
        privateKey,
        log: opts.log,
      }));
    } catch (e) {
      membership.close();
      throw e;
    }
    self = host.peerId.toString();
    let matchmaker: Matchmaker;
    try {
      matchmaker = await Matchmaker.open(opts.nc, {
        bucket: Buckets.rounds(opts.swarm),
        replicas: opts.replicas ?? 1,
        selfPeerId: self,
        maxGroupSize: opts.maxGroupSize,
        seed: opts.seed,
        log: opts.log,
        metrics: opts.metrics,
        ...(opts.now ? { now: opts.now } : {}),
      });
    } catch (e) {
      membership.close();
      await host.stop();
      throw e;
    }
    return new Swarm(host, privateKey, membership, matchmaker, opts, reservations);
  }

  /**
   * The epoch a newly started peer begins at: the highest epoch among live
   * peers; with no live peers, one past the last round any leader formed
   * (that round is over, since nobody is left in it).
   */
  async startEpoch(): Promise<number> {
    const others = this.membership.live().filter((r) => r.peerId !== this.peerId);
    const swarmEpoch = await this.matchmaker.swarmEpoch();
    const maxLive = others.reduce((m, r) => Math.max(m, r.epoch), -1);
    if (others.length === 0) return swarmEpoch + 1;
    return Math.max(maxLive, swarmEpoch, 0);
  }

  get local(): LocalProgress {
    return { ...this.#local };
  }

  setLocal(p: LocalProgress): void {
    this.#local = { ...p };
  }

  /** This peer's record as of now. */
  record(): MembershipRecord {
    const r: MembershipRecord = {
      v: RECORD_VERSION,
      peerId: this.peerId,
      multiaddrs: this.multiaddrs,
      epoch: this.#local.epoch,
      samples: Math.floor(this.#local.samples),
      samplesPerSecond: this.#local.samplesPerSecond,
      updatedAt: Math.floor(this.#now()),
      pod: this.#opts.pod.name,
    };
    if (this.#opts.pod.cluster !== undefined) r.cluster = this.#opts.pod.cluster;
    return r;
  }

  /**
   * Publishes the record now; logs and swallows NATS errors (the next
   * refresh retries). Up to MAX_UNACKED_WRITES writes may await their
   * acknowledgement at once, so a sample update goes out as soon as it is
   * made; beyond that, calls coalesce into one more write when one is
   * acknowledged, so an outage never piles writes up. Resolves true on success.
   */
  publish(): Promise<boolean> {
    if (this.#left) return Promise.resolve(false);
    if (this.#unacked >= MAX_UNACKED_WRITES) {
      this.#again = true;
      return this.#lastWrite;
    }
    this.#unacked++;
    this.#lastWrite = this.membership.publish(this.record()).then(
      () => {
        if (this.#failingSince !== undefined) this.#opts.log.info('membership refresh works again', { failedForMs: this.#now() - this.#failingSince });
        this.#failingSince = undefined;
        return true;
      },
      (e: unknown) => {
        const now = this.#now();
        this.#failingSince ??= now;
        if (now - this.#lastFailLog >= 5_000) {
          this.#lastFailLog = now;
          this.#opts.log.warn('could not refresh membership; retrying', { error: errorMessage(e) });
        }
        return false;
      },
    ).finally(() => {
      this.#unacked--;
      if (this.#again && !this.#left) {
        this.#again = false;
        void this.publish();
      }
    });
    return this.#lastWrite;
  }

  /**
   * Registers now and keeps the record fresh (every TTL/4, and right after a NATS reconnect).
   * Relay mode: then waits for a first reservation, since relays admit only registered
   * members (rejects after relayWaitMs, default 120 s).
   */
  async register(): Promise<void> {
    await this.membership.publish(this.record());
    const every = Math.max(100, Math.floor(this.membership.ttlMs / DEFAULT_REFRESH_FRACTION));
    this.#timer = setInterval(() => void this.publish(), every);
    void (async () => {
      try {
        for await (const s of this.#opts.nc.status()) {
          if (s.type === 'reconnect') {
            this.#reconnectedAt = this.#now();
            void this.publish();
          }
        }
      } catch {
        // ends with the connection
      }
    })();
    await this.#reservations?.first(this.#opts.relayWaitMs ?? 120_000);
  }

  /**
   * True for a short while after a NATS reconnect (half a TTL): peers are
   * re-registering and the view is filling up again, so it is no time to
   * lead a round from it.
   */
  settling(): boolean {
    return this.#now() - this.#reconnectedAt < this.membership.ttlMs / 2;
  }

  /** Live records, with this peer's own record as of now. */
  liveRecords(): MembershipRecord[] {
    const out = this.membership.live().filter((r) => r.peerId !== this.peerId);
    if (!this.#left) out.push(this.record());
    return out;
  }

  /**
   * Live records as they count toward progress and weights: with claimCap,
   * other peers' samples (and samples/s) at most what their throughput,
   * measured on the NATS server's clock, allows. Capped peers are counted
   * in cappedClaims and logged once per peer and epoch.
   */
  countedRecords(): MembershipRecord[] {
    const live = this.liveRecords();
    const cap = this.#opts.claimCap;
    if (cap === undefined) return live;
    const r = capClaims({ records: live, throughput: this.membership.throughput(), selfPeerId: this.peerId, ratio: cap.maxSamplesRatio, floorSamples: cap.floorSamples });
    for (const id of this.#cappedReported.keys()) if (!live.some((l) => l.peerId === id)) this.#cappedReported.delete(id);
    for (const c of r.capped) {
      if (this.#cappedReported.get(c.peerId) === c.epoch) continue;
      this.#cappedReported.set(c.peerId, c.epoch);
      this.#opts.metrics.cappedClaims.inc({ measured: String(c.measured) });
      const meta = { peer: c.peerId, epoch: c.epoch, claimed: c.claimed, allowed: c.allowed, measured: c.measured, medianSamplesPerSecond: r.medianRate };
      // An unmeasured cap is what a peer that joined mid-epoch sees of honest peers too: not worth a warning.
      if (c.measured) this.#opts.log.warn('capped a peer\'s claimed samples at its measured throughput', meta);
      else this.#opts.log.debug('capped a peer\'s claimed samples at its measured throughput', meta);
    }
    return r.records;
  }

  progress(t: ProgressTarget): GlobalProgress {
    return computeProgress({
      records: this.countedRecords(),
      nowMs: this.#now(),
      highWaterEpoch: t.highWaterEpoch,
      targetBatchSize: t.targetBatchSize,
      matchmakingWindowMs: t.matchmakingWindowMs,
      maxExtrapolationMs: this.membership.ttlMs,
    });
  }

  /** Candidates for round `epoch`: live peers at that epoch, weighted by their counted samples. */
  candidates(epoch: number): Candidate[] {
    return this.countedRecords()
      .filter((r) => r.epoch === epoch)
      .map((r) => {
        const c: Candidate = { peerId: r.peerId, weight: r.samples, multiaddrs: r.multiaddrs };
        if (r.bandwidth !== undefined) c.bandwidth = r.bandwidth;
        return c;
      });
  }

  /** Puts every member's addresses into the host's peer store before a round. */
  async prepareRound(members: readonly AssignmentMember[]): Promise<void> {
    for (const m of members) await rememberPeer(this.host, m.peerId, m.multiaddrs);
  }

  /** Publishes a telemetry report on the swarm's telemetry subject (core NATS, fire and forget). */
  publishTelemetry(report: TelemetryReport): void {
    try {
      this.#opts.nc.publish(Subjects.telemetry(this.#opts.swarm), JSON.stringify(report));
    } catch (e) {
      this.#opts.log.warn('could not publish telemetry', { error: errorMessage(e) });
    }
  }

  /** Deregisters (deletes the record at once), closes watches and stops the host. */
  async leave(): Promise<void> {
    if (this.#left) return;
    this.#left = true;
    if (this.#timer) clearInterval(this.#timer);
    try {
      await this.membership.deregister(this.peerId);
    } catch (e) {
      this.#opts.log.warn('could not deregister; the entry will expire with its TTL', { error: errorMessage(e) });
    }
    this.membership.close();
    this.matchmaker.close();
    await this.host.stop();
  }
}
