import { sweepResult } from './sweep.ts';

const fill = (nodes: number, rss: number, ratio: number, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  bench: 'operator', mode: 'fill', complete: true, nodes, operator_peak_rss_mib: rss, spotswarm_fill_seconds: ratio * 10, floor_fill_seconds: 10,
  ratio_spotswarm_over_floor: ratio, waiting_bounded: true, ...over,
});

describe('sweepResult', () => {
  it('lists every size and the RSS growth over the node growth', () => {
    const { result, summary } = sweepResult([fill(500, 100, 1.1), fill(1000, 130, 1.15), fill(2000, 200, 1.2)], [500, 1000, 2000]);
    expect(result).toMatchObject({
      bench: 'operator', mode: 'fill-sweep', complete: true, waiting_bounded: true, sweep_nodes: [500, 1000, 2000],
      operator_peak_rss_mib_by_nodes: { 500: 100, 1000: 130, 2000: 200 },
      ratio_spotswarm_over_floor_by_nodes: { 500: 1.1, 1000: 1.15, 2000: 1.2 },
      rss_growth_over_nodes_growth: 0.5,
    });
    expect(summary).toContain('2000 nodes   peak RSS 200 MiB');
  });

  it('is incomplete when a size failed or is missing, and unbounded when one size was', () => {
    expect(sweepResult([fill(500, 100, 1.1), fill(1000, 0, 1, { complete: false, operator_peak_rss_mib: null })], [500, 1000, 2000]).result)
      .toMatchObject({ complete: false, rss_growth_over_nodes_growth: null });
    expect(sweepResult([fill(500, 100, 1.1, { waiting_bounded: false })], [500]).result).toMatchObject({ complete: true, waiting_bounded: false });
  });
});
