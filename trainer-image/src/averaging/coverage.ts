/**
 * Which members' contributions each element of the result holds (pure), and
 * the round's summary numbers derived from it.
 */

/** Contributor set as a bitset: bit i of byte i>>3 is member i. */
export function bitset(members: Iterable<number>, groupSize: number): Uint8Array {
  const b = new Uint8Array(Math.ceil(groupSize / 8));
  for (const m of members) b[m >> 3]! |= 1 << (m & 7);
  return b;
}

export function popcount(b: Uint8Array): number {
  let c = 0;
  for (let v of b) {
    while (v) {
      v &= v - 1;
      c++;
    }
  }
  return c;
}

/** True when `a` contains every member of `b` (same length). */
export function covers(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if ((b[i]! & ~(a[i] ?? 0)) !== 0) return false;
  return true;
}

export function sameBits(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when no bit at or above `groupSize` is set. */
export function bitsWithin(b: Uint8Array, groupSize: number): boolean {
  for (let m = groupSize; m < b.length * 8; m++) if (b[m >> 3]! & (1 << (m & 7))) return false;
  return true;
}

export interface Covered {
  start: number;
  end: number;
  bits: Uint8Array;
}

/** Interval map over one shard [0, length): later writes replace earlier ones. */
export class Coverage {
  readonly length: number;
  #segs: Covered[] = [];

  constructor(length: number) {
    this.length = length;
  }

  set(start: number, end: number, bits: Uint8Array): void {
    if (start < 0 || end > this.length || start >= end) throw new RangeError(`coverage: bad range [${start}, ${end})`);
    const out: Covered[] = [];
    for (const s of this.#segs) {
      if (s.end <= start || s.start >= end) out.push(s);
      else {
        if (s.start < start) out.push({ start: s.start, end: start, bits: s.bits });
        if (s.end > end) out.push({ start: end, end: s.end, bits: s.bits });
      }
    }
    out.push({ start, end, bits });
    out.sort((a, b) => a.start - b.start);
    // merge neighbours with the same contributors
    const merged: Covered[] = [];
    for (const s of out) {
      const last = merged[merged.length - 1];
      if (last && last.end === s.start && sameBits(last.bits, s.bits)) last.end = s.end;
      else merged.push({ ...s });
    }
    this.#segs = merged;
  }

  /** Covered segments in order. */
  segments(): readonly Covered[] {
    return this.#segs;
  }

  /** Uncovered [start, end) ranges in order. */
  gaps(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let p = 0;
    for (const s of this.#segs) {
      if (s.start > p) out.push([p, s.start]);
      p = s.end;
    }
    if (p < this.length) out.push([p, this.length]);
    return out;
  }

  get empty(): boolean {
    return this.#segs.length === 0;
  }
}

export interface Summary {
  fractionAveraged: number;
  fractionMultiPeer: number;
  contributorsPerShard: number[];
}

/**
 * Summarize a round from one member's view. Uncovered elements hold that
 * member's local values, i.e. contributors {self}.
 *  - fractionAveraged: elements whose contributors include every weighted member.
 *  - fractionMultiPeer: elements with at least 2 contributors.
 *  - contributorsPerShard: per shard, the minimum contributor count (0 for empty shards).
 */
export function summarize(coverages: readonly Coverage[], weighted: Uint8Array, self: number, groupSize: number): Summary {
  const local = bitset([self], groupSize);
  const localComplete = covers(local, weighted);
  let total = 0;
  let complete = 0;
  let multi = 0;
  const contributorsPerShard: number[] = [];
  for (const cov of coverages) {
    total += cov.length;
    if (cov.length === 0) {
      contributorsPerShard.push(0);
      continue;
    }
    let min = Infinity;
    for (const s of cov.segments()) {
      const n = s.end - s.start;
      const c = popcount(s.bits);
      if (covers(s.bits, weighted)) complete += n;
      if (c >= 2) multi += n;
      min = Math.min(min, c);
    }
    for (const [a, b] of cov.gaps()) {
      if (localComplete) complete += b - a;
      min = Math.min(min, 1);
    }
    contributorsPerShard.push(min);
  }
  return {
    fractionAveraged: total === 0 ? 1 : complete / total,
    fractionMultiPeer: total === 0 ? 0 : multi / total,
    contributorsPerShard,
  };
}
