/**
 * Compression codecs for all-reduce payloads (pure: arrays in, arrays out).
 *
 *  - `none`: raw float32, little-endian. Exact.
 *  - `fp16`: IEEE 754 binary16, round to nearest even. For |x| in fp16's
 *    normal range (>= 2^-14) the error is at most 2^-11·|x| (half an ulp);
 *    below it (subnormals) at most 2^-25. A chunk holding a finite value
 *    that would overflow fp16 (|x| >= 65520) is not encoded (`encodeInto`
 *    returns false) and the caller sends it uncompressed instead.
 *    NaN and ±Infinity are kept, so the reducer can reject them.
 *  - `int8`: blockwise absmax quantization. Each block of `blockSize`
 *    elements stores one float32 scale s = fround(m / 127), m = max|x| in the
 *    block, and q = round(x / s) in [-127, 127]; decoding gives fround(q·s).
 *    Error bound per element: |x' − x| <= m·(1/254 + 2^-23) + 2^-140 (s/2
 *    from rounding, plus float32 rounding of s and of q·s; the 2^-140 term
 *    only matters for blocks of float32 subnormals). A block holding NaN or
 *    ±Infinity gets scale NaN and decodes to NaN, so it is rejected.
 *
 * All multi-byte values are little-endian; the module refuses to load on a
 * big-endian host rather than produce wrong bytes.
 */
import { endianness } from 'node:os';

if (endianness() !== 'LE') throw new Error('spotswarm averaging requires a little-endian host');

// hot loops use local bindings, not global lookups (much slower inside vm contexts such as jest's)
const round = Math.round;

export type Codec = 'none' | 'fp16' | 'int8';

/** Wire ids of the codecs (CHUNK frame, codec byte). `empty` = no payload (no contributor). */
export const CodecIds = { none: 0, fp16: 1, int8: 2, empty: 3 } as const;
export type CodecId = (typeof CodecIds)[keyof typeof CodecIds];

export function codecId(codec: Codec): CodecId {
  return CodecIds[codec];
}

/** Relative error bound of one fp16 encoding in the normal range (half an ulp of an 11-bit significand). */
export const FP16_REL_ERROR = 2 ** -11;
/** Absolute error bound of one fp16 encoding below 2^-14 (half the smallest subnormal). */
export const FP16_ABS_ERROR = 2 ** -25;
/** Largest float32 that fp16 encodes without overflowing to infinity (65504 is the largest fp16). */
export const FP16_MAX = 65504;

/** Bound on |decode(encode(x)) − x| for int8, given the block's max |x|. */
export function int8ErrorBound(blockMaxAbs: number): number {
  return blockMaxAbs * (1 / 254 + 2 ** -23) + 2 ** -140;
}

/** Bound on |decode(encode(x)) − x| for fp16 (for |x| < 65504). */
export function fp16ErrorBound(x: number): number {
  return Math.max(Math.abs(x) * FP16_REL_ERROR, FP16_ABS_ERROR);
}

/** Payload bytes for `count` elements. int8: scales first (4 B per block), then one byte per element. */
export function encodedSize(codec: Codec, count: number, blockSize: number): number {
  switch (codec) {
    case 'none': return 4 * count;
    case 'fp16': return 2 * count;
    case 'int8': return 4 * Math.ceil(count / blockSize) + count;
  }
}

export interface AutoThresholds {
  fp16MinElements: number;
  int8MinElements: number;
}

/** Resolve 'auto' by vector length, like hivemind's SizeAdaptiveCompression: small vectors stay exact. */
export function resolveCompression(c: Codec | 'auto', length: number, t: AutoThresholds): Codec {
  if (c !== 'auto') return c;
  if (length >= t.int8MinElements) return 'int8';
  if (length >= t.fp16MinElements) return 'fp16';
  return 'none';
}

// ---------------------------------------------------------------- fp16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern -> fp16 bit pattern, round to nearest even; overflow gives ±Inf (0x7c00). */
export function f32BitsToF16(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  let mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1)) half++; // may carry into the exponent: correct
  return sign | half;
}

export function toFp16Bits(x: number): number {
  f32[0] = x;
  return f32BitsToF16(u32[0]!);
}

let fp16Table: Float32Array | undefined;
/** fp16 bit pattern -> float32 value (65,536-entry table). */
export function fp16DecodeTable(): Float32Array {
  if (fp16Table) return fp16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m === 0 ? s * Infinity : NaN;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  fp16Table = t;
  return t;
}

export function fromFp16Bits(h: number): number {
  return fp16DecodeTable()[h & 0xffff]!;
}

// ---------------------------------------------------------------- encode

/**
 * Encode `src` into `dst` (exactly `encodedSize` bytes). Returns false, with
 * `dst` in an unspecified state, when fp16 cannot hold a finite value.
 * `dst` should be 4-byte aligned for speed; unaligned works but copies.
 */
export function encodeInto(codec: Codec, src: Float32Array, dst: Uint8Array, blockSize: number): boolean {
  const n = src.length;
  if (dst.byteLength !== encodedSize(codec, n, blockSize)) throw new RangeError('encodeInto: destination size does not match');
  if (codec === 'none') {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, n * 4));
    return true;
  }
  if (codec === 'fp16') {
    const bits = new Uint32Array(src.buffer, src.byteOffset, n);
    const direct = dst.byteOffset % 2 === 0;
    const out = direct ? new Uint16Array(dst.buffer, dst.byteOffset, n) : new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const f = bits[i]!;
      const e = (f >>> 23) & 0xff;
      let h: number;
      if (e > 112 && e < 143) {
        // fp16's normal range: drop 13 mantissa bits, rounding to nearest even (a carry into the exponent is correct), and rebias
        const m = f & 0x7fffffff;
        h = ((f >>> 16) & 0x8000) | (((m + 0xfff + ((m >>> 13) & 1)) >>> 13) - (112 << 10));
      } else {
        h = f32BitsToF16(f);
      }
      // finite input that became ±Inf: out of fp16 range
      if ((h & 0x7fff) === 0x7c00 && e !== 0xff) return false;
      out[i] = h;
    }
    if (!direct) dst.set(new Uint8Array(out.buffer));
    return true;
  }
  // int8
  const blocks = Math.ceil(n / blockSize);
  const scaleBytes = 4 * blocks;
  const scales = dst.byteOffset % 4 === 0 ? new Float32Array(dst.buffer, dst.byteOffset, blocks) : new Float32Array(blocks);
  const q = new Int8Array(dst.buffer, dst.byteOffset + scaleBytes, n);
  for (let b = 0; b < blocks; b++) {
    const lo = b * blockSize;
    const hi = Math.min(n, lo + blockSize);
    let m = 0;
    let nonFinite = 0; // v − v is 0 for finite v, NaN for NaN and ±Infinity: no branch per element
    for (let i = lo; i < hi; i++) {
      const v = src[i]!;
      const a = v < 0 ? -v : v;
      m = a > m ? a : m;
      nonFinite += v - v;
    }
    if (nonFinite !== 0) {
      scales[b] = NaN;
      for (let i = lo; i < hi; i++) q[i] = 0;
      continue;
    }
    let s = Math.fround(m / 127);
    if (Math.fround(127 * s) === Infinity) {
      // m near float32 max: step s down one ulp so q·s stays finite
      f32[0] = s;
      u32[0] = u32[0]! - 1;
      s = f32[0]!;
    }
    scales[b] = s;
    if (s === 0) {
      for (let i = lo; i < hi; i++) q[i] = 0;
      continue;
    }
    const inv = 1 / s;
    for (let i = lo; i < hi; i++) {
      const r = round(src[i]! * inv);
      q[i] = r > 127 ? 127 : r < -127 ? -127 : r;
    }
  }
  if (dst.byteOffset % 4 !== 0) dst.set(new Uint8Array(scales.buffer), 0);
  return true;
}

/** Allocate and encode (convenience for tests and small payloads). Returns undefined on fp16 overflow. */
export function encode(codec: Codec, src: Float32Array, blockSize: number): Uint8Array | undefined {
  const dst = new Uint8Array(encodedSize(codec, src.length, blockSize));
  return encodeInto(codec, src, dst, blockSize) ? dst : undefined;
}

/**
 * A chunk's payload in the round's codec, and the codec it got: raw float32
 * when fp16 would overflow. A 'none' payload is a view of `values`.
 */
export function encodePayload(codec: Codec, values: Float32Array, blockSize: number): [Codec, Uint8Array] {
  if (codec === 'none') return ['none', new Uint8Array(values.buffer, values.byteOffset, values.byteLength)];
  const out = new Uint8Array(encodedSize(codec, values.length, blockSize));
  if (encodeInto(codec, values, out, blockSize)) return [codec, out];
  return ['none', new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice()];
}

// ---------------------------------------------------------------- decode

/** Decode `count` elements from `payload` (exactly `encodedSize` bytes) into `dst`. Works at any alignment, without allocating. */
export function decodeInto(codec: Codec, payload: Uint8Array, count: number, dst: Float32Array, blockSize: number): void {
  if (payload.byteLength !== encodedSize(codec, count, blockSize)) throw new RangeError('decodeInto: payload size does not match');
  if (dst.length < count) throw new RangeError('decodeInto: destination too short');
  if (codec === 'none') {
    new Uint8Array(dst.buffer, dst.byteOffset, 4 * count).set(payload);
    return;
  }
  if (codec === 'fp16') {
    const t = fp16DecodeTable();
    if (payload.byteOffset % 2 === 0) {
      const h = new Uint16Array(payload.buffer, payload.byteOffset, count);
      for (let i = 0; i < count; i++) dst[i] = t[h[i]!]!;
    } else {
      for (let i = 0, j = 0; i < count; i++, j += 2) dst[i] = t[payload[j]! | (payload[j + 1]! << 8)]!;
    }
    return;
  }
  const blocks = Math.ceil(count / blockSize);
  const scales = new DataView(payload.buffer, payload.byteOffset, 4 * blocks);
  const q = new Int8Array(payload.buffer, payload.byteOffset + 4 * blocks, count);
  for (let b = 0; b < blocks; b++) {
    const s = scales.getFloat32(4 * b, true);
    const lo = b * blockSize;
    const hi = Math.min(count, lo + blockSize);
    for (let i = lo; i < hi; i++) dst[i] = q[i]! * s;
  }
}

/**
 * Decoded values of a payload: a zero-copy view for aligned `none` payloads,
 * else decoded into `scratch` (at least `count` long). Valid until the
 * payload's or scratch's buffer is reused.
 */
export function decodeView(codec: Codec, payload: Uint8Array, count: number, blockSize: number, scratch: Float32Array): Float32Array {
  if (codec === 'none' && payload.byteOffset % 4 === 0 && payload.byteLength === 4 * count) return new Float32Array(payload.buffer, payload.byteOffset, count);
  const out = scratch.subarray(0, count);
  decodeInto(codec, payload, count, out, blockSize);
  return out;
}

export function decode(codec: Codec, payload: Uint8Array, count: number, blockSize: number): Float32Array {
  const out = new Float32Array(count);
  decodeInto(codec, payload, count, out, blockSize);
  return out;
}
