/**
 * Robust aggregation (pure): rules that bound how far one faulty or
 * malicious contributor can move the average of a shard, and the cap on
 * self-reported sample weights. Used by a reducer instead of the plain
 * weighted mean when the round's spec asks for it (`RoundSpec.robust`).
 *
 * Every rule here is deterministic in the order of `parts` (the reducer
 * passes them in member order), and computes in float64 with one rounding
 * to float32, so a reducer and its backup produce the same bytes.
 *
 * - Trimmed mean, coordinate-wise: per element, drop the lowest and the
 *   highest contributors (whole contributors, by weight: from each end, as
 *   few as reach `trimFraction` of the total weight, at most ⌊(n−1)/2⌋), and
 *   take the weighted mean of the rest. With one Byzantine contributor and
 *   n ≥ 3 every element of the result lies within the range of the honest
 *   values of that element.
 * - CenteredClip (Karimireddy, He & Jaggi 2021; BTARD, Gorbunov et al. 2021):
 *   v₀ = coordinate-wise median, then `iterations` times
 *   v ← v + Σ wᵢ·(xᵢ − v)·min(1, τ/‖xᵢ − v‖) / Σ wᵢ.
 *   Each iteration a contributor moves v by at most (wᵢ/Σw)·τ, whatever it
 *   sends. τ is `clipTau` × the median over contributors of ‖xᵢ − v₀‖: a
 *   radius in units of the honest spread, so one default works for any
 *   gradient scale (an absolute τ would have to be tuned per model).
 *   Medians are over contributors, not weights, so a peer that claims many
 *   samples cannot move the starting point or the radius.
 * - Fewer than three contributors (a segment that only two members cover,
 *   e.g. when the third had no samples this round or was dropped): nobody
 *   can be outvoted, and both rules above degrade to the weighted mean, so a
 *   part scaled ×1000 would pass whole. `robustReduceInto` then clips every
 *   part's norm to the smallest part's norm and takes the unweighted mean:
 *   whatever one of two contributors sends moves the result by at most half
 *   the other's norm, and its claimed samples buy it nothing.
 */
import type { RobustAggregation } from '../../../api/index.ts';

/** Median of `xs` (sorted in place): the middle value, or the mean of the two middle ones. */
function medianInPlace(xs: Float64Array): number {
  xs.sort();
  const n = xs.length;
  const h = n >> 1;
  return n % 2 === 1 ? xs[h]! : (xs[h - 1]! + xs[h]!) / 2;
}

/** Sort member indices `idx` by (value, member index): insertion sort, groups are small (≤ 256). */
function sortByValue(idx: Int32Array, vals: Float64Array): void {
  for (let i = 1; i < idx.length; i++) {
    const m = idx[i]!;
    const v = vals[m]!;
    let j = i - 1;
    while (j >= 0 && (vals[idx[j]!]! > v || (vals[idx[j]!]! === v && idx[j]! > m))) {
      idx[j + 1] = idx[j]!;
      j--;
    }
    idx[j + 1] = m;
  }
}

function checkParts(parts: readonly Float32Array[], weights: readonly number[], out: Float32Array): void {
  if (parts.length === 0) throw new RangeError('robust aggregation: no contributors');
  if (parts.length !== weights.length) throw new RangeError(`robust aggregation: ${parts.length} parts but ${weights.length} weights`);
  for (const [i, p] of parts.entries()) {
    if (p.length !== out.length) throw new RangeError(`robust aggregation: part ${i} has ${p.length} elements, expected ${out.length}`);
    if (!(weights[i]! > 0 && Number.isFinite(weights[i]))) throw new RangeError(`robust aggregation: weight ${i} must be a positive number, got ${weights[i]}`);
  }
}

/**
 * Contributors trimmed from one end: as few as reach `fraction` of the
 * total weight, never more than ⌊(n−1)/2⌋ (at least one value survives).
 * `weightAt(k)` is the weight of the k-th contributor from that end.
 */
function trimCount(weightAt: (k: number) => number, n: number, fraction: number, total: number): number {
  if (fraction <= 0) return 0;
  const most = (n - 1) >> 1;
  let k = 0;
  let cut = 0;
  while (k < most && cut < fraction * total) cut += weightAt(k++);
  return k;
}

/** Coordinate-wise weighted trimmed mean of `parts` into `out` (see the file comment). */
export function trimmedMeanInto(parts: readonly Float32Array[], weights: readonly number[], fraction: number, out: Float32Array): void {
  checkParts(parts, weights, out);
  if (!(fraction >= 0 && fraction < 0.5)) throw new RangeError(`trimFraction must be in [0, 0.5), got ${fraction}`);
  const n = parts.length;
  const total = weights.reduce((a, b) => a + b, 0);
  const idx = new Int32Array(n);
  const vals = new Float64Array(n);
  for (let e = 0; e < out.length; e++) {
    for (let i = 0; i < n; i++) {
      idx[i] = i;
      vals[i] = parts[i]![e]!;
    }
    sortByValue(idx, vals);
    const lo = trimCount((k) => weights[idx[k]!]!, n, fraction, total);
    const hi = trimCount((k) => weights[idx[n - 1 - k]!]!, n, fraction, total);
    let sum = 0;
    let w = 0;
    for (let k = lo; k < n - hi; k++) {
      const m = idx[k]!;
      sum += weights[m]! * vals[m]!;
      w += weights[m]!;
    }
    out[e] = sum / w;
  }
}

/** CenteredClip of `parts` into `out` (see the file comment). `tau` is relative to the median distance from the coordinate-wise median. */
export function centeredClipInto(parts: readonly Float32Array[], weights: readonly number[], tau: number, iterations: number, out: Float32Array): void {
  checkParts(parts, weights, out);
  if (!(tau > 0 && Number.isFinite(tau))) throw new RangeError(`clipTau must be a positive number, got ${tau}`);
  if (!(Number.isInteger(iterations) && iterations >= 1)) throw new RangeError(`clipIterations must be an integer >= 1, got ${iterations}`);
  const n = parts.length;
  const len = out.length;
  const v = new Float64Array(len);
  const col = new Float64Array(n);
  for (let e = 0; e < len; e++) {
    for (let i = 0; i < n; i++) col[i] = parts[i]![e]!;
    v[e] = medianInPlace(col);
  }
  const dist = new Float64Array(n);
  const distanceFromV = (): void => {
    for (let i = 0; i < n; i++) {
      const p = parts[i]!;
      let s = 0;
      for (let e = 0; e < len; e++) {
        const d = p[e]! - v[e]!;
        s += d * d;
      }
      dist[i] = Math.sqrt(s);
    }
  };
  distanceFromV();
  const radius = tau * medianInPlace(dist.slice());
  const total = weights.reduce((a, b) => a + b, 0);
  const step = new Float64Array(len);
  for (let it = 0; it < iterations; it++) {
    if (it > 0) distanceFromV();
    step.fill(0);
    for (let i = 0; i < n; i++) {
      // a part at distance 0 adds nothing; 0 < radius < dist clips it onto the sphere of radius `radius`
      const scale = (weights[i]! / total) * (dist[i]! <= radius ? 1 : radius / dist[i]!);
      if (scale === 0) continue;
      const p = parts[i]!;
      for (let e = 0; e < len; e++) step[e]! += scale * (p[e]! - v[e]!);
    }
    for (let e = 0; e < len; e++) v[e]! += step[e]!;
  }
  for (let e = 0; e < len; e++) out[e] = v[e]!;
}

/** Contributors a robust rule needs so that one faulty contributor can be outvoted. */
export const MIN_ROBUST_CONTRIBUTORS = 3;

/** Unweighted mean of `parts` into `out`, each part first scaled down to the smallest part's Euclidean norm (see the file comment). */
export function normClippedMeanInto(parts: readonly Float32Array[], out: Float32Array): void {
  checkParts(parts, parts.map(() => 1), out);
  const norms = parts.map((p) => {
    let s = 0;
    for (let e = 0; e < p.length; e++) s += p[e]! * p[e]!;
    return Math.sqrt(s);
  });
  const smallest = Math.min(...norms);
  const acc = new Float64Array(out.length);
  for (const [i, p] of parts.entries()) {
    const scale = (norms[i]! <= smallest ? 1 : smallest / norms[i]!) / parts.length;
    for (let e = 0; e < p.length; e++) acc[e]! += scale * p[e]!;
  }
  for (let e = 0; e < out.length; e++) out[e] = acc[e]!;
}

/** Robust reduction of one segment's parts (member order) by `rule`, into `out`. */
export function robustReduceInto(rule: RobustAggregation, parts: readonly Float32Array[], weights: readonly number[], out: Float32Array): void {
  if (rule.method !== 'trimmed-mean' && rule.method !== 'centered-clip') throw new RangeError(`robustReduceInto: method ${rule.method} is not a robust rule`);
  checkParts(parts, weights, out);
  if (parts.length < MIN_ROBUST_CONTRIBUTORS) normClippedMeanInto(parts, out);
  else if (rule.method === 'trimmed-mean') trimmedMeanInto(parts, weights, rule.trimFraction, out);
  else centeredClipInto(parts, weights, rule.clipTau, rule.clipIterations, out);
}

export interface CappedWeights {
  weights: number[];
  /** Members (indices) whose weight was lowered, ascending. */
  capped: number[];
  /** The cap: maxSamplesRatio × the median of the positive weights (Infinity when none is positive). */
  cap: number;
}

/**
 * Cap self-reported sample weights at `ratio` × the median of the group's
 * positive weights, so one peer cannot claim most of the group's weight by
 * reporting more samples than it computed. The median is over members, so
 * an inflated claim does not raise the cap. Weight-0 members (tag-alongs)
 * stay 0. Pure and deterministic: every member of a round computes the same
 * weights from the same spec.
 */
export function capWeights(weights: readonly number[], ratio: number): CappedWeights {
  if (!(ratio >= 1 && Number.isFinite(ratio))) throw new RangeError(`maxSamplesRatio must be a number >= 1, got ${ratio}`);
  const positive = Float64Array.from(weights.filter((w) => w > 0));
  if (positive.length === 0) return { weights: [...weights], capped: [], cap: Infinity };
  const cap = ratio * medianInPlace(positive);
  const capped: number[] = [];
  const out = weights.map((w, i) => {
    if (w <= cap) return w;
    capped.push(i);
    return cap;
  });
  return { weights: out, capped, cap };
}
