import { describe, expect, it } from '@jest/globals';
import { errorMessage, firstNonFinite } from './index.ts';

describe('errorMessage', () => {
  it.each<[string, unknown, string]>([
    ['an Error', new Error('boom'), 'boom'],
    ['an Error-like object from another realm', { message: 'from a worker' }, 'from a worker'],
    ['a string', 'plain', 'plain'],
    ['an object', { code: 7 }, '{"code":7}'],
    ['undefined', undefined, 'undefined'],
  ])('names %s', (_what, thrown, want) => {
    expect(errorMessage(thrown)).toBe(want);
  });
});

describe('firstNonFinite', () => {
  it.each<[string, number[], number]>([
    ['all finite', [0, -1, 3.5, 1e38], -1],
    ['a NaN', [1, Number.NaN, 2], 1],
    ['+Infinity', [Infinity, 1], 0],
    ['-Infinity last', [1, 2, -Infinity], 2],
    ['empty', [], -1],
  ])('%s', (_what, values, want) => {
    expect(firstNonFinite(Float32Array.from(values))).toBe(want);
  });
});
