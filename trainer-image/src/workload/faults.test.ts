import { applyByzantineFault, parseByzantineFault } from './faults.ts';

describe('Byzantine fault injection', () => {
  it('parses the three modes and refuses anything else', () => {
    expect(parseByzantineFault('scale:1000')).toEqual({ kind: 'scale', factor: 1000 });
    expect(parseByzantineFault(' scale:-2.5 ')).toEqual({ kind: 'scale', factor: -2.5 });
    expect(parseByzantineFault('random:10')).toEqual({ kind: 'random', std: 10 });
    expect(parseByzantineFault('nan')).toEqual({ kind: 'nan' });
    for (const bad of ['scale', 'scale:', 'scale:0', 'scale:x', 'random:-1', 'random:0', 'nan:1', 'flip', 'scale:2:3']) {
      expect(() => parseByzantineFault(bad)).toThrow(/must be scale:<non-zero factor>, random:<std > 0> or nan/);
    }
  });

  it('scales, fills with NaN, or replaces with noise of the stated spread (same noise for the same epoch)', () => {
    const v = Float32Array.from([1, -2, 3]);
    applyByzantineFault({ kind: 'scale', factor: -10 }, v, 0);
    expect([...v]).toEqual([-10, 20, -30]);
    applyByzantineFault({ kind: 'nan' }, v, 0);
    expect(v.every(Number.isNaN)).toBe(true);
    const a = new Float32Array(20_001);
    const b = new Float32Array(20_001);
    applyByzantineFault({ kind: 'random', std: 10 }, a, 7);
    applyByzantineFault({ kind: 'random', std: 10 }, b, 7);
    expect(b).toEqual(a);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const std = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
    expect(Math.abs(mean)).toBeLessThan(0.5);
    expect(std).toBeGreaterThan(9.5);
    expect(std).toBeLessThan(10.5);
    applyByzantineFault({ kind: 'random', std: 10 }, b, 8);
    expect(b).not.toEqual(a);
  });
});
