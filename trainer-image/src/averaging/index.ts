/**
 * Averaging layer: a fault-tolerant, sample-weighted butterfly all-reduce of
 * one flat Float32Array over libp2p streams (protocol `Protocols.allReduce`).
 *
 * This file is the public face; the types it exports live in `types.ts`.
 * The implementation lives in `averager.ts` (protocol handler, parking of
 * early streams) and `round.ts` (one round's lifecycle and failover, over
 * `reduce-task.ts`, `broadcast.ts`, `send-part.ts`, `result-slots.ts`,
 * `round-streams.ts` and `round-summary.ts`), over `stream-io.ts` (frames
 * with back-pressure) and pure cores: `partition.ts`, `reduce.ts`,
 * `compression.ts`, `codec.ts` (wire frames), `deadline.ts`, `coverage.ts`
 * and `spec.ts`.
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
 *     caps that are fractions of `timeoutMs` (context.ts PHASE_CAPS); `run`
 *     never outlives `timeoutMs`.
 *
 * Host requirements (swarm/ creates the host): TCP + noise + yamux, peers'
 * addresses in the peer store. Disable libp2p's connection-monitor abort
 * (`connectionMonitor: { abortConnectionOnPingFailure: false }`) or give it a
 * long ping timeout: during a large round its pings queue behind bulk data
 * and it kills healthy connections (seen in bench/allreduce.ts under load).
 */
import type { Libp2p } from '@libp2p/interface';
import { Averager as AveragerImpl } from './averager.ts';
import type { Averager, AveragerOptions } from './types.ts';

export { Protocols } from '../../../api/protocols.ts';
export * from './errors.ts';
/** Verified reduction (robust.verifyReducers): passes with rotated reducers, applied where two agree. */
export { averageVerified } from './verify.ts';
/** Stated error bounds of the codecs (per element, per encoding), for tests that check rounds. */
export { FP16_ABS_ERROR, FP16_REL_ERROR, fp16ErrorBound, int8ErrorBound } from './compression.ts';
export type { Compression, RobustAggregation } from '../../../api/index.ts';
export { RobustShard, ShardAccumulator, type ShardReduction } from './reduce.ts';
export { robustReduceInto } from './robust.ts';
export { waitWritable } from './stream-io.ts';
export { createTestHost, introduce, randomVector, valueAt } from './testing.ts';
export type {
  Averager, AveragerOptions, AutoCompressionOptions, DeadlineOptions, DropReason, DroppedPeer, GroupMember, Outvoted, RoundResult, RoundSpec,
  ShardReport,
} from './types.ts';
/** The layer's logger shape: the trainer's common one. */
export type { Logger as AveragingLogger } from '../common/index.ts';

/** Create the averager and register the all-reduce protocol handler on `host`. */
export function createAverager(host: Libp2p, opts: AveragerOptions): Averager {
  return new AveragerImpl(host, opts);
}
