/**
 * What a round and its parts share: the averager's resolved options and
 * context, the round as its parts see it (`RoundView`), and the round's
 * clock: phase caps and how long a stream may stall. The parts (reduce
 * tasks, part senders, result slots, broadcasts) depend on `RoundView`, not
 * on round.ts, so that nothing imports the Round back.
 */
import type { Libp2p } from '@libp2p/interface';
import type { Logger } from '../common/index.ts';
import type { AckReason } from './codec.ts';
import type { Float64Pool } from './buffer-pool.ts';
import type { AutoThresholds, Codec } from './compression.ts';
import type { Coverage } from './coverage.ts';
import type { DeadlinePolicy } from './deadline.ts';
import type { AveragingMetrics, RejectReason } from './metrics.ts';
import type { Shard } from './partition.ts';
import type { ChunkSigner, ChunkVerifier } from './signing.ts';
import type { FrameStream } from './stream-io.ts';
import type { DropReason, RoundSpec } from './types.ts';

/**
 * Phase caps, as fractions of `timeoutMs` after the local start. Adaptive
 * deadlines act inside them; they leave room for the next phase so the
 * round as a whole ends by `timeoutMs`.
 */
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

/**
 * How long a stream already under way (an ACK going out, a result being
 * broadcast, a stream still open after the round) may make no write
 * progress before it is given up. The policy's `stallMs` is how long a late
 * sender may go quiet at the soft deadline; giving up on one of these
 * streams costs a member its result or a reducer its ACK instead, so they
 * get five times as long, and at least 5 s, however short `stallMs` is set.
 */
export function streamStallLimitMs(policy: DeadlinePolicy): number {
  return Math.max(5000, policy.stallMs * 5);
}

/** The round's clock (monotonic milliseconds). */
export const now = (): number => performance.now();

/** The averager's options, validated and with defaults filled in. */
export interface ResolvedOptions {
  chunkElements: number;
  int8BlockSize: number;
  auto: AutoThresholds;
  policy: DeadlinePolicy;
  pendingRoundWaitMs: number;
  maxPendingStreams: number;
  dialTimeoutMs: number;
}

/** What the averager gives every round. */
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
  /** Reducers' float64 sums, reused across rounds. */
  sums: Float64Pool;
  /** Fault injection (AveragerOptions.tamperResult). */
  tamperResult?: (values: Float32Array) => void;
}

/** The round as its parts see it; `Round` (round.ts) implements it. */
export interface RoundView {
  readonly id: string;
  readonly spec: RoundSpec;
  /** Group size. */
  readonly n: number;
  /** Our index in the group. */
  readonly self: number;
  readonly ids: readonly string[];
  /** Members' positions in peer-id order: the order robust rules see parts in. */
  readonly ranks: readonly number[];
  readonly weights: readonly number[];
  readonly shards: readonly Shard[];
  readonly codec: Codec;
  readonly input: Float32Array;
  readonly output: Float32Array;
  /** Per shard: which members' contributions each element of `output` holds. */
  readonly coverage: readonly Coverage[];
  /** Local start time and the round's hard bound (`timeoutMs`). */
  readonly t0: number;
  readonly T: number;
  readonly ctx: RoundContext;
  /** Members gone for this round (disconnected or left). */
  readonly gone: ReadonlyMap<number, DropReason>;
  /** Aborts when the round settles. */
  readonly signal: AbortSignal;
  readonly settled: boolean;
  readonly leaving: boolean;
  readonly myWeight: number;
  log(level: 'debug' | 'info' | 'warn' | 'error', msg: string, meta?: Record<string, unknown>): void;
  /** Record a lost contribution (sender) or reduction (reducer), once per (member, role, shard). */
  addDrop(member: number, reason: DropReason, role: 'sender' | 'reducer', shard: number): void;
  /** Count and log a rejected contribution. */
  reject(reason: RejectReason, peer: number, detail: string, shard?: number): void;
  /** A reusable decode buffer of `count` elements. */
  scratch(count: number): Float32Array;
  /** Track background work so `leave()` can wait for it. */
  track<T>(p: Promise<T>): void;
  /** Open an all-reduce stream to `member`. */
  dial(member: number): Promise<FrameStream>;
  /** Reply with an ACK and close our side, in the background. */
  ackAndClose(fs: FrameStream, reason: AckReason, accepted: number): void;
  /** A member is gone for this round (disconnected or left). */
  memberGone(m: number, reason: DropReason): void;
  /** Run the round's tick soon. */
  poke(): void;
  /** Whether a reduce task for `s` should write its result into our output. */
  wantsLocalResult(s: number): boolean;
  /** A reduce task wrote its whole result for shard `s` into our output. */
  resultWrittenLocally(s: number): void;
}
