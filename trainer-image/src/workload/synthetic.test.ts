import fc from 'fast-check';
import { mul32, SampleCounter, syntheticVector, vectorChecksum } from './synthetic.ts';

describe('syntheticVector', () => {
  it('is deterministic per seed, differs across seeds, and holds k/64 values in [-8, 8]', () => {
    const a = syntheticVector('peer-a', 10_000);
    expect(syntheticVector('peer-a', 10_000)).toEqual(a);
    expect(vectorChecksum(syntheticVector('peer-b', 10_000))).not.toBe(vectorChecksum(a));
    const distinct = new Set<number>();
    for (const x of a) {
      expect(Number.isInteger(x * 64)).toBe(true);
      expect(Math.abs(x)).toBeLessThanOrEqual(8);
      distinct.add(x);
    }
    expect(distinct.size).toBeGreaterThan(500);
  });

  it('float32 accumulation with normalized weights equals the float64 weighted mean when the weights sum to a power of two', () => {
    const vs = ['a', 'b', 'c', 'd'].map((s) => syntheticVector(s, 5000));
    const w = [16, 32, 48, 32];
    for (let j = 0; j < 5000; j++) {
      const exact = vs.reduce((s, v, i) => s + w[i]! * v[j]!, 0) / 128; // float64
      const f32 = new Float32Array(2);
      f32[0] = 0;
      for (let i = 3; i >= 0; i--) f32[0] = f32[0] + Math.fround(Math.fround(w[i]! / 128) * vs[i]![j]!);
      f32[1] = exact;
      expect(f32[0]).toBe(f32[1]);
    }
  });
});

describe('SampleCounter', () => {
  it('accumulates at its rate, caps, and reports 0 samples/s once capped', () => {
    const c = new SampleCounter(100, 50, 1000);
    expect(c.samples(1000)).toBe(0);
    expect(c.samples(1250)).toBe(25);
    expect(c.samplesPerSecond(1250)).toBe(100);
    expect(c.samples(5000)).toBe(50);
    expect(c.samplesPerSecond(5000)).toBe(0);
    c.reset(5000);
    expect(c.samples(5100)).toBe(10);
  });
});

describe('mul32', () => {
  it('property: equals Math.imul on any 32-bit inputs', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (a, b) => mul32(a, b) === Math.imul(a, b)), { numRuns: 5000 });
  });
});
