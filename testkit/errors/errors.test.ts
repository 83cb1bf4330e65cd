import { errorOf } from './index.ts';

class NamedError extends Error {}

describe('errorOf', () => {
  it('returns the error of the given type', () => {
    const e = new NamedError('bad');
    expect(errorOf(NamedError, () => {
      throw e;
    })).toBe(e);
  });

  it('rethrows an error of another type', () => {
    const other = new TypeError('other');
    expect(() => errorOf(NamedError, () => {
      throw other;
    })).toThrow(other);
  });

  it('throws when the call returns', () => {
    expect(() => errorOf(NamedError, () => 1)).toThrow('did not throw');
  });
});
