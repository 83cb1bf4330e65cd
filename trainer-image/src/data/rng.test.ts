import { createRng, hash32, shuffleInPlace } from './rng.ts';

describe('seeded rng', () => {
  it('repeats a stream for an equal seed and differs for another seed or fork label', () => {
    const a = Array.from({ length: 5 }, createRng('x').u32);
    const take = (seed: number | string, n = 5) => {
      const r = createRng(seed);
      return Array.from({ length: n }, () => r.u32());
    };
    expect(take('x')).toEqual(take('x'));
    expect(take('x')).not.toEqual(take('y'));
    expect(take(1)).not.toEqual(take('1'));
    expect(a).toHaveLength(5);
    const f1 = createRng(3).fork('a');
    const f2 = createRng(3).fork('b');
    expect(f1.u32()).not.toBe(f2.u32());
  });

  it('int covers [0, n) uniformly; normal has mean 0 and std 1', () => {
    const r = createRng(42);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[r.int(5)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400); // ~4.5σ
    let s = 0;
    let s2 = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      s += x;
      s2 += x * x;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.sqrt(s2 / n)).toBeCloseTo(1, 1);
    expect(() => r.int(0)).toThrow(/n must be/);
  });

  it('shuffles into a permutation; hash32 is FNV-1a', () => {
    const xs = shuffleInPlace(Array.from({ length: 20 }, (_, i) => i), createRng(1));
    expect([...xs].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(xs).not.toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(hash32('')).toBe(0x811c9dc5);
    expect(hash32('a')).toBe(0xe40c292c);
  });
});
