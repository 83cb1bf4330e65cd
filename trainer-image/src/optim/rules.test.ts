import { describe, expect, it } from '@jest/globals';
import { segmentsOf, decays, layoutSize } from './layout.ts';
import { adamwStep, createMomentState, lambStep, nesterovStep, LAMB_MAX_WEIGHT_NORM } from './rules.ts';
import { learningRateAt } from './schedule.ts';
import { firstNonFinite } from '../common/index.ts';
import { clipByGlobalNorm, norm } from './vector.ts';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);

describe('layout', () => {
  it('decays weights, not biases or LayerNorm parameters', () => {
    expect(decays('block.attention.query.kernel')).toBe(true);
    expect(decays('embeddings.word')).toBe(true);
    expect(decays('block.attention.query.bias')).toBe(false);
    expect(decays('head.bias')).toBe(false);
    expect(decays('block.ffn.layer_norm.gamma')).toBe(false);
    expect(decays('final.layer_norm.beta')).toBe(false);
  });
  it('lays segments out contiguously', () => {
    const s = segmentsOf([{ name: 'a.kernel', size: 3 }, { name: 'a.bias', size: 2 }]);
    expect(s).toEqual([{ name: 'a.kernel', offset: 0, size: 3, decay: true }, { name: 'a.bias', offset: 3, size: 2, decay: false }]);
    expect(layoutSize(s)).toBe(5);
    expect(() => layoutSize([{ name: 'x', offset: 1, size: 1, decay: true }])).toThrow(/starts at 1/);
  });
});

describe('learning-rate schedule by global epoch', () => {
  it('warms up linearly, then decays linearly to 0 at totalEpochs', () => {
    const o = { learningRate: 1, warmupEpochs: 4, totalEpochs: 14 };
    expect([0, 1, 2, 3].map((e) => learningRateAt(e, o))).toEqual([0.25, 0.5, 0.75, 1]);
    expect(learningRateAt(4, o)).toBe(1);
    expect(learningRateAt(9, o)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(13, o)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(14, o)).toBe(0);
    expect(learningRateAt(100, o)).toBe(0);
  });
  it('decays by a cosine when asked, and stays constant with no total', () => {
    const o = { learningRate: 2, warmupEpochs: 0, totalEpochs: 10, decay: 'cosine' as const };
    expect(learningRateAt(0, o)).toBe(2);
    expect(learningRateAt(5, o)).toBeCloseTo(1, 12);
    expect(learningRateAt(10, o)).toBe(0);
    expect(learningRateAt(1000, { learningRate: 0.3 })).toBe(0.3);
    expect(() => learningRateAt(-1, { learningRate: 1 })).toThrow(RangeError);
  });
});

describe('vector helpers', () => {
  it('clips by the global norm and says so', () => {
    const g = f32([3, 4]);
    const r = clipByGlobalNorm(g, 1);
    expect(r.norm).toBe(5);
    expect(r.scale).toBeCloseTo(0.2, 6);
    expect(norm(g)).toBeCloseTo(1, 5);
    const h = f32([0.3, 0.4]);
    expect(clipByGlobalNorm(h, 1)).toEqual({ norm: norm(f32([0.3, 0.4])), scale: 1 });
    expect(Array.from(h)).toEqual(Array.from(f32([0.3, 0.4])));
  });
  it('finds the first NaN or infinity', () => {
    expect(firstNonFinite(f32([1, 2, 3]))).toBe(-1);
    expect(firstNonFinite(f32([1, Infinity, NaN]))).toBe(1);
    expect(firstNonFinite(f32([1, 2, NaN]))).toBe(2);
  });
});

describe('AdamW', () => {
  it('first step moves each element by lr·sign(g) (bias-corrected m̂/√v̂ = ±1) plus decoupled decay', () => {
    const p = f32([1, -2, 0.5]);
    const g = f32([0.1, -3, 0]);
    const s = createMomentState(3);
    const seg = segmentsOf([{ name: 'w.kernel', size: 2 }, { name: 'w.bias', size: 1 }]);
    adamwStep(p, g, s, seg, { learningRate: 0.1, weightDecay: 0.5, epsilon: 1e-12 });
    // kernel: θ − lr·(sign(g) + wd·θ); bias: no decay, g = 0 → unchanged.
    expect(p[0]).toBeCloseTo(1 - 0.1 * (1 + 0.5 * 1), 6);
    expect(p[1]).toBeCloseTo(-2 - 0.1 * (-1 + 0.5 * -2), 6);
    expect(p[2]).toBe(0.5);
    expect(s.step).toBe(1);
    expect(s.m[0]).toBeCloseTo(0.01, 7);
    expect(s.v[1]).toBeCloseTo(0.009, 7);
    expect(() => adamwStep(p, g, s, seg, { learningRate: 0.1, epsilon: 0 })).toThrow(/epsilon/);
  });
});

describe('LAMB', () => {
  it('scales the Adam direction by the trust ratio ‖θ‖/‖update‖ per segment', () => {
    const p = f32([3, 4, 0.5, 0.5]);
    const g = f32([1, -1, 2, 0.5]);
    const s = createMomentState(4);
    const seg = segmentsOf([{ name: 'a.kernel', size: 2 }, { name: 'a.bias', size: 2 }]);
    const ratios = lambStep(p, g, s, seg, { learningRate: 0.01, weightDecay: 0, epsilon: 1e-12 });
    // kernel: update = (1, −1), ‖θ‖ = 5, ‖u‖ = √2 → ratio 5/√2; θ −= 0.01·ratio·u.
    expect(ratios[0]).toBeCloseTo(5 / Math.SQRT2, 6);
    expect(p[0]).toBeCloseTo(3 - 0.01 * (5 / Math.SQRT2), 5);
    expect(p[1]).toBeCloseTo(4 + 0.01 * (5 / Math.SQRT2), 5);
    // bias: update = (1, 1), ‖θ‖ = √0.5, ‖u‖ = √2 → ratio 0.5.
    expect(ratios[1]).toBeCloseTo(0.5, 6);
    expect(p[2]).toBeCloseTo(0.5 - 0.01 * 0.5, 6);
  });
  it('clamps ‖θ‖ at LAMB_MAX_WEIGHT_NORM and uses ratio 1 when a norm is 0', () => {
    const p = f32([300, 400, 0, 0]);
    const g = f32([1, 1, 1, 1]);
    const s = createMomentState(4);
    const seg = segmentsOf([{ name: 'big.kernel', size: 2 }, { name: 'zero.kernel', size: 2 }]);
    const ratios = lambStep(p, g, s, seg, { learningRate: 0.1, weightDecay: 0, epsilon: 1e-6 });
    expect(ratios[0]).toBeCloseTo(LAMB_MAX_WEIGHT_NORM / Math.SQRT2, 4);
    expect(ratios[1]).toBe(1);
    expect(p[2]).toBeCloseTo(-0.1, 5);
  });
  it('is deterministic: the same inputs give bitwise the same parameters', () => {
    const run = (): Float32Array => {
      const p = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
      const s = createMomentState(1000);
      const seg = segmentsOf([{ name: 'a.kernel', size: 600 }, { name: 'a.bias', size: 400 }]);
      for (let k = 0; k < 5; k++) lambStep(p, Float32Array.from({ length: 1000 }, (_, i) => Math.cos(i * k)), s, seg, { learningRate: 0.01, weightDecay: 0.01 });
      return p;
    };
    expect(Buffer.from(run().buffer).equals(Buffer.from(run().buffer))).toBe(true);
  });
});

describe('Nesterov SGD (DiLoCo outer step)', () => {
  it('matches torch.optim.SGD(nesterov=True) for two steps', () => {
    const p = f32([1]);
    const buf = f32([0]);
    nesterovStep(p, f32([0.5]), buf, { learningRate: 0.7, momentum: 0.9 });
    // buf = 0.5; θ = 1 − 0.7·(0.5 + 0.9·0.5) = 0.335
    expect(buf[0]).toBeCloseTo(0.5, 7);
    expect(p[0]).toBeCloseTo(0.335, 6);
    nesterovStep(p, f32([0.2]), buf, { learningRate: 0.7, momentum: 0.9 });
    // buf = 0.9·0.5 + 0.2 = 0.65; θ = 0.335 − 0.7·(0.2 + 0.9·0.65) = −0.2145
    expect(buf[0]).toBeCloseTo(0.65, 6);
    expect(p[0]).toBeCloseTo(-0.2145, 5);
  });
});
