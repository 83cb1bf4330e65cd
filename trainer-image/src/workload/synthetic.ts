/**
 * The synthetic side of the averaging workload: a deterministic vector per
 * seed, a checksum, and a sample counter driven by the clock. All pure or
 * clock-injected, so tests can compute what peers should end with.
 *
 * Values are k/64 for integers k in [-512, 512]: every weighted sum of a few
 * such values with integer weights summing to a power of two is exact in
 * float32, whatever the summation order, so "exact mean" is testable
 * bit-for-bit; and they have enough mantissa bits to make fp16 and int8
 * compression show real (bounded) error.
 */
import { createHash } from 'node:crypto';

/** 32-bit FNV-1a of a string. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * 32-bit multiply, low half (like Math.imul), in plain arithmetic: under
 * jest's VM context Math.* calls are ~40× slower, and tests rebuild 64 MiB
 * vectors with this.
 */
export function mul32(a: number, b: number): number {
  const lo = (a & 0xffff) * b;
  const hi = (((a >>> 16) * b) & 0xffff) * 0x10000;
  return (lo + hi) | 0;
}

/** The synthetic vector of `seed`, `n` float32 elements, each k/64 with k in [-512, 512]. */
export function syntheticVector(seed: string, n: number): Float32Array {
  const s = fnv1a(seed);
  const v = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    // splitmix-style finaliser of (j, seed)
    let x = mul32(j ^ s, 0x9e3779b1);
    x ^= x >>> 16;
    x = mul32(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = mul32(x, 0xc2b2ae35);
    x ^= x >>> 16;
    v[j] = (((x >>> 0) % 1025) - 512) / 64;
  }
  return v;
}

/** sha256 of the vector's little-endian bytes, hex, first 16 chars. */
export function vectorChecksum(v: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest('hex').slice(0, 16);
}

/**
 * Synthetic samples accumulated at `rate` per second since the epoch
 * started, stopping at `cap` when there is one.
 */
export class SampleCounter {
  readonly rate: number;
  readonly cap: number | undefined;
  #startedAt: number;

  constructor(rate: number, cap: number | undefined, nowMs: number) {
    this.rate = rate;
    this.cap = cap;
    this.#startedAt = nowMs;
  }

  reset(nowMs: number): void {
    this.#startedAt = nowMs;
  }

  samples(nowMs: number): number {
    const s = Math.floor((this.rate * Math.max(0, nowMs - this.#startedAt)) / 1000);
    return this.cap === undefined ? s : Math.min(s, this.cap);
  }

  /** Current rate: 0 once capped. */
  samplesPerSecond(nowMs: number): number {
    return this.cap !== undefined && this.samples(nowMs) >= this.cap ? 0 : this.rate;
  }
}
