/**
 * The cap on self-reported samples, against a peer that claims samples it
 * never computed. Pure: no I/O, no clock.
 *
 * A peer's `samples` count toward the swarm's target and become its weight
 * in the round assignment, and nothing stops a peer from claiming 1e9, which
 * would end every epoch at once with tiny honest batches. So every watcher
 * measures each peer's throughput on the NATS server's clock (the server
 * timestamps of its records, not the peer's `updatedAt`), and counts a claim
 * only up to what that throughput allows:
 *
 *   allowed_i = ⌈ratio × medianRate × elapsed_i⌉ + slack
 *
 * - rate of a peer: growth of its reported samples per server-second, over
 *   its current epoch and the HISTORY − 1 before it. A segment's growth is
 *   timed from its last record still at the epoch's starting samples to its
 *   last record that grew, so the wait for a round (records that refresh
 *   without growing) does not dilute the rate.
 * - medianRate: the median of the known rates of the live peers (the lower
 *   middle one for an even count), so one liar, even in a pair, cannot
 *   raise it. Rates do not depend on the epoch, so peers behind (syncing)
 *   count too. Peers that never grew (tag-alongs) have no rate.
 * - elapsed_i: server time from the peer's first record at its epoch that
 *   this watcher saw to its latest one.
 * - slack: the larger of `floorSamples` (one report's worth, e.g. a
 *   micro-batch: reports grow in such steps, and with no rate known yet it
 *   is all a claim can count) and SLACK_MS of the allowed rate (reporting
 *   jitter: a peer's first record at an epoch can land late, its writes
 *   coalesce while one is in flight).
 *
 * A peer's reported samples/s, which extrapolates its claim toward the ETA
 * (the matchmaking window), is capped at ratio × medianRate likewise. This
 * watcher's own record is its own count and never capped.
 */
import type { MembershipRecord } from './record.ts';

/** Epoch segments a peer's rate is measured over: the current one and the three before it. */
export const HISTORY = 4;
/** Time of reporting jitter the slack allows at the capped rate. */
export const SLACK_MS = 1_000;

/** One record of a peer as the watch saw it. */
export interface Observation {
  /** Server time of the entry (the NATS server's clock). */
  storedAt: number;
  epoch: number;
  samples: number;
}

/** Growth of a peer's samples over one epoch, and the server time it took. */
interface Segment {
  growth: number;
  ms: number;
}

/** What a watcher keeps per peer: its current epoch segment and a few finished ones. */
export interface PeerThroughput {
  epoch: number;
  /** Server time and samples of the first record at `epoch` this watcher saw. */
  startAt: number;
  startSamples: number;
  /** This watcher saw the peer before it entered `epoch`, so `startAt` is when it entered. */
  entered: boolean;
  /** Server time of the last record still at `startSamples`: growth is timed from here. */
  baseAt: number;
  /** Samples and server time of the last record whose samples grew (or the start). */
  grownSamples: number;
  grownAt: number;
  /** Server time of the latest record. */
  lastAt: number;
  /** Finished segments, newest first, at most HISTORY − 1. */
  past: readonly Segment[];
}

function currentSegment(s: PeerThroughput): Segment {
  return { growth: s.grownSamples - s.startSamples, ms: s.grownAt - s.baseAt };
}

function startSegment(o: Observation, entered: boolean, past: readonly Segment[]): PeerThroughput {
  return { epoch: o.epoch, startAt: o.storedAt, startSamples: o.samples, entered, baseAt: o.storedAt, grownSamples: o.samples, grownAt: o.storedAt, lastAt: o.storedAt, past };
}

/**
 * The state after one more record of a peer. Records older than the last one
 * seen, or the same again (a replay after the watch restarted), change nothing. A new epoch,
 * or samples that went down (the peer restarted its count), starts a new
 * segment.
 */
export function observe(prev: PeerThroughput | undefined, o: Observation): PeerThroughput {
  if (prev === undefined) return startSegment(o, false, []);
  // Server timestamps have millisecond precision: two writes can share one, a replay repeats one.
  if (o.storedAt < prev.lastAt || (o.storedAt === prev.lastAt && o.epoch === prev.epoch && o.samples === prev.grownSamples)) return prev;
  if (o.epoch !== prev.epoch || o.samples < prev.grownSamples) {
    const seg = currentSegment(prev);
    const past = seg.growth > 0 && seg.ms > 0 ? [seg, ...prev.past].slice(0, HISTORY - 1) : prev.past;
    return startSegment(o, true, past);
  }
  if (o.samples === prev.grownSamples) {
    return prev.grownSamples === prev.startSamples ? { ...prev, baseAt: o.storedAt, grownAt: o.storedAt, lastAt: o.storedAt } : { ...prev, lastAt: o.storedAt };
  }
  return { ...prev, grownSamples: o.samples, grownAt: o.storedAt, lastAt: o.storedAt };
}

/** Samples per server-second the peer's reports grew by, or undefined while nothing grew over measurable time. */
export function measuredRate(s: PeerThroughput): number | undefined {
  let growth = 0;
  let ms = 0;
  for (const seg of [currentSegment(s), ...s.past]) {
    if (seg.growth <= 0 || seg.ms <= 0) continue;
    growth += seg.growth;
    ms += seg.ms;
  }
  return ms > 0 ? (growth / ms) * 1000 : undefined;
}

/** The median of `xs`, taking the lower middle value for an even count; undefined when empty. */
export function lowerMedian(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}

export interface ClaimCapInput {
  /** Live records; this watcher's own as of now. */
  records: readonly MembershipRecord[];
  /** Per peer id, what the watch measured. */
  throughput: ReadonlyMap<string, PeerThroughput>;
  /** This watcher: its record is never capped. */
  selfPeerId: string;
  /** spec.training.averaging.robust.maxSamplesRatio, ≥ 1. */
  ratio: number;
  /** Samples a claim may always count: one report's worth (see the file comment). */
  floorSamples: number;
}

export interface CappedClaim {
  peerId: string;
  epoch: number;
  claimed: number;
  allowed: number;
  /**
   * The excess is growth this watcher timed (it saw the peer enter the
   * epoch, or its claim grew faster than allowed). False when the peer
   * already claimed it in the first record this watcher saw of it (a watcher
   * that joined mid-epoch cannot tell a liar from an honest peer).
   */
  measured: boolean;
}

export interface ClaimCapResult {
  /** `records` with samples, and the samples/s used to extrapolate them, capped. */
  records: MembershipRecord[];
  capped: CappedClaim[];
  /** Samples per server-second; undefined while no live peer's rate is known. */
  medianRate: number | undefined;
}

/** Caps every other peer's claim at what its measured time allows (see the file comment). */
export function capClaims(inp: ClaimCapInput): ClaimCapResult {
  if (!(inp.ratio >= 1 && Number.isFinite(inp.ratio))) throw new RangeError(`maxSamplesRatio must be a number >= 1, got ${inp.ratio}`);
  if (!(inp.floorSamples >= 0 && Number.isFinite(inp.floorSamples))) throw new RangeError(`floorSamples must be a number >= 0, got ${inp.floorSamples}`);
  const rates: number[] = [];
  for (const r of inp.records) {
    const s = inp.throughput.get(r.peerId);
    const rate = s === undefined ? undefined : measuredRate(s);
    if (rate !== undefined) rates.push(rate);
  }
  const medianRate = lowerMedian(rates);
  // Samples per second a claim may grow by; 0 while no rate is known, so only the floor counts.
  const allowedRate = inp.ratio * (medianRate ?? 0);
  const slack = Math.max(inp.floorSamples, Math.ceil((allowedRate * SLACK_MS) / 1000));
  const capped: CappedClaim[] = [];
  const records = inp.records.map((r) => {
    if (r.peerId === inp.selfPeerId) return r;
    const s = inp.throughput.get(r.peerId);
    // A record the watch has not measured at this epoch yet has had no measured time.
    const current = s !== undefined && s.epoch === r.epoch ? s : undefined;
    const elapsedMs = current === undefined ? 0 : current.lastAt - current.startAt;
    const allowed = Math.ceil((allowedRate * elapsedMs) / 1000) + slack;
    const sps = Math.min(r.samplesPerSecond, allowedRate);
    if (r.samples <= allowed) return sps === r.samplesPerSecond ? r : { ...r, samplesPerSecond: sps };
    const measured = current !== undefined && (current.entered || r.samples - current.startSamples > allowed);
    capped.push({ peerId: r.peerId, epoch: r.epoch, claimed: r.samples, allowed, measured });
    return { ...r, samples: allowed, samplesPerSecond: sps };
  });
  return { records, capped, medianRate };
}
