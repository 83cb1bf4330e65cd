/**
 * Prometheus histograms as the operator exports them: built from their
 * `_bucket` and `_sum` samples, subtracted between two scrapes, merged over
 * label sets, and summarized as percentiles the way histogram_quantile
 * computes them.
 */
import type { Sample } from '../../testkit/prometheus/index.ts';
import { round } from './stats.ts';

/** Cumulative count per upper bound (le, Infinity last), plus the sum. */
export interface Histo {
  buckets: Map<number, number>;
  sum: number;
}

export type HistoSummary = { count: number; mean_ms: number | null; p50_ms: number | null; p90_ms: number | null; p99_ms: number | null; over_ms: number | null; over_share: number };

export const emptyHisto = (): Histo => ({ buckets: new Map(), sum: 0 });

/** Adds a `_bucket` or `_sum` sample to `h` (other samples are ignored). */
export function addToHisto(h: Histo, s: Sample): void {
  if (s.name.endsWith('_bucket')) {
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    h.buckets.set(le, (h.buckets.get(le) ?? 0) + s.value);
  } else if (s.name.endsWith('_sum')) {
    h.sum += s.value;
  }
}

/** What was observed between two scrapes of one histogram. */
export function diffHisto(after: Histo | undefined, before: Histo | undefined): Histo {
  const h = emptyHisto();
  for (const [le, c] of after?.buckets ?? []) h.buckets.set(le, c - (before?.buckets.get(le) ?? 0));
  h.sum = (after?.sum ?? 0) - (before?.sum ?? 0);
  return h;
}

export function mergeHistos(hs: Histo[]): Histo {
  const h = emptyHisto();
  for (const x of hs) {
    for (const [le, c] of x.buckets) h.buckets.set(le, (h.buckets.get(le) ?? 0) + c);
    h.sum += x.sum;
  }
  return h;
}

/**
 * The q-quantile in milliseconds, interpolated inside its bucket as
 * Prometheus' histogram_quantile does; null when there is no observation, or
 * when it lies beyond the largest finite bucket (reported as `over_ms`).
 */
export function histoQuantileMs(h: Histo, q: number): number | null {
  const bs = [...h.buckets].sort((a, b) => a[0] - b[0]);
  const total = bs[bs.length - 1]?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of bs) {
    if (c >= rank) {
      if (le === Infinity) return null;
      return round((prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, c - prevCount))) * 1000, 1);
    }
    prevLe = le;
    prevCount = c;
  }
  return null;
}

/** count, mean and percentiles of a histogram (ms), and the share beyond its largest finite bucket. */
export function histoSummary(h: Histo): HistoSummary {
  const bs = [...h.buckets].sort((a, b) => a[0] - b[0]);
  const count = bs[bs.length - 1]?.[1] ?? 0;
  const finite = bs.filter(([le]) => le !== Infinity);
  const lastFinite = finite[finite.length - 1];
  return {
    count,
    mean_ms: count > 0 ? round((h.sum / count) * 1000, 1) : null,
    p50_ms: histoQuantileMs(h, 0.5),
    p90_ms: histoQuantileMs(h, 0.9),
    p99_ms: histoQuantileMs(h, 0.99),
    over_ms: lastFinite ? lastFinite[0] * 1000 : null,
    over_share: count > 0 && lastFinite ? round((count - lastFinite[1]) / count, 4) : 0,
  };
}
