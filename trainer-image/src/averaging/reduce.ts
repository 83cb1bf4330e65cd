/**
 * Weighted reduction (pure): the sample-weighted mean of the parts of one
 * shard, accumulated as parts stream in (`ShardAccumulator`), or a robust
 * rule over the buffered parts (`RobustShard`, rules in robust.ts).
 *
 * Each contributor's part arrives in order, so what has been accumulated
 * from member i is a prefix [0, prefix_i) of the shard. The mean of element
 * k is Σ_{i: prefix_i > k} w_i·x_i[k] / Σ_{i: prefix_i > k} w_i, computed in
 * float64 and rounded once to float32. Products w·x of integer sample counts
 * (< 2^29) and float32 values are exact in float64, so results do not depend
 * on arrival order except through the final sum's rounding (2^-53 relative).
 */
import type { RobustAggregation } from '../../../api/index.ts';
import { firstNonFinite } from '../common/index.ts';
import { NonFiniteContributionError } from './errors.ts';
import type { Float64Pool } from './buffer-pool.ts';
import { robustReduceInto } from './robust.ts';

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

/**
 * What a reducer does with the parts of its shard, whatever the rule: take
 * parts as prefixes, say which members cover which segment, and produce the
 * reduced values of a segment.
 */
export interface ShardReduction {
  readonly length: number;
  /** Elements accepted so far from `member` (0 if none). */
  prefixOf(member: number): number;
  /**
   * Add member's values for [offset, offset + values.length). The offset must
   * equal the member's current prefix and the weight must match earlier adds.
   * Throws NonFiniteContributionError (and adds nothing) on NaN/±Infinity.
   */
  add(member: number, weight: number, offset: number, values: Float32Array): void;
  /** Contiguous segments of [0, length) with a constant contributor set, in order. */
  segments(): Segment[];
  /** Reduced values of [start, start + out.length), which lies in one segment of total weight `weight` (from `segments`), into `out`. */
  resultInto(start: number, weight: number, out: Float32Array): void;
  /** Drop the buffers once the shard is broadcast. */
  release(): void;
}

/** Prefix bookkeeping and input checks shared by the reduction rules. */
abstract class PrefixParts {
  readonly length: number;
  readonly #prefix: Map<number, { prefix: number; weight: number }> = new Map();

  constructor(length: number) {
    this.length = length;
  }

  prefixOf(member: number): number {
    return this.#prefix.get(member)?.prefix ?? 0;
  }

  /** Keep member's values at [offset, offset + values.length) (already checked). */
  protected abstract store(member: number, weight: number, offset: number, values: Float32Array): void;

  add(member: number, weight: number, offset: number, values: Float32Array): void {
    if (!(weight > 0 && Number.isFinite(weight))) throw new RangeError(`weight must be a positive number, got ${weight}`);
    const st = this.#prefix.get(member) ?? { prefix: 0, weight };
    if (st.weight !== weight) throw new RangeError(`weight of member ${member} changed from ${st.weight} to ${weight}`);
    if (offset !== st.prefix) throw new RangeError(`member ${member}: expected offset ${st.prefix}, got ${offset}`);
    if (offset + values.length > this.length) throw new RangeError(`member ${member}: part ends at ${offset + values.length} beyond shard length ${this.length}`);
    assertFinite(values, offset);
    this.store(member, weight, offset, values);
    st.prefix = offset + values.length;
    this.#prefix.set(member, st);
  }

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

  /** Weight `member` was added with. */
  protected weightOf(member: number): number {
    return this.#prefix.get(member)!.weight;
  }
}

/**
 * The sample-weighted mean, streamed: one float64 sum per element, whatever
 * the group size. Parts are prefixes, so the elements some part has reached
 * are [0, high): an add stores its values' products beyond `high` and adds
 * them below it. The sum buffer therefore needs no zeroing and can come from
 * a pool (buffer-pool.ts) and go back to it on `release`.
 */
export class ShardAccumulator extends PrefixParts implements ShardReduction {
  #acc: Float64Array;
  #high = 0;
  readonly #pool: Float64Pool | undefined;

  constructor(length: number, pool?: Float64Pool) {
    super(length);
    this.#pool = pool;
    this.#acc = pool ? pool.take(length) : new Float64Array(length);
  }

  protected store(_member: number, weight: number, offset: number, values: Float32Array): void {
    const acc = this.#acc;
    const end = offset + values.length;
    const split = Math.min(Math.max(this.#high, offset), end);
    for (let k = 0, j = offset; j < split; k++, j++) acc[j]! += weight * values[k]!;
    for (let k = split - offset, j = split; j < end; k++, j++) acc[j] = weight * values[k]!;
    if (end > this.#high) this.#high = end;
  }

  resultInto(start: number, weight: number, out: Float32Array): void {
    if (!(weight > 0)) throw new RangeError('resultInto: no contributors');
    if (start + out.length > this.#high) throw new RangeError(`resultInto: [${start}, ${start + out.length}) lies beyond the parts received (${this.#high})`);
    const acc = this.#acc;
    for (let k = 0, j = start; k < out.length; k++, j++) out[k] = acc[j]! / weight;
  }

  release(): void {
    const acc = this.#acc;
    this.#acc = new Float64Array(0);
    this.#high = 0;
    this.#pool?.give(acc);
  }
}

/**
 * A robust rule (trimmed mean, CenteredClip) over the shard's parts. These
 * rules need every part at once, so the parts are buffered: a float32 copy
 * per contributor, n × shard × 4 bytes for n contributors (for a vector of
 * V bytes cut into n shards, about V per reducer, against 2V/n for the
 * streaming mean). The result is computed once per segment, on the first
 * `resultInto`, after collection has ended. The rule sees the parts in the
 * order of `rank` (the members' peer ids sorted), not in member order, so a
 * round whose members are rotated (verify.ts) gives the same bytes.
 */
export class RobustShard extends PrefixParts implements ShardReduction {
  readonly #rule: RobustAggregation;
  readonly #rank: readonly number[];
  #parts = new Map<number, Float32Array>();
  #result: Float32Array | undefined;
  #released = false;

  /** `rank[m]`: member m's position in peer-id order. */
  constructor(length: number, rule: RobustAggregation, rank: readonly number[]) {
    super(length);
    this.#rule = rule;
    this.#rank = rank;
  }

  protected store(member: number, _weight: number, offset: number, values: Float32Array): void {
    if (this.#result) throw new RangeError('RobustShard: part added after the shard was reduced');
    let buf = this.#parts.get(member);
    if (!buf) this.#parts.set(member, (buf = new Float32Array(this.length)));
    buf.set(values, offset);
  }

  resultInto(start: number, weight: number, out: Float32Array): void {
    if (!(weight > 0)) throw new RangeError('resultInto: no contributors');
    if (this.#released) throw new RangeError('resultInto: the shard was released');
    this.#result ??= this.#reduce();
    out.set(this.#result.subarray(start, start + out.length));
  }

  #reduce(): Float32Array {
    const result = new Float32Array(this.length);
    for (const seg of this.segments()) {
      if (seg.members.length === 0) continue;
      const members = [...seg.members].sort((a, b) => this.#rank[a]! - this.#rank[b]!);
      const parts = members.map((m) => this.#parts.get(m)!.subarray(seg.start, seg.end));
      robustReduceInto(this.#rule, parts, members.map((m) => this.weightOf(m)), result.subarray(seg.start, seg.end));
    }
    return result;
  }

  release(): void {
    this.#released = true;
    this.#parts = new Map();
    this.#result = undefined;
  }
}

/** The reduction a reducer runs for a shard of `length` elements under the round's rule; `rank` as for RobustShard; the mean's sums from `pool`. */
export function shardReduction(length: number, rule: RobustAggregation | undefined, rank: readonly number[], pool?: Float64Pool): ShardReduction {
  return rule === undefined || rule.method === 'none' ? new ShardAccumulator(length, pool) : new RobustShard(length, rule, rank);
}

/** Each member's position when the members are sorted by peer id. */
export function peerIdRanks(ids: readonly string[]): number[] {
  const rank = new Array<number>(ids.length);
  [...ids.keys()].sort((a, b) => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : a - b)).forEach((m, r) => (rank[m] = r));
  return rank;
}
