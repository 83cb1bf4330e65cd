import { addToHisto, diffHisto, emptyHisto, histoQuantileMs, histoSummary, mergeHistos, type Histo } from './histogram.ts';

/** A histogram with cumulative `counts` at the bounds 0.01, 0.1, 1 s and +Inf, and `sum` seconds. */
function histo(counts: [number, number, number, number], sum: number): Histo {
  const h = emptyHisto();
  for (const [i, le] of ['0.01', '0.1', '1', '+Inf'].entries()) addToHisto(h, { name: 'x_bucket', labels: { le }, value: counts[i]! });
  addToHisto(h, { name: 'x_sum', labels: {}, value: sum });
  addToHisto(h, { name: 'x_count', labels: {}, value: counts[3] });
  return h;
}

describe('histograms', () => {
  it('interpolates quantiles inside their bucket, like histogram_quantile', () => {
    const h = histo([10, 20, 20, 20], 0.5);
    expect(histoQuantileMs(h, 0.5)).toBe(10);
    expect(histoQuantileMs(h, 0.75)).toBe(55);
    expect(histoQuantileMs(emptyHisto(), 0.5)).toBeNull();
  });

  it('reports a quantile beyond the largest finite bucket as null, and the share over it', () => {
    const s = histoSummary(histo([0, 0, 5, 10], 30));
    expect(s).toEqual({ count: 10, mean_ms: 3000, p50_ms: 1000, p90_ms: null, p99_ms: null, over_ms: 1000, over_share: 0.5 });
  });

  it('subtracts an earlier scrape and merges label sets', () => {
    const d = diffHisto(histo([4, 6, 8, 8], 2), histo([1, 2, 3, 3], 0.5));
    expect([...d.buckets]).toEqual([[0.01, 3], [0.1, 4], [1, 5], [Infinity, 5]]);
    expect(d.sum).toBe(1.5);
    const m = mergeHistos([d, histo([1, 1, 1, 1], 0.001)]);
    expect(m.buckets.get(Infinity)).toBe(6);
    expect(m.sum).toBeCloseTo(1.501);
  });
});
