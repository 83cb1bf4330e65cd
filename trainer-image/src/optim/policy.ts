/**
 * What a peer does with the result of an averaging round: the failure
 * policy, as a pure function so that it is tested on its own.
 *
 * The invariant it protects: in gradient mode every peer that applies the
 * step of epoch e applies it to the same parameters with the same averaged
 * vector, so all peers that reach e+1 by stepping hold bitwise identical
 * parameters (the per-epoch checksum shows it).
 *
 *  - complete: every shard's value came from its reducer (or a backup), so
 *    every member that received it holds the same vector. Senders that were
 *    dropped (dead, late, or rejected for NaN) only shrink the effective
 *    batch: the mean is over the contributions that arrived. → apply.
 *  - alone: the group has one member; the local vector is the group's mean. → apply.
 *  - partial: some shard's result never reached this peer, or its reducer had
 *    no valid contribution to average, so the peer holds its own local values
 *    there and would step differently from the others. → skip.
 *  - failed: the round threw (timeout, abort, bad spec). → skip.
 *  - non-finite: the averaged vector holds NaN/±Inf (cannot happen when every
 *    reducer validates, but it is checked before touching the parameters). → skip.
 *  - diverged: the round was complete here, but another member finished first
 *    with a different vector (a reducer died while sending its result, so
 *    some members hold its result and others a backup's; swarm/agreement.ts).
 *    The first member's vector is the round's. → skip.
 *
 * Skipping means: parameters and optimizer state stay as they were
 * (state(e)), the local accumulator is dropped, and the peer moves on to
 * epoch e+1 marked stale. A stale peer downloads state(e+1) from a peer that
 * applied the step (state/); when no live peer applied it (the whole swarm
 * skipped), its unchanged state is state(e+1) for everybody and it goes on.
 */
import type { RoundResult } from '../averaging/index.ts';
import { firstNonFinite } from '../common/index.ts';

export const RoundOutcomes = {
  Complete: 'complete',
  Alone: 'alone',
  Partial: 'partial',
  Failed: 'failed',
  NonFinite: 'non-finite',
  Diverged: 'diverged',
} as const;
export type RoundOutcome = (typeof RoundOutcomes)[keyof typeof RoundOutcomes];

/** Outcomes after which the step is applied. */
export function applies(o: RoundOutcome): boolean {
  return o === RoundOutcomes.Complete || o === RoundOutcomes.Alone;
}

/** Classifies a round's result (or its absence: `undefined` = the round threw). */
export function classifyRound(result: Pick<RoundResult, 'vector' | 'shards'> | undefined): { outcome: RoundOutcome; detail?: string } {
  if (result === undefined) return { outcome: RoundOutcomes.Failed };
  // A shard whose result never came back keeps local values; so does one whose reducer had no
  // valid contribution at all (e.g. the only weighted sender was rejected for NaN): it sends an
  // empty result and every member keeps its own values there.
  const local = result.shards.filter((s) => s.length > 0 && (s.local || s.contributors < 1));
  if (local.length > 0) {
    const elements = local.reduce((a, s) => a + s.length, 0);
    return { outcome: RoundOutcomes.Partial, detail: `${local.length} shard(s), ${elements} elements, kept local values` };
  }
  const bad = firstNonFinite(result.vector);
  if (bad >= 0) return { outcome: RoundOutcomes.NonFinite, detail: `element ${bad} is ${result.vector[bad]}` };
  return { outcome: RoundOutcomes.Complete };
}
