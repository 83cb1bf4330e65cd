import fc from 'fast-check';
import { bandwidthShares, chunkElements, chunks, partition } from './partition.ts';

function check(length: number, bw: (number | undefined)[]): void {
  const shards = partition(length, bw);
  expect(shards).toHaveLength(bw.length);
  let start = 0;
  shards.forEach((s, i) => {
    expect(s.index).toBe(i);
    expect(s.start).toBe(start);
    expect(s.length).toBeGreaterThanOrEqual(0);
    start += s.length;
  });
  expect(start).toBe(length);
}

describe('partition', () => {
  it('splits equally when bandwidth is unknown', () => {
    expect(partition(12, [undefined, undefined, undefined]).map((s) => s.length)).toEqual([4, 4, 4]);
    expect(partition(10, [undefined, undefined, undefined]).map((s) => s.length)).toEqual([4, 3, 3]);
  });

  it('sizes shards in proportion to bandwidth', () => {
    expect(partition(100, [1, 3]).map((s) => s.length)).toEqual([25, 75]);
    expect(partition(1000, [100e6, 300e6, 600e6]).map((s) => s.length)).toEqual([100, 300, 600]);
  });

  it('gives unknown bandwidths the mean of the known ones', () => {
    expect(bandwidthShares([100, undefined, 300])).toEqual([100, 200, 300]);
    expect(partition(600, [100, undefined, 300]).map((s) => s.length)).toEqual([100, 200, 300]);
  });

  it('gives a 0-bandwidth member (client mode) no shard, unless everyone is 0', () => {
    expect(partition(10, [0, 1, 1]).map((s) => s.length)).toEqual([0, 5, 5]);
    expect(partition(9, [0, 0, 0]).map((s) => s.length)).toEqual([3, 3, 3]);
    expect(partition(9, [0, undefined]).map((s) => s.length)).toEqual([0, 9]);
  });

  it('handles tiny and empty vectors', () => {
    expect(partition(0, [1, 1, 1]).map((s) => s.length)).toEqual([0, 0, 0]);
    expect(partition(1, [1, 1, 1]).map((s) => s.length)).toEqual([1, 0, 0]);
    expect(partition(2, [undefined, undefined, undefined, undefined]).map((s) => s.length)).toEqual([1, 1, 0, 0]);
    expect(partition(5, [1]).map((s) => s.length)).toEqual([5]);
  });

  it('rejects bad input', () => {
    expect(() => partition(-1, [1])).toThrow(RangeError);
    expect(() => partition(1.5, [1])).toThrow(RangeError);
    expect(() => partition(4, [])).toThrow(RangeError);
    expect(() => partition(4, [NaN])).toThrow(RangeError);
    expect(() => partition(4, [-1, 1])).toThrow(RangeError);
  });

  it('always covers the vector exactly, contiguously, deterministically (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 1 << 28 }),
      fc.array(fc.option(fc.double({ min: 0, max: 1e10, noNaN: true }), { nil: undefined }), { minLength: 1, maxLength: 64 }),
      (length, bw) => {
        check(length, bw);
        expect(partition(length, bw)).toEqual(partition(length, [...bw]));
      },
    ));
  });

  it('keeps every shard within one element of its exact share (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 1 << 24 }),
      fc.array(fc.double({ min: 1, max: 1e9, noNaN: true }), { minLength: 1, maxLength: 32 }),
      (length, bw) => {
        const total = bw.reduce((a, b) => a + b, 0);
        partition(length, bw).forEach((s, i) => expect(Math.abs(s.length - (length * bw[i]!) / total)).toBeLessThan(1 + 1e-6));
      },
    ));
  });
});

describe('chunks', () => {
  it('cuts whole int8 blocks per chunk and covers the shard', () => {
    expect(chunkElements(1 << 20, 256)).toBe(262144);
    expect(chunkElements(1000, 256)).toBe(256);
    expect(chunks(10, 4)).toEqual([[0, 4], [4, 4], [8, 2]]);
    expect(chunks(0, 4)).toEqual([]);
  });
});
