import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../backend/index.ts';
import { firstNonFinite } from '../common/index.ts';
import { assignFlat, checksum, fingerprint, flattenTensors, unflatten } from './params.ts';

beforeAll(async () => {
  await loadBackend({ order: ['wasm', 'cpu'] });
});

describe('flat parameter vectors', () => {
  it('flattens tensors in order and cuts them back by shape', async () => {
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const b = tf.tensor1d([5, 6, 7]);
    const flat = await flattenTensors([a, b]);
    expect(Array.from(flat)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const [a2, b2] = unflatten(flat, [{ name: 'a', shape: [2, 2], size: 4 }, { name: 'b', shape: [3], size: 3 }]);
    expect(await a2!.array()).toEqual([[1, 2], [3, 4]]);
    expect(await b2!.array()).toEqual([5, 6, 7]);
    expect(() => unflatten(flat, [{ name: 'a', shape: [2], size: 2 }])).toThrow(/7 elements/);
    await expect(flattenTensors([tf.tensor1d([1], 'int32')])).rejects.toThrow(/int32/);
  });

  it('assigns a flat vector to variables and does not keep a reference to it', async () => {
    const v1 = tf.variable(tf.zeros([2]));
    const v2 = tf.variable(tf.zeros([1, 2]));
    const flat = Float32Array.from([1, 2, 3, 4]);
    assignFlat([v1, v2], flat);
    flat.fill(9);
    expect(await v1.array()).toEqual([1, 2]);
    expect(await v2.array()).toEqual([[3, 4]]);
  });

  it('checksum is the sha256 of the little-endian float32 bytes', () => {
    // sha256 of the 8 bytes 00 00 80 3f 00 00 00 40 (1.0f, 2.0f).
    expect(checksum(Float32Array.from([1, 2]))).toBe('b9c80b5adeca450753a16950c3cc655d271f7bef7a485bc83f112b72fef21d37');
    expect(checksum(Float32Array.from([1, 2]))).not.toBe(checksum(Float32Array.from([2, 1])));
    const big = new Float32Array(10).fill(1);
    expect(checksum(big.subarray(2, 4))).toBe(checksum(Float32Array.from([1, 1])));
  });

  it('fingerprint sums in float64; firstNonFinite finds NaN and ±Infinity', () => {
    expect(fingerprint(Float32Array.from([1, -2, 3]))).toEqual({ sum: 2, sumSquares: 14 });
    expect(firstNonFinite(Float32Array.from([0, 1, 2]))).toBe(-1);
    expect(firstNonFinite(Float32Array.from([0, NaN, Infinity]))).toBe(1);
    expect(firstNonFinite(Float32Array.from([0, 1, -Infinity]))).toBe(2);
  });
});
