/**
 * The averaging layer's shared types: the round spec and result, the
 * averager's interface and options. Types only, so every file of the layer
 * can use them without importing index.ts (the public face) or each other.
 */
import type { PrivateKey } from '@libp2p/interface';
import type { Registry } from 'prom-client';
import type { Compression, RobustAggregation } from '../../../api/index.ts';
import type { Logger } from '../common/index.ts';

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
  logger?: Logger;
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

/** A reducer outvoted in a verified round (verify.ts). */
export interface Outvoted {
  shard: number;
  /** The reducer whose result for the shard differed from the agreed one. */
  peerId: string;
}
