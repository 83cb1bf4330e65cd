import { describe, expect, it } from '@jest/globals';
import { bitset, Coverage } from './coverage.ts';
import { partition } from './partition.ts';
import { summarizeRound, type FinalState, type RoundTotals } from './round-summary.ts';

const ids = ['a', 'b', 'c'];
const totals = (vector: Float32Array): RoundTotals => ({
  vector, deadlineHit: true, hardDeadlineHit: false, compression: 'fp16', bytesSent: 10, bytesReceived: 20, durationMs: 5,
});

/** Member 0's view of a 3-member round over 6 elements (shards [0, 2), [2, 4), [4, 6)). */
function state(over: Partial<FinalState> = {}): FinalState {
  const shards = partition(6, [undefined, undefined, undefined]);
  return {
    ids, self: 0, shards, coverage: shards.map((s) => new Coverage(s.length)), weighted: bitset([0, 1, 2], 3),
    slots: [undefined, { source: 1, backup: false, complete: false }, { source: 2, backup: false, complete: false }], drops: [], ...over,
  };
}

describe('summarizeRound', () => {
  it('reports a complete round', () => {
    const st = state({ slots: [undefined, { source: 1, backup: false, complete: true, reducedBy: 1 }, { source: 2, backup: false, complete: true, reducedBy: 2 }] });
    for (const c of st.coverage) c.set(0, c.length, bitset([0, 1, 2], 3));
    const vector = new Float32Array(6);
    const r = summarizeRound(st, totals(vector));
    expect(r.vector).toBe(vector);
    expect(r).toMatchObject({ fractionAveraged: 1, fractionMultiPeer: 1, contributorsPerShard: [3, 3, 3], droppedPeers: [], drops: [] });
    expect(r.shards).toEqual([
      { start: 0, length: 2, reducedBy: 'a', backup: false, local: false, contributors: 3 },
      { start: 2, length: 2, reducedBy: 'b', backup: false, local: false, contributors: 3 },
      { start: 4, length: 2, reducedBy: 'c', backup: false, local: false, contributors: 3 },
    ]);
    expect(r).toMatchObject({ deadlineHit: true, hardDeadlineHit: false, compression: 'fp16', bytesSent: 10, bytesReceived: 20, durationMs: 5 });
  });

  it('names backups, local shards and dropped peers (once each, in group order)', () => {
    const st = state({
      // shard 1 came from a backup (c) after b failed; shard 2's reducer c failed and no backup answered
      slots: [undefined, { source: 2, backup: true, complete: true, reducedBy: 2 }, { source: 1, backup: true, complete: false }],
      drops: [
        { peerId: 'c', reason: 'deadline', role: 'reducer', shard: 2 },
        { peerId: 'b', reason: 'disconnected', role: 'reducer', shard: 1 },
        { peerId: 'b', reason: 'disconnected', role: 'sender', shard: 0 },
      ],
    });
    st.coverage[0]!.set(0, 2, bitset([0, 2], 3));
    st.coverage[1]!.set(0, 2, bitset([0, 2], 3));
    const r = summarizeRound(st, totals(new Float32Array(6)));
    expect(r.droppedPeers).toEqual(['b', 'c']);
    expect(r.drops).toEqual(st.drops);
    expect(r.contributorsPerShard).toEqual([2, 2, 1]);
    expect(r.fractionAveraged).toBe(0);
    expect(r.fractionMultiPeer).toBeCloseTo(4 / 6);
    expect(r.shards.map((s) => [s.reducedBy, s.backup, s.local])).toEqual([['a', false, false], ['c', true, false], ['a', true, true]]);
  });

  it('credits a result that arrived from a reducer other than the planned one as a backup', () => {
    const st = state({ slots: [undefined, { source: 2, backup: false, complete: true, reducedBy: 2 }, { source: 2, backup: false, complete: true, reducedBy: 2 }] });
    for (const c of st.coverage) c.set(0, c.length, bitset([0, 1, 2], 3));
    const r = summarizeRound(st, totals(new Float32Array(6)));
    expect(r.shards.map((s) => [s.reducedBy, s.backup])).toEqual([['a', false], ['c', true], ['c', false]]);
  });

  it('counts an empty shard as 0 contributors and not local', () => {
    const shards = partition(4, [undefined, 0, undefined]);
    const st = state({ shards, coverage: shards.map((s) => new Coverage(s.length)), slots: [undefined, undefined, { source: 2, backup: false, complete: true, reducedBy: 2 }] });
    st.coverage[0]!.set(0, shards[0]!.length, bitset([0, 1, 2], 3));
    st.coverage[2]!.set(0, shards[2]!.length, bitset([0, 1, 2], 3));
    const r = summarizeRound(st, totals(new Float32Array(4)));
    expect(r.contributorsPerShard).toEqual([3, 0, 3]);
    expect(r.shards[1]).toMatchObject({ length: 0, reducedBy: 'a', local: false, contributors: 0 });
    expect(r.fractionAveraged).toBe(1);
  });
});
