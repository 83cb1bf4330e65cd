/** The result of a round from its final state (pure). */
import { summarize, type Coverage } from './coverage.ts';
import type { Shard } from './partition.ts';
import type { ResultSlot } from './result-slots.ts';
import type { DroppedPeer, RoundResult } from './types.ts';

/** How a shard reduced elsewhere ended: whom we last expected it from, and who delivered it. */
export type SlotOutcome = Pick<ResultSlot, 'source' | 'backup' | 'complete' | 'reducedBy'>;

/** What the summary reads of a settled round. */
export interface FinalState {
  ids: readonly string[];
  self: number;
  shards: readonly Shard[];
  /** Per shard: which members' contributions each element of the output holds (gaps hold our local values). */
  coverage: readonly Coverage[];
  /** Bitset of the members with weight > 0. */
  weighted: Uint8Array;
  /** Per shard (by index): its result slot, undefined for the shards we reduce or that are empty. */
  slots: readonly (SlotOutcome | undefined)[];
  /** One entry per (peer, role, shard), in the order they were dropped. */
  drops: readonly DroppedPeer[];
}

/** The figures the round counted as it went, passed through as they are. */
export type RoundTotals = Pick<RoundResult, 'vector' | 'deadlineHit' | 'hardDeadlineHit' | 'compression' | 'bytesSent' | 'bytesReceived' | 'durationMs'>;

export function summarizeRound(state: FinalState, totals: RoundTotals): RoundResult {
  const { ids, self } = state;
  const sum = summarize(state.coverage, state.weighted, self, ids.length);
  const droppedSet = new Set(state.drops.map((d) => d.peerId));
  const shards = state.shards.map((shard) => {
    const slot = state.slots[shard.index];
    const cov = state.coverage[shard.index]!;
    const by = shard.index === self ? self : slot?.complete ? slot.reducedBy ?? self : cov.empty ? self : slot?.source ?? self;
    return {
      start: shard.start,
      length: shard.length,
      reducedBy: ids[by]!,
      backup: shard.index === self ? false : !!slot && (slot.backup || (slot.reducedBy !== undefined && slot.reducedBy !== shard.index)),
      local: shard.length > 0 && cov.empty,
      contributors: sum.contributorsPerShard[shard.index]!,
    };
  });
  return {
    vector: totals.vector,
    fractionAveraged: sum.fractionAveraged,
    fractionMultiPeer: sum.fractionMultiPeer,
    contributorsPerShard: sum.contributorsPerShard,
    droppedPeers: ids.filter((id) => droppedSet.has(id)),
    drops: [...state.drops],
    shards,
    deadlineHit: totals.deadlineHit,
    hardDeadlineHit: totals.hardDeadlineHit,
    compression: totals.compression,
    bytesSent: totals.bytesSent,
    bytesReceived: totals.bytesReceived,
    durationMs: totals.durationMs,
  };
}
