import { describe, expect, it } from '@jest/globals';
import { ResultCache, type EncodedChunk } from './result-cache.ts';

const chunk = (bytes: number): EncodedChunk => ({ head: new Uint8Array(4), payload: new Uint8Array(bytes) });

describe('ResultCache', () => {
  it('holds a chunk until its last pending writer took it', () => {
    const cache = new ResultCache(100);
    const c = chunk(10);
    cache.keep(0, c, 2);
    expect(cache.bytes).toBe(10);
    expect(cache.take(0)?.payload).toBe(c.payload);
    expect(cache.bytes).toBe(10);
    expect(cache.take(0)?.payload).toBe(c.payload);
    expect(cache.bytes).toBe(0);
    expect(cache.take(0)).toBeUndefined();
  });

  it('keeps nothing without pending writers or beyond its budget', () => {
    const cache = new ResultCache(15);
    cache.keep(0, chunk(10), 0);
    expect(cache.take(0)).toBeUndefined();
    cache.keep(1, chunk(10), 1);
    cache.keep(2, chunk(10), 1);
    expect(cache.bytes).toBe(10);
    expect(cache.take(2)).toBeUndefined();
    expect(cache.take(1)).toBeDefined();
  });

  it('releases the chunks at and after a writer that gave up', () => {
    const cache = new ResultCache(100);
    for (let i = 0; i < 4; i++) cache.keep(i, chunk(5), 1);
    cache.release(2);
    expect(cache.bytes).toBe(10);
    expect(cache.take(2)).toBeUndefined();
    expect(cache.take(1)).toBeDefined();
    cache.clear();
    expect(cache.bytes).toBe(0);
    expect(cache.take(0)).toBeUndefined();
  });
});
