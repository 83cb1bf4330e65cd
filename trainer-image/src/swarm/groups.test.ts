import fc from 'fast-check';
import { formGroups, gridShape, seededPermutation, type Candidate } from './groups.ts';
import { makePeerIds } from './testing.ts';

let ids: string[] = [];
beforeAll(async () => {
  ids = await makePeerIds(40);
});

const cands = (n: number, weight: (i: number) => number = () => 10): Candidate[] =>
  ids.slice(0, n).map((peerId, i) => ({ peerId, weight: weight(i), multiaddrs: [] }));

/** One round of group averaging of scalar values, weighted. */
function averageOnce(values: Map<string, number>, groups: Candidate[][]): Map<string, number> {
  const out = new Map(values);
  for (const g of groups) {
    const w = g.reduce((s, c) => s + c.weight, 0);
    const mean = g.reduce((s, c) => s + c.weight * (values.get(c.peerId) as number), 0) / w;
    for (const c of g) out.set(c.peerId, mean);
  }
  return out;
}
const spread = (v: Map<string, number>): number => Math.max(...v.values()) - Math.min(...v.values());

describe('seededPermutation', () => {
  it('is a permutation, fixed by its seed, and different for different seeds', () => {
    const a = seededPermutation(50, 's/1');
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(seededPermutation(50, 's/1')).toEqual(a);
    expect(seededPermutation(50, 's/2')).not.toEqual(a);
  });
});

describe('gridShape', () => {
  it.each([
    [4, 4, 1, 4],
    [12, 4, 2, 4],
    [16, 4, 2, 4],
    [17, 4, 3, 3],
    [27, 3, 3, 3],
    [5, 4, 2, 3],
  ])('n=%i m=%i → %i dims of side %i', (n, m, dims, side) => {
    expect(gridShape(n, m)).toEqual({ dims, side });
  });
});

describe('formGroups', () => {
  it('puts a swarm no larger than maxGroupSize into one group, ordered by peer id', () => {
    const out = formGroups({ candidates: cands(4).reverse(), round: 3, maxGroupSize: 4, seed: 'x' });
    expect(out.groups).toHaveLength(1);
    expect(out.groups[0]!.map((c) => c.peerId)).toEqual([...ids.slice(0, 4)].sort());
    expect(out.waiting).toEqual([]);
  });

  it('splits 12 peers with maxGroupSize 4 into several groups that change between rounds', () => {
    const g0 = formGroups({ candidates: cands(12), round: 0, maxGroupSize: 4, seed: 'x' }).groups;
    const g1 = formGroups({ candidates: cands(12), round: 1, maxGroupSize: 4, seed: 'x' }).groups;
    expect(g0.map((g) => g.length)).toEqual([4, 4, 4]);
    expect(g1.map((g) => g.length)).toEqual([3, 3, 3, 3]);
    // Members of one round-1 group come from different round-0 groups (grid columns cross rows).
    const rowOf = new Map(g0.flatMap((g, i) => g.map((c) => [c.peerId, i] as const)));
    for (const g of g1) expect(new Set(g.map((c) => rowOf.get(c.peerId))).size).toBe(g.length);
  });

  it('Moshpit: on a full grid with equal weights, D consecutive rounds give everyone the exact global mean', () => {
    for (const [n, m] of [[12, 4], [16, 4], [27, 3], [9, 3]] as const) {
      const { dims } = gridShape(n, m);
      let values = new Map(ids.slice(0, n).map((id, i) => [id, i * i * 1.5] as const));
      const mean = [...values.values()].reduce((a, b) => a + b, 0) / n;
      const start = 4 * dims; // any block-aligned start
      for (let r = start; r < start + dims; r++) values = averageOnce(values, formGroups({ candidates: cands(n), round: r, maxGroupSize: m, seed: 'x' }).groups);
      for (const v of values.values()) expect(v).toBeCloseTo(mean, 9);
    }
  });

  it('on a partial grid the spread still shrinks to nothing over rounds', () => {
    let values = new Map<string, number>(ids.slice(0, 10).map((id, i) => [id, i % 2 === 0 ? 100 : -100]));
    const before = spread(values);
    for (let r = 0; r < 12; r++) values = averageOnce(values, formGroups({ candidates: cands(10), round: r, maxGroupSize: 4, seed: 'y' }).groups);
    expect(spread(values)).toBeLessThan(before * 1e-3);
  });

  it('tag-alongs (weight 0) join groups with room, and wait when there is none', () => {
    const c = cands(6, (i) => (i < 3 ? 10 : 0));
    const out = formGroups({ candidates: c, round: 0, maxGroupSize: 4, seed: 'x' });
    expect(out.groups).toHaveLength(1);
    expect(out.groups[0]).toHaveLength(4);
    expect(out.groups[0]!.filter((m) => m.weight === 0)).toHaveLength(1);
    expect(out.waiting).toHaveLength(2);
    expect(new Set([...out.groups[0]!.map((m) => m.peerId), ...out.waiting])).toEqual(new Set(ids.slice(0, 6)));
  });

  it('forms no group when every weight is 0', () => {
    const out = formGroups({ candidates: cands(3, () => 0), round: 0, maxGroupSize: 4, seed: 'x' });
    expect(out.groups).toEqual([]);
    expect(out.waiting).toHaveLength(3);
  });

  it('rejects a maxGroupSize below 2', () => {
    expect(() => formGroups({ candidates: cands(3), round: 0, maxGroupSize: 1, seed: 'x' })).toThrow(/maxGroupSize/);
  });

  it('property: everyone is placed exactly once; groups are bounded, weighted, never singletons when avoidable; input order is irrelevant', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 9 }),
        fc.nat(50),
        fc.array(fc.nat(5), { minLength: 40, maxLength: 40 }),
        fc.integer(),
        (n, m, round, weights, shuffleSeed) => {
          const c = cands(n, (i) => weights[i]!);
          const shuffled = seededPermutation(n, String(shuffleSeed)).map((i) => c[i]!);
          const out = formGroups({ candidates: c, round, maxGroupSize: m, seed: 's' });
          const out2 = formGroups({ candidates: shuffled, round, maxGroupSize: m, seed: 's' });
          if (JSON.stringify(out) !== JSON.stringify(out2)) return false;
          const placed = [...out.groups.flat().map((x) => x.peerId), ...out.waiting];
          if (placed.length !== n || new Set(placed).size !== n) return false;
          const weighted = c.filter((x) => x.weight > 0).length;
          for (const g of out.groups) {
            if (g.length > m || g.length === 0) return false;
            if (!(g.reduce((s, x) => s + x.weight, 0) > 0)) return false;
            for (const x of g) if (x.weight !== c.find((y) => y.peerId === x.peerId)!.weight) return false;
          }
          // A singleton group only when there is one weighted peer or no other group has room.
          const singles = out.groups.filter((g) => g.length === 1).length;
          if (singles > 0 && weighted > 1 && out.groups.some((g) => g.length > 1 && g.length < m)) return false;
          // Waiting peers are tag-alongs, and only when every group is full.
          if (weighted > 0) for (const w of out.waiting) if (c.find((y) => y.peerId === w)!.weight > 0) return false;
          if (out.waiting.length > 0 && weighted > 0 && out.groups.some((g) => g.length < m)) return false;
          return out.groups.length >= Math.ceil(weighted / m);
        },
      ),
      { numRuns: 500 },
    );
  });
});
