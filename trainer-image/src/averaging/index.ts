/**
 * Averaging layer: a fault-tolerant, sample-weighted butterfly all-reduce of
 * one flat Float32Array over libp2p streams (protocol `Protocols.allReduce`).
 *
 * This file is the public face. The implementation lives in `averager.ts`
 * (protocol handler, parking of early streams) and `round.ts` (one round),
 * over `stream-io.ts` (frames with back-pressure) and pure cores:
 * `partition.ts`, `reduce.ts`, `compression.ts`, `codec.ts` (wire frames),
 * `deadline.ts`, `coverage.ts` and `spec.ts`.
 *
 * One round, seen from member p of an ordered group of n members:
 *  1. The vector is cut into n contiguous shards (`partition`), sized by
 *     bandwidth. Member j reduces shard j.
 *  2. Reduce-scatter: p streams its part of shard j to member j, in chunks,
 *     with back-pressure. Members with weight 0 ("tag-alongs") send nothing.
 *  3. Reducer j takes the sample-weighted mean (float64 sums, one rounding)
 *     over the parts that arrived in time and were valid (or, with
 *     `RoundSpec.robust`, a trimmed mean or CenteredClip), then all-gathers:
 *     one writer per member, each at its own pace. Every member ends with
 *     bitwise identical values for that shard (compressed results are
 *     decoded by the reducer too).
 *  4. Failures: a sender that disconnects, leaves, sends bad frames/NaN, or
 *     misses its adaptive deadline is dropped (what it delivered before, a
 *     prefix of its part, stays in); a reducer that disconnects, leaves or
 *     misses its deadline is replaced by a backup (the next live member in
 *     group order), to which the senders resend their parts of that shard.
 *  5. Deadlines: quorum of arrivals + slack (`DeadlineOptions`) inside phase
 *     caps that are fractions of `timeoutMs` (round.ts PHASE_CAPS); `run`
 *     never outlives `timeoutMs`.
 *
 * Host requirements (swarm/ creates the host): TCP + noise + yamux, peers'
 * addresses in the peer store. Disable libp2p's connection-monitor abort
 * (`connectionMonitor: { abortConnectionOnPingFailure: false }`) or give it a
 * long ping timeout: during a large round its pings queue behind bulk data
 * and it kills healthy connections (seen in bench/allreduce.ts under load).
 */
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import type { Registry } from 'prom-client';
import type { Compression, RobustAggregation } from '../../../api/index.ts';
import { Averager as AveragerImpl } from './averager.ts';

export { Protocols } from '../../../api/protocols.ts';
export * from './errors.ts';
/** Verified reduction (robust.verifyReducers): passes with rotated reducers, applied where two agree. */
export { averageVerified, ReducersDisagreeError, type Outvoted } from './verify.ts';
/** Stated error bounds of the codecs (per element, per encoding), for tests that check rounds. */
export { FP16_ABS_ERROR, FP16_REL_ERROR, fp16ErrorBound, int8ErrorBound } from './compression.ts';
export type { Compression, RobustAggregation } from '../../../api/index.ts';
export { RobustShard, ShardAccumulator, type ShardReduction } from './reduce.ts';
export { robustReduceInto } from './robust.ts';
export { waitWritable } from './stream-io.ts';
export { createTestHost, randomVector, valueAt } from './testing.ts';

export interface GroupMember {
  /** libp2p peer id (base58 / CID string), as in the membership registry. */
  peerId: string;
  /** Samples this member accumulated for the round; 0 = tag-along (receives the mean, contributes nothing). */
  weight: number;
  /**
   * Measured bandwidth in bytes/s, for shard sizing. Omitted: unknown (equal
   * shares among the unknowns, or the mean of the known ones). 0: this member
   * reduces no shard (client mode), unless every member has 0.
   */
  bandwidth?: number;
}

export interface RoundSpec {
  /** Same on every member; at most `Limits.maxRoundIdBytes` UTF-8 bytes. */
  roundId: string;
  /** Ordered, identical on every member; must contain the local peer. */
  members: GroupMember[];
  /** 'auto' picks by vector length (see `AutoCompressionOptions`). */
  compression: Compression;
  /** Hard upper bound for the whole round, from the local call to `run`. */
  timeoutMs: number;
  /**
   * Robust aggregation (`robust.ts`); omitted or method 'none': the plain
   * sample-weighted mean. Must be the same on every member, like the rest
   * of the spec: each reducer applies it to its shard, and every member caps
   * the weights (`maxSamplesRatio`) the same way. A robust reducer keeps
   * every part of its shard in memory until the shard is reduced.
   */
  robust?: RobustAggregation;
}

/** Why a peer's contribution or reduction was lost in a round. */
export type DropReason =
  /** missed an adaptive (quorum + slack) or hard deadline */
  | 'deadline'
  /** its connection closed or a stream to/from it failed */
  | 'disconnected'
  /** it called `leave()` and said so with a LEAVE frame */
  | 'left'
  /** its frames were invalid (bad frame, wrong size, NaN/Inf, wrong round) */
  | 'rejected';

export interface DroppedPeer {
  peerId: string;
  reason: DropReason;
  /** Whether it was lost as a sender (its contribution) or as a reducer (its shard). */
  role: 'sender' | 'reducer';
  /** The shard index concerned. */
  shard: number;
}

export interface ShardReport {
  /** First element of the shard in the vector. */
  start: number;
  length: number;
  /** Peer id that produced the values this member holds for the shard (itself when it fell back to local values). */
  reducedBy: string;
  /** True when a backup reducer produced it, because the planned reducer failed or left. */
  backup: boolean;
  /** True when the shard kept this member's own local values (no result arrived). */
  local: boolean;
  /** Smallest number of contributors over the shard's chunks (see `RoundResult.contributorsPerShard`). */
  contributors: number;
}

export interface RoundResult {
  /** The averaged vector: a new array, same length as the input (the input is not modified). */
  vector: Float32Array;
  /**
   * Fraction of the vector's elements (by element count, in [0, 1]) whose
   * value is the weighted mean over EVERY weighted member of the group: all
   * members with weight > 0 delivered a valid part for that element, and the
   * result reached this member. 1 means the round was complete; a peer lost
   * while sending lowers it by its shard-parts. (If all weights are 0 the
   * round averages uniformly and "weighted member" means every member.)
   * With `RoundSpec.robust`, "weighted mean" reads "robust aggregate": a
   * part a trimmed mean dropped or CenteredClip clipped still counts as
   * delivered.
   */
  fractionAveraged: number;
  /**
   * Fraction of the vector's elements whose value is a mean over at least 2
   * contributors (i.e. some averaging happened at all), by element count.
   */
  fractionMultiPeer: number;
  /**
   * One entry per member, in group order (shard i is reduced by member i):
   * how many members' parts are included in the values this member holds for
   * that shard, as the minimum over the shard's chunks. A shard that fell back
   * to this member's local values counts 1; an empty shard counts 0.
   */
  contributorsPerShard: number[];
  /** Peer ids that failed to deliver or reduce (unique, group order). */
  droppedPeers: string[];
  /** Details behind `droppedPeers`: one entry per (peer, role, shard). */
  drops: DroppedPeer[];
  shards: ShardReport[];
  /** Some adaptive deadline expired and dropped a peer or shard. */
  deadlineHit: boolean;
  /** The hard bound `timeoutMs` expired before the round completed. */
  hardDeadlineHit: boolean;
  /** The codec the round used ('auto' resolved). */
  compression: 'none' | 'fp16' | 'int8';
  /** Payload and frame bytes this member wrote to / read from all-reduce streams. */
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
}

export interface Averager {
  /**
   * Run one round. Resolves once every shard is either averaged or given up
   * (never later than `spec.timeoutMs`). Rejects with `InvalidRoundSpecError`
   * for a bad spec, `RoundAbortedError` when `opts.signal` aborts,
   * `AveragerLeftError` when `leave()`/`stop()` was called during the round.
   */
  run(spec: RoundSpec, vector: Float32Array, opts?: { signal?: AbortSignal }): Promise<RoundResult>;
  /**
   * Graceful leave (SIGTERM): for the running round (if any), finish sending
   * the local parts already in flight, finish broadcasting the local shard if
   * its reduction is complete, otherwise hand it off to the backup reducer;
   * tell every member with a LEAVE frame so nobody waits for a deadline.
   * Then refuse new rounds and resolve.
   */
  leave(): Promise<void>;
  /** Abort everything at once, unregister the protocol handler. Idempotent. */
  stop(): Promise<void>;
}

/** Minimal logger shape (winston's Logger fits). */
export interface AveragingLogger {
  debug(message: string, meta?: Record<string, unknown>): unknown;
  info(message: string, meta?: Record<string, unknown>): unknown;
  warn(message: string, meta?: Record<string, unknown>): unknown;
  error(message: string, meta?: Record<string, unknown>): unknown;
}

/** 'auto' compression by vector length, like hivemind's SizeAdaptiveCompression. */
export interface AutoCompressionOptions {
  /** Vectors with at least this many elements use fp16. @default 65_536 (hivemind's 2**16 threshold) */
  fp16MinElements?: number;
  /** Vectors with at least this many elements use int8. @default Infinity (int8 only on request) */
  int8MinElements?: number;
}

/** Adaptive deadlines: a quorum of arrivals plus slack, capped by the round's hard bound (hivemind #676). */
export interface DeadlineOptions {
  /** Fraction of the expected arrivals that must complete before the soft deadline is set. @default 0.5 */
  quorum?: number;
  /** Soft deadline = quorum time × (1 + slackRatio) + slackMs. @default 1.0 */
  slackRatio?: number;
  /** @default 1000 */
  slackMs?: number;
  /** A late peer that is still delivering bytes (within this window) is not dropped at the soft deadline. @default 2000 */
  stallMs?: number;
}

export interface AveragerOptions {
  /** The host's libp2p key (Ed25519): every chunk this peer writes is signed with it (signing.ts). */
  privateKey: PrivateKey;
  logger?: AveragingLogger;
  /** prom-client registry for the averaging metrics. @default a private registry */
  registry?: Registry;
  /** Uncompressed payload bytes per chunk frame. @default 1 MiB */
  chunkBytes?: number;
  /** Elements per int8 quantization block (one f32 scale each). @default 256 */
  int8BlockSize?: number;
  autoCompression?: AutoCompressionOptions;
  deadlines?: DeadlineOptions;
  /** How long an incoming stream for a round not yet started locally is held (paused). @default 30_000 */
  pendingRoundWaitMs?: number;
  /** Most incoming streams held for not-yet-started rounds. @default 256 */
  maxPendingStreams?: number;
  /** Dial + protocol negotiation timeout per stream. @default 10_000 */
  dialTimeoutMs?: number;
  /** Fault injection (tests of verifyReducers): tampers with every result chunk this peer computes as a reducer, before it is kept or sent. */
  tamperResult?: (values: Float32Array) => void;
}

/** Create the averager and register the all-reduce protocol handler on `host`. */
export function createAverager(host: Libp2p, opts: AveragerOptions): Averager {
  return new AveragerImpl(host, opts);
}
