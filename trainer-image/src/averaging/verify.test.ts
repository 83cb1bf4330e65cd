import type { RoundResult, RoundSpec, ShardReport } from './types.ts';
import { partition } from './partition.ts';
import { agreeOnShards, passesFor, passSpec } from './verify.ts';

const spec: RoundSpec = {
  roundId: 'e3g0',
  members: [
    { peerId: 'A', weight: 10, bandwidth: 100 },
    { peerId: 'B', weight: 20, bandwidth: 300 },
    { peerId: 'C', weight: 30, bandwidth: 200 },
  ],
  compression: 'none',
  timeoutMs: 1000,
};

/** A pass result: `values` per shard (two elements each), reduced by `by`. */
function pass(values: number[][], by: string[], local: boolean[] = by.map(() => false)): RoundResult {
  const shards: ShardReport[] = values.map((_, s) => ({ start: 2 * s, length: 2, reducedBy: by[s]!, backup: false, local: local[s]!, contributors: 3 }));
  return { vector: Float32Array.from(values.flat()), shards } as RoundResult;
}

describe('passSpec', () => {
  it('rotates the members by k and leaves each position its bandwidth, so the shards keep their boundaries', () => {
    const p1 = passSpec(spec, 1);
    expect(p1.roundId).toBe('e3g0v1');
    expect(p1.members).toEqual([
      { peerId: 'B', weight: 20, bandwidth: 100 },
      { peerId: 'C', weight: 30, bandwidth: 300 },
      { peerId: 'A', weight: 10, bandwidth: 200 },
    ]);
    const bw = (s: RoundSpec): number[] => s.members.map((m) => m.bandwidth!);
    expect(partition(1000, bw(p1))).toEqual(partition(1000, bw(spec)));
    expect(passSpec(spec, 2).members.map((m) => m.peerId)).toEqual(['C', 'A', 'B']);
    expect(passSpec(spec, 0)).toBe(spec);
  });

  it('gives every shard a different reducer in each of the passes', () => {
    const reducers = [0, 1, 2].map((k) => passSpec(spec, k).members.map((m) => m.peerId));
    for (let s = 0; s < 3; s++) expect(new Set(reducers.map((r) => r[s])).size).toBe(3);
  });

  it('keeps members without a bandwidth without one', () => {
    const bare = { ...spec, members: spec.members.map(({ peerId, weight }) => ({ peerId, weight })) };
    expect(passSpec(bare, 1).members).toEqual([{ peerId: 'B', weight: 20 }, { peerId: 'C', weight: 30 }, { peerId: 'A', weight: 10 }]);
  });

  it('needs three passes for a majority, two (which must agree) for a pair', () => {
    expect([1, 2, 3, 8].map(passesFor)).toEqual([1, 2, 3, 3]);
  });
});

describe('agreeOnShards', () => {
  it('takes the result two different reducers agree on, and names the outvoted one', () => {
    const honest = [[1, 2], [3, 4], [5, 6]];
    const v = agreeOnShards([
      pass([honest[0]!, [99, 99], honest[2]!], ['A', 'B', 'C']), // B lies about shard 1
      pass(honest, ['B', 'C', 'A']),
      pass(honest, ['C', 'A', 'B']),
    ]);
    expect(v).toEqual({ ok: true, vector: Float32Array.from(honest.flat()), outvoted: [{ shard: 1, peerId: 'B' }] });
  });

  it('does not count two votes of one peer (a backup that reduced the shard twice)', () => {
    const v = agreeOnShards([
      pass([[7, 7]], ['B']),
      pass([[7, 7]], ['B']),
      pass([[1, 2]], ['C']),
    ]);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.undecided).toEqual([0]);
  });

  it('ignores shards a pass kept local values for, and fails a shard with no two agreeing reducers', () => {
    const v = agreeOnShards([
      pass([[1, 2], [3, 4]], ['A', 'B'], [false, true]),
      pass([[1, 2], [3, 5]], ['B', 'A']),
    ]);
    expect(v).toEqual({ ok: false, undecided: [1], outvoted: [] });
  });

  it('compares bits: -0 and 0 differ', () => {
    const v = agreeOnShards([pass([[0, 1]], ['A']), pass([[-0, 1]], ['B'])]);
    expect(v.ok).toBe(false);
  });

  it('refuses passes whose shards differ', () => {
    const a = pass([[1, 2]], ['A']);
    const b = { ...a, shards: [{ ...a.shards[0]!, length: 1 }] };
    expect(() => agreeOnShards([a, b])).toThrow(/do not share their shards/);
    expect(() => agreeOnShards([])).toThrow(/no passes/);
  });
});
