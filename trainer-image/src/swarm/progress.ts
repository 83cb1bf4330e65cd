/**
 * Global progress of a swarm, as a pure function of the live membership
 * records. No I/O, no clock: `nowMs` comes in.
 *
 * - The current epoch is the highest epoch among live peers, but never below
 *   the caller's high-water mark, so epochs never go backwards even when the
 *   peers that carried the highest epoch expire.
 * - Samples toward `targetBatchSize` are summed over live peers at that epoch.
 * - The ETA extrapolates each peer's samples by its samples/s since its last
 *   update (clamped: a stale or future-dated update does not run away).
 */
import type { MembershipRecord } from './record.ts';

export interface ProgressInput {
  records: readonly MembershipRecord[];
  nowMs: number;
  /** The caller's monotonic epoch high-water mark. */
  highWaterEpoch: number;
  targetBatchSize: number;
  /** Peers start matchmaking once the ETA is within this window; 0 = only at the target. */
  matchmakingWindowMs: number;
  /** Longest extrapolation of a record's samples; typically the membership TTL. */
  maxExtrapolationMs: number;
}

export interface GlobalProgress {
  epoch: number;
  /** Reported samples of live peers at `epoch`. */
  samples: number;
  /** Samples extrapolated to `nowMs`. */
  estimatedSamples: number;
  samplesPerSecond: number;
  /** Live peers at `epoch`. */
  peers: number;
  /** Milliseconds until the target, 0 when reached, Infinity when nobody accumulates. */
  etaMs: number;
  targetReached: boolean;
  /** The ETA is inside the matchmaking window (window > 0). */
  withinWindow: boolean;
  /** Time to form groups for `epoch`: target reached, or the ETA inside the window. */
  ready: boolean;
}

export function computeProgress(inp: ProgressInput): GlobalProgress {
  let epoch = inp.highWaterEpoch;
  for (const r of inp.records) if (r.epoch > epoch) epoch = r.epoch;
  let samples = 0;
  let estimated = 0;
  let sps = 0;
  let peers = 0;
  for (const r of inp.records) {
    if (r.epoch !== epoch) continue;
    peers++;
    samples += r.samples;
    sps += r.samplesPerSecond;
    const dt = Math.min(Math.max(0, inp.nowMs - r.updatedAt), inp.maxExtrapolationMs);
    estimated += r.samples + (r.samplesPerSecond * dt) / 1000;
  }
  const targetReached = samples >= inp.targetBatchSize;
  const remaining = Math.max(0, inp.targetBatchSize - estimated);
  const etaMs = targetReached || remaining === 0 ? 0 : sps > 0 ? (remaining / sps) * 1000 : Infinity;
  const withinWindow = inp.matchmakingWindowMs > 0 && etaMs <= inp.matchmakingWindowMs;
  return {
    epoch,
    samples,
    estimatedSamples: estimated,
    samplesPerSecond: sps,
    peers,
    etaMs,
    targetReached,
    withinWindow,
    ready: peers > 0 && (targetReached || withinWindow),
  };
}
