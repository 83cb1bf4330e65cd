import { bitset, bitsWithin, Coverage, covers, popcount, summarize } from './coverage.ts';

describe('contributor bitsets', () => {
  it('sets, counts and compares members', () => {
    const b = bitset([0, 3, 9], 10);
    expect([...b]).toEqual([0b1001, 0b10]);
    expect(popcount(b)).toBe(3);
    expect(covers(b, bitset([0, 9], 10))).toBe(true);
    expect(covers(b, bitset([1], 10))).toBe(false);
    expect(bitsWithin(b, 10)).toBe(true);
    expect(bitsWithin(b, 9)).toBe(false);
  });
});

describe('Coverage', () => {
  it('lets later writes replace earlier ones and merges equal neighbours', () => {
    const c = new Coverage(10);
    const a = bitset([0, 1], 2);
    const s = bitset([0], 2);
    c.set(0, 4, a);
    c.set(4, 8, a);
    expect(c.segments()).toEqual([{ start: 0, end: 8, bits: a }]);
    c.set(2, 5, s);
    expect(c.segments().map((x) => [x.start, x.end, popcount(x.bits)])).toEqual([[0, 2, 2], [2, 5, 1], [5, 8, 2]]);
    expect(c.gaps()).toEqual([[8, 10]]);
    expect(() => c.set(5, 11, s)).toThrow(RangeError);
  });
});

describe('summarize', () => {
  const n = 3;
  const all = bitset([0, 1, 2], n);
  it('reports a complete round as fraction 1', () => {
    const covs = [new Coverage(4), new Coverage(4), new Coverage(2)];
    covs.forEach((c) => c.set(0, c.length, all));
    expect(summarize(covs, all, 0, n)).toEqual({ fractionAveraged: 1, fractionMultiPeer: 1, contributorsPerShard: [3, 3, 3] });
  });

  it('counts elements averaged over every weighted member, over >= 2, and the minimum per shard', () => {
    const covs = [new Coverage(4), new Coverage(4), new Coverage(2)];
    covs[0]!.set(0, 4, all);
    covs[1]!.set(0, 2, all);
    covs[1]!.set(2, 4, bitset([0, 2], n)); // member 1 stopped halfway through shard 1
    // shard 2: no result arrived -> local values {self}
    expect(summarize(covs, all, 0, n)).toEqual({ fractionAveraged: 6 / 10, fractionMultiPeer: 8 / 10, contributorsPerShard: [3, 2, 1] });
  });

  it('ignores tag-alongs (weight 0) in "every weighted member" and gives empty shards 0', () => {
    const weighted = bitset([0, 1], n); // member 2 tags along
    const covs = [new Coverage(3), new Coverage(0), new Coverage(3)];
    covs[0]!.set(0, 3, bitset([0, 1], n));
    covs[2]!.set(0, 3, bitset([0, 1], n));
    expect(summarize(covs, weighted, 2, n)).toEqual({ fractionAveraged: 1, fractionMultiPeer: 1, contributorsPerShard: [2, 0, 2] });
  });

  it('treats local values as complete only when self is the only weighted member', () => {
    const covs = [new Coverage(5)];
    expect(summarize(covs, bitset([0], 1), 0, 1).fractionAveraged).toBe(1);
    expect(summarize([new Coverage(5), new Coverage(0)], bitset([0, 1], 2), 0, 2).fractionAveraged).toBe(0);
  });
});
