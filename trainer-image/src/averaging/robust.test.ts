import { NonFiniteContributionError } from './errors.ts';
import { peerIdRanks, RobustShard, shardReduction, ShardAccumulator } from './reduce.ts';
import { capWeights, centeredClipInto, normClippedMeanInto, robustReduceInto, trimmedMeanInto } from './robust.ts';

const f32 = (...xs: number[]): Float32Array => Float32Array.from(xs);
/** parts[i] = the i-th column of `rows` (rows are elements, columns are members). */
const columns = (rows: number[][]): Float32Array[] => rows[0]!.map((_, i) => Float32Array.from(rows.map((r) => r[i]!)));

function trimmed(parts: Float32Array[], weights: number[], fraction: number): number[] {
  const out = new Float32Array(parts[0]!.length);
  trimmedMeanInto(parts, weights, fraction, out);
  return [...out];
}

function clipped(parts: Float32Array[], weights: number[], tau: number, iterations: number): number[] {
  const out = new Float32Array(parts[0]!.length);
  centeredClipInto(parts, weights, tau, iterations, out);
  return [...out];
}

/** Deterministic pseudo-random values in [-1, 1). */
function noise(seed: number, n: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

describe('trimmed mean (coordinate-wise, by weight)', () => {
  it('drops the lowest and highest contributor of every element with equal weights', () => {
    // element 0: 1 2 3 100 → mean(2, 3); element 1: -50 5 6 7 → mean(5, 6)
    expect(trimmed(columns([[1, 2, 3, 100], [5, -50, 6, 7]]), [1, 1, 1, 1], 0.2)).toEqual([2.5, 5.5]);
  });

  it('trims whole contributors until the trimmed weight reaches the fraction, leaving at least one', () => {
    // W = 8, 0.2·W = 1.6: low end drops 0 (1) and 1 (2 ≥ 1.6); high end drops 4 (weight 4 ≥ 1.6) → mean(2, 3)
    expect(trimmed(columns([[0, 1, 2, 3, 4]]), [1, 1, 1, 1, 4], 0.2)).toEqual([2.5]);
    // at most ⌊(n−1)/2⌋ from each end: 0.45·W asks for two from each end of 4, one is left each side
    expect(trimmed(columns([[0, 1, 2, 3]]), [1, 1, 1, 1], 0.45)).toEqual([1.5]);
    // three members, any positive fraction: the median
    expect(trimmed(columns([[7, -1e6, 3]]), [1, 1, 1], 0.01)).toEqual([3]);
  });

  it('is the weighted mean with two members or a zero fraction', () => {
    expect(trimmed(columns([[0, 4]]), [1, 3], 0.4)).toEqual([3]);
    expect(trimmed(columns([[0, 1, 2, 9]]), [1, 1, 1, 1], 0)).toEqual([3]);
  });

  it('keeps every element within the range of the honest values, whatever one member sends', () => {
    const honest = [noise(1, 64), noise(2, 64), noise(3, 64), noise(4, 64)];
    for (const bad of [noise(5, 64).map((x) => x * 1e6), new Float32Array(64).fill(-3e38), honest[0]!.map((x) => x * 1000)]) {
      const parts = [...honest, bad];
      const out = new Float32Array(64);
      trimmedMeanInto(parts, [1, 1, 1, 1, 1], 0.2, out);
      for (let e = 0; e < 64; e++) {
        const hs = honest.map((h) => h[e]!);
        expect(out[e]!).toBeGreaterThanOrEqual(Math.min(...hs));
        expect(out[e]!).toBeLessThanOrEqual(Math.max(...hs));
      }
    }
  });

  it('rejects a fraction of one half or more, and mismatched inputs', () => {
    expect(() => trimmed([f32(1)], [1], 0.5)).toThrow(/trimFraction/);
    expect(() => trimmedMeanInto([f32(1, 2)], [1], 0.2, new Float32Array(1))).toThrow(/part 0 has 2 elements/);
    expect(() => trimmedMeanInto([f32(1)], [0], 0.2, new Float32Array(1))).toThrow(/weight 0 must be a positive number/);
    expect(() => trimmedMeanInto([], [], 0.2, new Float32Array(1))).toThrow(/no contributors/);
  });
});

describe('CenteredClip', () => {
  it('matches hand-computed iterates in one dimension', () => {
    // v0 = median(0, 1, 3, 100) = 2; distances 2, 1, 1, 98 → median 1.5; τ = 2 → radius 3.
    // it 1: (-2 - 1 + 1 + 3) / 4 = 0.25 → 2.25; it 2: (-2.25 - 1.25 + 0.75 + 3) / 4 = 0.0625 → 2.3125
    const parts = [f32(0), f32(1), f32(3), f32(100)];
    expect(clipped(parts, [1, 1, 1, 1], 2, 1)).toEqual([2.25]);
    expect(clipped(parts, [1, 1, 1, 1], 2, 2)).toEqual([2.3125]);
  });

  it('clips by the Euclidean distance over the whole segment, weighted', () => {
    // v0 = [0, 0]; distances 0, 5, 5 → median 5; τ = 0.5 → radius 2.5: both outer parts are halved.
    // step = (1·[1.5, 2] + 2·[-1.5, -2]) / 4 = [-0.375, -0.5]
    expect(clipped([f32(0, 0), f32(3, 4), f32(-3, -4)], [1, 1, 2], 0.5, 1)).toEqual([-0.375, -0.5]);
  });

  it('moves the result by at most (weight share × radius) per iteration towards a Byzantine part', () => {
    const honest = [noise(11, 256), noise(12, 256), noise(13, 256)];
    const honestOnly = new Float32Array(256);
    centeredClipInto(honest, [1, 1, 1], 1, 3, honestOnly);
    const bad = noise(14, 256).map((x) => x * 1e6);
    const withBad = new Float32Array(256);
    centeredClipInto([...honest, bad], [1, 1, 1, 1], 1, 3, withBad);
    const dist = (a: Float32Array, b: Float32Array): number => Math.hypot(...a.map((x, i) => x - b[i]!));
    const honestSpread = Math.max(...honest.map((h) => dist(h, honestOnly)));
    // 3 iterations × (1/4) × radius, the radius being about the honest spread: far from 1e6
    expect(dist(withBad, honestOnly)).toBeLessThan(2 * honestSpread);
    // the plain mean is dragged by 1e6/4 per element
    const mean = honest.reduce((acc, h) => acc.map((x, i) => x + h[i]! / 4), bad.map((x) => x / 4));
    expect(dist(mean, honestOnly)).toBeGreaterThan(1e6);
  });

  it('rejects a non-positive radius or a fractional iteration count', () => {
    expect(() => clipped([f32(1)], [1], 0, 1)).toThrow(/clipTau/);
    expect(() => clipped([f32(1)], [1], 1, 1.5)).toThrow(/clipIterations/);
  });
});

describe('robustReduceInto', () => {
  const rule = { method: 'trimmed-mean', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false } as const;

  it('dispatches on the method and refuses none', () => {
    const out = new Float32Array(1);
    robustReduceInto(rule, [f32(1), f32(2), f32(30)], [1, 1, 1], out);
    expect(out[0]).toBe(2);
    expect(() => robustReduceInto({ ...rule, method: 'none' }, [f32(1)], [1], out)).toThrow(/not a robust rule/);
  });

  it.each(['trimmed-mean', 'centered-clip'] as const)('%s with two contributors: a part scaled ×1000 is clipped to the other\'s norm, whatever samples it claims', (method) => {
    // Both rules alone are the weighted mean here: 0.8 of a ×1000 gradient would pass.
    const honest = noise(31, 64);
    const scaled = noise(32, 64).map((x) => x * 1000);
    const out = new Float32Array(64);
    robustReduceInto({ ...rule, method }, [honest, scaled], [8, 32], out);
    const norm = (a: Float32Array): number => Math.hypot(...a);
    expect(norm(out)).toBeLessThanOrEqual(norm(honest) * (1 + 1e-6));
    // the Byzantine part moves the result by half the honest norm at most
    expect(norm(out.map((x, i) => x - honest[i]! / 2))).toBeLessThanOrEqual((norm(honest) / 2) * (1 + 1e-6));
    const weighted = new Float32Array(64);
    (method === 'trimmed-mean' ? trimmedMeanInto([honest, scaled], [8, 32], 0.2, weighted) : centeredClipInto([honest, scaled], [8, 32], 1, 3, weighted));
    expect(norm(weighted)).toBeGreaterThan(100 * norm(honest));
  });

  it('with one contributor, is that contributor\'s part', () => {
    const out = new Float32Array(2);
    robustReduceInto({ ...rule, method: 'centered-clip' }, [f32(3, -4)], [5], out);
    expect([...out]).toEqual([3, -4]);
  });

  it('rejects mismatched weights before choosing a rule', () => {
    expect(() => robustReduceInto(rule, [f32(1), f32(2)], [1], new Float32Array(1))).toThrow(/2 parts but 1 weights/);
  });
});

describe('normClippedMeanInto', () => {
  it('scales each part down to the smallest norm, then takes the unweighted mean (hand-computed)', () => {
    // [3, 4] (norm 5) and [0, 10] (norm 10, halved to [0, 5]): mean [1.5, 4.5]
    const out = new Float32Array(2);
    normClippedMeanInto([f32(3, 4), f32(0, 10)], out);
    expect([...out]).toEqual([1.5, 4.5]);
    // a zero part makes the result zero: the step is lost, not poisoned
    normClippedMeanInto([f32(0, 0), f32(7, 7)], out);
    expect([...out]).toEqual([0, 0]);
  });
});

describe('capWeights', () => {
  it('caps at maxSamplesRatio × the median of the positive weights, and says whom', () => {
    expect(capWeights([10, 10, 20, 1000], 4)).toEqual({ weights: [10, 10, 20, 60], capped: [3], cap: 60 });
    // tag-alongs (0) stay 0 and do not lower the median
    expect(capWeights([0, 8, 8, 100], 4)).toEqual({ weights: [0, 8, 8, 32], capped: [3], cap: 32 });
    expect(capWeights([5, 6, 7], 4)).toEqual({ weights: [5, 6, 7], capped: [], cap: 24 });
    expect(capWeights([0, 0], 4)).toEqual({ weights: [0, 0], capped: [], cap: Infinity });
  });

  it('an inflated claim does not raise the cap', () => {
    expect(capWeights([8, 8, 1e9], 2).cap).toBe(16);
    expect(() => capWeights([1], 0.5)).toThrow(/maxSamplesRatio/);
  });
});

describe('RobustShard', () => {
  const rule = { method: 'trimmed-mean', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false } as const;
  const inOrder = [0, 1, 2, 3];

  it('reduces each segment over the members whose prefixes cover it', () => {
    const s = new RobustShard(4, rule, inOrder);
    s.add(0, 1, 0, f32(1, 1, 1, 1));
    s.add(1, 1, 0, f32(2, 2));
    s.add(1, 1, 2, f32(2, 2));
    s.add(2, 1, 0, f32(900, 900, 900, 900));
    s.add(3, 1, 0, f32(3, 3)); // stopped after two elements
    expect(s.segments().map((g) => [g.start, g.end, g.members])).toEqual([[0, 2, [0, 1, 2, 3]], [2, 4, [0, 1, 2]]]);
    const out = new Float32Array(2);
    s.resultInto(0, 4, out);
    expect([...out]).toEqual([2.5, 2.5]); // 1 2 3 900 → mean(2, 3)
    s.resultInto(2, 3, out);
    expect([...out]).toEqual([2, 2]); // 1 2 900 → the median
    s.release();
    expect(() => s.resultInto(0, 4, out)).toThrow(/released/);
  });

  it('gives the same bytes whatever the arrival order of the parts', () => {
    const parts = [noise(21, 32), noise(22, 32).map((x) => x * 50), noise(23, 32), noise(24, 32)];
    const run = (order: number[]): Float32Array => {
      const s = new RobustShard(32, { ...rule, method: 'centered-clip' }, inOrder);
      for (const m of order) s.add(m, m + 1, 0, parts[m]!);
      const out = new Float32Array(32);
      s.resultInto(0, 10, out);
      return out;
    };
    expect(run([3, 1, 0, 2])).toEqual(run([0, 1, 2, 3]));
  });

  it('still rejects NaN parts, adding nothing', () => {
    const s = new RobustShard(2, rule, inOrder);
    expect(() => s.add(0, 1, 0, f32(1, NaN))).toThrow(NonFiniteContributionError);
    expect(s.prefixOf(0)).toBe(0);
    expect(s.segments()[0]!.members).toEqual([]);
  });

  it('is what shardReduction picks for a robust method, the streaming mean otherwise', () => {
    expect(shardReduction(3, rule, inOrder)).toBeInstanceOf(RobustShard);
    expect(shardReduction(3, { ...rule, method: 'none' }, inOrder)).toBeInstanceOf(ShardAccumulator);
    expect(shardReduction(3, undefined, inOrder)).toBeInstanceOf(ShardAccumulator);
  });

  it('gives the rule the parts in rank order, so rotated member numbers give the same bytes', () => {
    const parts = [noise(41, 64), noise(42, 64).map((x) => x * 30), noise(43, 64), noise(44, 64)];
    const ids = ['peer-c', 'peer-a', 'peer-d', 'peer-b'];
    const reduce = (rotation: number): Float32Array => {
      // member i of the rotated round is member (i + rotation) % 4 of the original
      const order = ids.map((_, i) => (i + rotation) % 4);
      const s = new RobustShard(64, { ...rule, method: 'centered-clip' }, peerIdRanks(order.map((m) => ids[m]!)));
      order.forEach((m, i) => s.add(i, m + 1, 0, parts[m]!));
      const out = new Float32Array(64);
      s.resultInto(0, 10, out);
      return out;
    };
    expect(reduce(1)).toEqual(reduce(0));
    expect(reduce(2)).toEqual(reduce(0));
    expect(peerIdRanks(ids)).toEqual([2, 0, 3, 1]);
  });
});
