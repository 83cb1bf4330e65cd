import { describe, expect, it } from '@jest/globals';
import { compareAll, compareVectors, relDiff } from './compare.ts';
import { paragraphs } from './corpus.ts';
import { lossAt, samplesAt } from './curve-maths.ts';
import { encodeBatches, readPrefixed } from './exchange.ts';
import { decodeSafetensors, encodeSafetensors, SafetensorsError } from './safetensors.ts';

describe('safetensors', () => {
  it('lays out an 8-byte little-endian header length, a JSON header padded to 8 bytes, then the raw data at the recorded offsets', () => {
    const bytes = encodeSafetensors([
      { name: 'a', shape: [2, 2], data: Float32Array.of(1, -2, 3.5, 0) },
      { name: 'b', shape: [3], data: Int32Array.of(-100, 7, 2) },
    ], { format: 'pt' });
    const view = new DataView(bytes.buffer);
    const n = Number(view.getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')) as Record<string, unknown>;
    expect(header).toEqual({
      __metadata__: { format: 'pt' },
      a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
      b: { dtype: 'I32', shape: [3], data_offsets: [16, 28] },
    });
    expect(bytes.byteLength).toBe(8 + n + 28);
    expect(view.getFloat32(8 + n + 8, true)).toBe(3.5);
    expect(view.getInt32(8 + n + 16, true)).toBe(-100);
  });

  it('decodes what it encodes (subarray views included) and rejects malformed files naming the tensor', () => {
    const backing = Float32Array.of(9, 1, 2, 3, 9);
    const bytes = encodeSafetensors([{ name: 'w', shape: [3], data: backing.subarray(1, 4) }, { name: 'ids', shape: [1, 2], data: Int32Array.of(5, 6) }]);
    // From a Node Buffer, whose slices share one pooled ArrayBuffer: the tensors hold only their own bytes.
    const d = decodeSafetensors(Buffer.from(bytes));
    expect(Array.from(d.tensors.get('w')!.data)).toEqual([1, 2, 3]);
    expect(d.tensors.get('w')!.data.buffer.byteLength).toBe(12);
    expect(d.tensors.get('ids')).toEqual({ shape: [1, 2], data: Int32Array.of(5, 6) });
    expect(d.metadata).toEqual({});
    expect(() => encodeSafetensors([{ name: 'x', shape: [2, 2], data: new Float32Array(3) }])).toThrow(/x: shape \[2, 2\] holds 4 elements, data has 3/);
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.byteLength - 4))).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes.subarray(0, bytes.byteLength - 4))).toThrow(/ids: data_offsets/);
    expect(() => decodeSafetensors(new Uint8Array(4))).toThrow(/no header length/);
  });
});

describe('comparison maths', () => {
  it('cosine, relative L2 and max relative error on known vectors', () => {
    expect(compareVectors([1, 0], [1, 0])).toEqual({ cosine: 1, relL2: 0, maxRel: 0, maxAbs: 0 });
    const c = compareVectors([1, 1], [1, 0]);
    expect(c.cosine).toBeCloseTo(Math.SQRT1_2, 12);
    expect(c.relL2).toBe(1);
    expect(c.maxRel).toBe(1);
    const d = compareVectors([2.02, -1], [2, -1]);
    expect(d.maxAbs).toBeCloseTo(0.02, 12);
    expect(d.maxRel).toBeCloseTo(0.01, 12); // 0.02 on the tensor's scale max|b| = 2
    expect(d.relL2).toBeCloseTo(0.02 / Math.sqrt(5), 12);
    // Zero gradients on both sides (a parameter no token reaches) agree.
    expect(compareVectors([0, 0], [0, 0]).cosine).toBe(1);
    expect(compareVectors([1, 0], [-1, 0]).cosine).toBe(-1);
    expect(() => compareVectors([1], [1, 2])).toThrow(RangeError);
    expect(relDiff(1.0001, 1)).toBeCloseTo(1e-4, 12);
    expect(relDiff(3, 3)).toBe(0);
  });

  it('compareAll names the worst tensor for each measure', () => {
    const a: Record<string, number[]> = { x: [1, 0], y: [1, 1], z: [10, 0] };
    const b: Record<string, number[]> = { x: [1, 0], y: [1, 0.9], z: [9, 0] };
    const r = compareAll(['x', 'y', 'z'], (n) => a[n]!, (n) => b[n]!);
    expect(r.worst.cosineOf).toBe('y');
    expect(r.worst.maxRelOf).toBe('z');
    expect(r.worst.maxRel).toBeCloseTo(1 / 9, 12);
    expect(r.byName['x']!.cosine).toBe(1);
  });
});

describe('batches for PyTorch', () => {
  it('stacks batches into [n·B, T] int32 matrices and refuses batches of another shape', () => {
    const b = (v: number) => ({ batchSize: 1, seqLength: 2, inputIds: Int32Array.of(v, v + 1), attentionMask: Int32Array.of(1, 0), labels: Int32Array.of(-100, v) });
    const bytes = encodeBatches([b(3), b(7)]);
    const d = decodeSafetensors(bytes);
    expect(d.tensors.get('input_ids')).toEqual({ shape: [2, 2], data: Int32Array.of(3, 4, 7, 8) });
    expect(d.tensors.get('labels')!.data).toEqual(Int32Array.of(-100, 3, -100, 7));
    expect(d.tensors.get('batch_size')!.data).toEqual(Int32Array.of(1));
    expect(() => encodeBatches([b(1), { ...b(2), seqLength: 1, inputIds: Int32Array.of(1), attentionMask: Int32Array.of(1), labels: Int32Array.of(1) }])).toThrow(/batch 1 is 1×1/);
    expect(() => readPrefixed(bytes, 'grad.', ['input_ids'])).toThrow(/no float32 tensor grad.input_ids/);
  });
});

describe('corpus paragraphs', () => {
  it('keeps prose paragraphs and drops code, tables, HTML, badges and link targets', () => {
    const md = [
      '# Fast JSON parser',
      '[![build](https://ci/badge.svg)](https://ci) <img src="x.png">',
      '',
      'This library parses JSON documents quickly and',
      'reports errors with [line numbers](https://example.com/docs).',
      '',
      '```js',
      'const x = parse("{}"); // not prose at all, many words here',
      '```',
      '| a | b |',
      '- It works with streams of any size and shape.',
    ].join('\n');
    expect(paragraphs(md)).toEqual([
      'This library parses JSON documents quickly and reports errors with line numbers.',
      'It works with streams of any size and shape.',
    ]);
  });
});

describe('curves at equal samples', () => {
  it('interpolates a curve linearly at a sample count, clamped to its ends', () => {
    const c = [{ epoch: 0, samples: 0, evalLoss: 8 }, { epoch: 2, samples: 64, evalLoss: 6 }, { epoch: 1, samples: 32, evalLoss: 7 }];
    expect(lossAt(c, 16)).toBeCloseTo(7.5, 12);
    expect(lossAt(c, 48)).toBeCloseTo(6.5, 12);
    expect(lossAt(c, 64)).toBe(6);
    expect(lossAt(c, 100)).toBe(6);
    expect(lossAt(c, -1)).toBe(8);
  });

  it('counts the samples of the steps taken before an epoch', () => {
    const steps = new Map([[0, 32], [1, 40], [2, 32]]);
    expect(samplesAt(steps, 0)).toBe(0);
    expect(samplesAt(steps, 2)).toBe(72);
    expect(samplesAt(steps, 3)).toBe(104);
  });
});
