import fc from 'fast-check';
import {
  decode, decodeView, encode, encodedSize, f32BitsToF16, FP16_MAX, fp16DecodeTable, fp16ErrorBound, fromFp16Bits, int8ErrorBound,
  resolveCompression, toFp16Bits,
} from './compression.ts';

const roundTrip = (codec: 'none' | 'fp16' | 'int8', xs: Float32Array, block = 256): Float32Array => {
  const enc = encode(codec, xs, block);
  if (!enc) throw new Error('not encodable');
  expect(enc.byteLength).toBe(encodedSize(codec, xs.length, block));
  return decode(codec, enc, xs.length, block);
};

describe('none', () => {
  it('round-trips bit-exactly, including -0, subnormals and extremes', () => {
    const xs = Float32Array.from([0, -0, 1e-45, -3.4028234663852886e38, 1.5, NaN, Infinity]);
    const out = roundTrip('none', xs);
    expect(new Uint32Array(out.buffer)).toEqual(new Uint32Array(xs.buffer));
  });
});

describe('fp16', () => {
  it('decodes every fp16 value and re-encodes it to the same bits', () => {
    const t = fp16DecodeTable();
    for (let h = 0; h < 65536; h++) {
      const v = t[h]!;
      if (Number.isNaN(v)) {
        expect((toFp16Bits(v) & 0x7c00) === 0x7c00 && (toFp16Bits(v) & 0x3ff) !== 0).toBe(true);
        continue;
      }
      expect(toFp16Bits(v)).toBe(h);
    }
  });

  it('encodes vectors to the same bits as the scalar conversion (every exponent, ties, carries)', () => {
    const bits = new Uint32Array(1 << 16);
    for (let i = 0; i < bits.length; i++) {
      // every float32 exponent; mantissas with the dropped 13 bits at, just below and just above a tie
      const exp = i & 0xff;
      const low = [0x1000, 0x0fff, 0x1001, 0x1fff, 0][(i >>> 8) % 5]!;
      const high = ((i >>> 8) * 0x9e37) & 0x3ff;
      bits[i] = ((i >>> 15) << 31) | (exp << 23) | (high << 13) | low;
    }
    const xs = new Float32Array(bits.buffer).filter((x) => !(Math.abs(x) > FP16_MAX));
    const enc = encode('fp16', xs, 0);
    expect(enc).toBeDefined();
    const got = new Uint16Array(enc!.buffer, enc!.byteOffset, xs.length);
    const xb = new Uint32Array(xs.buffer);
    for (let i = 0; i < xs.length; i++) if (got[i] !== f32BitsToF16(xb[i]!)) throw new Error(`bits 0x${xb[i]!.toString(16)}: 0x${got[i]!.toString(16)}, expected 0x${f32BitsToF16(xb[i]!).toString(16)}`);
  });

  it('rounds to the nearest fp16, ties to even', () => {
    expect(fromFp16Bits(toFp16Bits(1 + 2 ** -11))).toBe(1); // tie: 1 is even
    expect(fromFp16Bits(toFp16Bits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie: up to even
    expect(fromFp16Bits(toFp16Bits(2 ** -25))).toBe(0); // tie below the smallest subnormal: to 0 (even)
    expect(fromFp16Bits(toFp16Bits(1.5 * 2 ** -25))).toBe(2 ** -24);
    expect(fromFp16Bits(toFp16Bits(65519))).toBe(65504);
    expect(f32BitsToF16(0x7f800000)).toBe(0x7c00);
    fc.assert(fc.property(fc.float({ noNaN: true, min: -65000, max: 65000 }), (x) => {
      const h = toFp16Bits(x);
      const d = Math.abs(fromFp16Bits(h) - x);
      for (const nb of [h - 1, h + 1]) {
        if ((nb & 0x7fff) >= 0x7c00 || nb < 0 || nb > 0xffff) continue;
        if (Math.sign(fromFp16Bits(nb)) !== Math.sign(fromFp16Bits(h)) && fromFp16Bits(h) !== 0) continue;
        expect(d).toBeLessThanOrEqual(Math.abs(fromFp16Bits(nb) - x));
      }
    }), { numRuns: 20_000 });
  });

  it('stays within max(2^-11·|x|, 2^-25) of the input (stated bound)', () => {
    fc.assert(fc.property(fc.float32Array({ noNaN: true, noDefaultInfinity: true, min: -FP16_MAX, max: FP16_MAX, minLength: 1, maxLength: 300 }), (xs) => {
      const out = roundTrip('fp16', xs);
      xs.forEach((x, i) => expect(Math.abs(out[i]! - x)).toBeLessThanOrEqual(fp16ErrorBound(x)));
    }));
    // and the bound is attained (not vacuous)
    const x = Math.fround(1 + 2 ** -11 + 2 ** -20);
    expect(Math.abs(roundTrip('fp16', Float32Array.of(x))[0]! - x)).toBeGreaterThan(0.9 * fp16ErrorBound(x));
  });

  it('refuses finite values beyond fp16 range, keeps NaN and ±Infinity', () => {
    expect(encode('fp16', Float32Array.of(1, 65520), 0)).toBeUndefined();
    expect(encode('fp16', Float32Array.of(-1e6), 0)).toBeUndefined();
    const out = roundTrip('fp16', Float32Array.of(NaN, Infinity, -Infinity, 65504));
    expect(Number.isNaN(out[0])).toBe(true);
    expect([out[1], out[2], out[3]]).toEqual([Infinity, -Infinity, 65504]);
  });
});

describe('int8 blockwise', () => {
  it('stays within blockMax·(1/254 + 2^-23) + 2^-140 of the input (stated bound)', () => {
    fc.assert(fc.property(
      fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 1, maxLength: 700 }),
      fc.constantFrom(16, 64, 256, 1000),
      (xs, block) => {
        const out = roundTrip('int8', xs, block);
        for (let b = 0; b < xs.length; b += block) {
          const blk = xs.subarray(b, b + block);
          const m = blk.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
          blk.forEach((x, i) => expect(Math.abs(out[b + i]! - x)).toBeLessThanOrEqual(int8ErrorBound(m)));
        }
      },
    ));
  });

  it('attains close to the bound (it is not vacuous)', () => {
    const xs = Float32Array.from({ length: 256 }, (_, i) => (i === 0 ? 127 : (i % 127) + 0.5));
    const out = roundTrip('int8', xs);
    const worst = xs.reduce((a, x, i) => Math.max(a, Math.abs(out[i]! - x)), 0);
    expect(worst).toBeGreaterThan(0.99 * (127 / 254));
  });

  it('keeps each block independent: a huge value costs only its own block', () => {
    const xs = new Float32Array(512).fill(0.001);
    xs[0] = 1e6;
    const out = roundTrip('int8', xs);
    expect(Math.abs(out[300]! - 0.001)).toBeLessThanOrEqual(int8ErrorBound(0.001));
  });

  it('encodes zero blocks as zeros and poisons blocks holding NaN/Inf (so they are rejected)', () => {
    expect([...roundTrip('int8', new Float32Array(20), 16)]).toEqual(new Array(20).fill(0));
    const xs = new Float32Array(32).fill(1);
    xs[3] = NaN;
    xs[20] = Infinity;
    const out = roundTrip('int8', xs, 16);
    expect(out.subarray(0, 16).every(Number.isNaN)).toBe(true);
    expect(out.subarray(16).every(Number.isNaN)).toBe(true);
  });

  it('costs 1 byte per element plus 4 per block', () => {
    expect(encodedSize('int8', 1000, 256)).toBe(1000 + 16);
    expect(encodedSize('fp16', 1000, 0)).toBe(2000);
    expect(encodedSize('none', 1000, 0)).toBe(4000);
  });
});

describe('auto (size-adaptive)', () => {
  const t = { fp16MinElements: 65536, int8MinElements: 1 << 22 };
  it('keeps small vectors exact and compresses large ones', () => {
    expect(resolveCompression('auto', 65535, t)).toBe('none');
    expect(resolveCompression('auto', 65536, t)).toBe('fp16');
    expect(resolveCompression('auto', 1 << 22, t)).toBe('int8');
    expect(resolveCompression('fp16', 3, t)).toBe('fp16');
    expect(resolveCompression('auto', 1 << 30, { fp16MinElements: 65536, int8MinElements: Infinity })).toBe('fp16');
  });
});

describe('decodeView', () => {
  it('views aligned raw payloads without copying and decodes the rest into scratch', () => {
    const xs = Float32Array.of(1, 2, 3);
    const raw = encode('none', xs, 0)!;
    const scratch = new Float32Array(8);
    const v = decodeView('none', raw, 3, 0, scratch);
    expect(v.buffer).toBe(raw.buffer);
    expect([...v]).toEqual([1, 2, 3]);
    const unaligned = new Uint8Array(13).subarray(1);
    unaligned.set(raw);
    const u = decodeView('none', unaligned, 3, 0, scratch);
    expect(u.buffer).toBe(scratch.buffer);
    expect([...u]).toEqual([1, 2, 3]);
    expect([...decodeView('fp16', encode('fp16', xs, 0)!, 3, 0, scratch)]).toEqual([1, 2, 3]);
  });
});
