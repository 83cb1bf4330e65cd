/**
 * Weighted reduction (pure): the sample-weighted mean of the parts of one
 * shard, accumulated as parts stream in.
 *
 * Each contributor's part arrives in order, so what has been accumulated
 * from member i is a prefix [0, prefix_i) of the shard. The mean of element
 * k is Σ_{i: prefix_i > k} w_i·x_i[k] / Σ_{i: prefix_i > k} w_i, computed in
 * float64 and rounded once to float32. Products w·x of integer sample counts
 * (< 2^29) and float32 values are exact in float64, so results do not depend
 * on arrival order except through the final sum's rounding (2^-53 relative).
 */
import { NonFiniteContributionError } from './errors.ts';

/** Index of the first NaN/±Infinity in `values`, or -1. */
export function firstNonFinite(values: Float32Array): number {
  // x − x is 0 for finite x and NaN otherwise; one comparison per element.
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) return i;
  }
  return -1;
}

/** Throws NonFiniteContributionError if `values` holds NaN or ±Infinity. */
export function assertFinite(values: Float32Array, offset = 0): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new NonFiniteContributionError(offset + i, values[i]!);
}

/** Member weights for a round: as given, or all 1 when they sum to 0 (uniform mean). */
export function effectiveWeights(weights: readonly number[]): number[] {
  return weights.some((w) => w > 0) ? [...weights] : weights.map(() => 1);
}

export interface Segment {
  start: number;
  end: number;
  /** Members (indices) whose parts cover the whole segment, ascending. */
  members: number[];
  /** Σ weights of `members`. */
  weight: number;
}

export class ShardAccumulator {
  readonly length: number;
  #acc: Float64Array;
  readonly #prefix: Map<number, { prefix: number; weight: number }> = new Map();

  constructor(length: number) {
    this.length = length;
    this.#acc = new Float64Array(length);
  }

  /** Elements accumulated so far from `member` (0 if none). */
  prefixOf(member: number): number {
    return this.#prefix.get(member)?.prefix ?? 0;
  }

  /**
   * Add member's values for [offset, offset + values.length). The offset must
   * equal the member's current prefix and the weight must match earlier adds.
   * Throws NonFiniteContributionError (and adds nothing) on NaN/±Infinity.
   */
  add(member: number, weight: number, offset: number, values: Float32Array): void {
    if (!(weight > 0 && Number.isFinite(weight))) throw new RangeError(`weight must be a positive number, got ${weight}`);
    const st = this.#prefix.get(member) ?? { prefix: 0, weight };
    if (st.weight !== weight) throw new RangeError(`weight of member ${member} changed from ${st.weight} to ${weight}`);
    if (offset !== st.prefix) throw new RangeError(`member ${member}: expected offset ${st.prefix}, got ${offset}`);
    if (offset + values.length > this.length) throw new RangeError(`member ${member}: part ends at ${offset + values.length} beyond shard length ${this.length}`);
    assertFinite(values, offset);
    const acc = this.#acc;
    for (let k = 0, j = offset; k < values.length; k++, j++) acc[j]! += weight * values[k]!;
    st.prefix = offset + values.length;
    this.#prefix.set(member, st);
  }

  /** Contiguous segments of [0, length) with a constant contributor set, in order. */
  segments(): Segment[] {
    const cuts = new Set<number>([0, this.length]);
    for (const { prefix } of this.#prefix.values()) if (prefix > 0 && prefix < this.length) cuts.add(prefix);
    const sorted = [...cuts].sort((a, b) => a - b);
    const out: Segment[] = [];
    for (let k = 0; k + 1 < sorted.length; k++) {
      const start = sorted[k]!;
      const end = sorted[k + 1]!;
      const members: number[] = [];
      let weight = 0;
      for (const [m, st] of this.#prefix) {
        if (st.prefix >= end) {
          members.push(m);
          weight += st.weight;
        }
      }
      members.sort((a, b) => a - b);
      out.push({ start, end, members, weight });
    }
    return out;
  }

  /** Weighted mean of [start, start + out.length) with total weight `weight` (from `segments`), into `out`. */
  meanInto(start: number, weight: number, out: Float32Array): void {
    if (!(weight > 0)) throw new RangeError('meanInto: no contributors');
    const acc = this.#acc;
    for (let k = 0, j = start; k < out.length; k++, j++) out[k] = acc[j]! / weight;
  }

  /** Drop the float64 buffer once the shard is broadcast. */
  release(): void {
    this.#acc = new Float64Array(0);
  }
}
