import { firstNonFinite } from '../common/index.ts';
import { NonFiniteContributionError } from './errors.ts';
import { Float64Pool } from './buffer-pool.ts';
import { assertFinite, effectiveWeights, ShardAccumulator } from './reduce.ts';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);

describe('weighted reduction', () => {
  it('computes the sample-weighted mean', () => {
    const acc = new ShardAccumulator(3);
    acc.add(0, 1, 0, f32([1, 2, 3]));
    acc.add(1, 3, 0, f32([5, 6, 7]));
    const [seg] = acc.segments();
    expect(seg).toEqual({ start: 0, end: 3, members: [0, 1], weight: 4 });
    const out = new Float32Array(3);
    acc.resultInto(0, 4, out);
    expect([...out]).toEqual([4, 5, 6]);
  });

  it('is exact for dyadic inputs regardless of arrival order', () => {
    const parts = [f32([0.5, -1.25]), f32([0.75, 2]), f32([-0.125, 8])];
    const weights = [3, 1, 4];
    const mean = (order: number[]): number[] => {
      const acc = new ShardAccumulator(2);
      for (const i of order) acc.add(i, weights[i]!, 0, parts[i]!);
      const out = new Float32Array(2);
      acc.resultInto(0, 8, out);
      return [...out];
    };
    const expected = [Math.fround((3 * 0.5 + 0.75 - 4 * 0.125) / 8), Math.fround((3 * -1.25 + 2 + 32) / 8)];
    expect(mean([0, 1, 2])).toEqual(expected);
    expect(mean([2, 0, 1])).toEqual(expected);
  });

  it('splits into segments where a contributor stopped (prefix semantics)', () => {
    const acc = new ShardAccumulator(6);
    acc.add(0, 2, 0, f32([1, 1, 1, 1, 1, 1]));
    acc.add(1, 1, 0, f32([4, 4]));
    acc.add(2, 1, 0, f32([7, 7, 7, 7]));
    expect(acc.segments()).toEqual([
      { start: 0, end: 2, members: [0, 1, 2], weight: 4 },
      { start: 2, end: 4, members: [0, 2], weight: 3 },
      { start: 4, end: 6, members: [0], weight: 2 },
    ]);
    const out = new Float32Array(2);
    acc.resultInto(2, 3, out);
    expect([...out]).toEqual([3, 3]);
  });

  it('rejects NaN and ±Infinity with a named error and adds nothing', () => {
    const acc = new ShardAccumulator(4);
    acc.add(0, 1, 0, f32([1, 1]));
    for (const bad of [NaN, Infinity, -Infinity]) {
      expect(() => acc.add(0, 1, 2, f32([0, bad]))).toThrow(NonFiniteContributionError);
    }
    let err: unknown;
    try {
      acc.add(0, 1, 2, f32([0, NaN]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NonFiniteContributionError);
    expect((err as NonFiniteContributionError).index).toBe(3);
    expect((err as NonFiniteContributionError).code).toBe('ERR_NON_FINITE_CONTRIBUTION');
    expect(acc.prefixOf(0)).toBe(2);
    acc.add(0, 1, 2, f32([5, 5]));
    const out = new Float32Array(4);
    acc.resultInto(0, 1, out);
    expect([...out]).toEqual([1, 1, 5, 5]);
  });

  it('refuses out-of-order parts, changed weights, overruns and zero weight', () => {
    const acc = new ShardAccumulator(4);
    acc.add(0, 1, 0, f32([1]));
    expect(() => acc.add(0, 1, 2, f32([1]))).toThrow(RangeError);
    expect(() => acc.add(0, 2, 1, f32([1]))).toThrow(RangeError);
    expect(() => acc.add(0, 1, 1, f32([1, 1, 1, 1]))).toThrow(RangeError);
    expect(() => acc.add(1, 0, 0, f32([1]))).toThrow(RangeError);
  });

  it('finds non-finite values', () => {
    expect(firstNonFinite(f32([0, -0, 3.4e38, -3.4e38, 1e-45]))).toBe(-1);
    expect(firstNonFinite(f32([0, 1, NaN]))).toBe(2);
    expect(() => assertFinite(f32([Infinity]))).toThrow(NonFiniteContributionError);
  });

  it('gives the same means from a reused, dirty sum buffer as from a fresh one', () => {
    const pool = new Float64Pool();
    const dirty = pool.take(6);
    dirty.fill(1e30);
    pool.give(dirty);
    const acc = new ShardAccumulator(6, pool);
    // members stop at different places and arrive in any order: each element is stored once, then added to
    acc.add(1, 1, 0, f32([4, 4]));
    acc.add(0, 2, 0, f32([1, 1, 1]));
    acc.add(2, 1, 0, f32([7, 7, 7, 7]));
    acc.add(0, 2, 3, f32([1, 1, 1]));
    const means = acc.segments().map((g) => {
      const out = new Float32Array(g.end - g.start);
      acc.resultInto(g.start, g.weight, out);
      return [...out];
    });
    expect(means).toEqual([[3.25, 3.25], [3, 3], [1, 1]]);
    expect(() => acc.resultInto(0, 1, new Float32Array(7))).toThrow(RangeError);
    acc.release();
    acc.release();
    // released once: the pool holds the buffer once, and hands it out (a view of it) again
    const again = pool.take(4);
    expect(again.buffer).toBe(dirty.buffer);
    expect(pool.take(4).buffer).not.toBe(dirty.buffer);
  });

  it('pools buffers by size: none more than twice the need, the largest kept', () => {
    const pool = new Float64Pool();
    const big = new Float64Array(100);
    pool.give(big);
    expect(pool.take(40).buffer).not.toBe(big.buffer);
    expect(pool.take(60).buffer).toBe(big.buffer);
    for (const n of [10, 30, 20]) pool.give(new Float64Array(n));
    // the 10 was dropped: a need of 10 gets the 20
    const ten = pool.take(10);
    expect([ten.length, ten.buffer.byteLength]).toEqual([10, 8 * 20]);
    expect(pool.take(16).buffer.byteLength).toBe(8 * 30);
  });

  it('averages uniformly when every weight is 0', () => {
    expect(effectiveWeights([0, 0, 0])).toEqual([1, 1, 1]);
    expect(effectiveWeights([0, 5, 0])).toEqual([0, 5, 0]);
  });
});
