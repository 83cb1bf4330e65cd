/**
 * The sweep's result: the fill runs at each node count side by side (the
 * operator's peak RSS, the fill times and their ratio), and how the RSS grew
 * against the nodes from the smallest size to the largest.
 */
import { round } from './stats.ts';

export interface SweepSize {
  nodes: number;
  complete: boolean;
  operator_peak_rss_mib: number | null;
  spotswarm_fill_seconds: number | null;
  floor_fill_seconds: number | null;
  ratio_spotswarm_over_floor: number | null;
  waiting_bounded: boolean | null;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** `results`: one fill result per size run, in the order of `sizes` (a failed size ends the list). */
export function sweepResult(results: readonly Record<string, unknown>[], sizes: readonly number[]): { result: Record<string, unknown>; summary: string } {
  const rows: SweepSize[] = results.map((r) => ({
    nodes: num(r['nodes']) ?? 0,
    complete: r['complete'] === true,
    operator_peak_rss_mib: num(r['operator_peak_rss_mib']),
    spotswarm_fill_seconds: num(r['spotswarm_fill_seconds']),
    floor_fill_seconds: num(r['floor_fill_seconds']),
    ratio_spotswarm_over_floor: num(r['ratio_spotswarm_over_floor']),
    waiting_bounded: typeof r['waiting_bounded'] === 'boolean' ? r['waiting_bounded'] : null,
  }));
  const first = rows[0];
  const last = rows[rows.length - 1];
  // RSS growth over node growth, smallest to largest size: below 1, memory grows slower than the cluster.
  const growth = first && last && last.nodes > first.nodes && first.operator_peak_rss_mib && last.operator_peak_rss_mib
    ? round((last.operator_peak_rss_mib / first.operator_peak_rss_mib) / (last.nodes / first.nodes), 2)
    : null;
  const complete = rows.length === sizes.length && rows.every((r) => r.complete);
  const result: Record<string, unknown> = {
    bench: 'operator',
    mode: 'fill-sweep',
    complete,
    waiting_bounded: rows.every((r) => r.waiting_bounded !== false),
    sweep_nodes: [...sizes],
    operator_peak_rss_mib_by_nodes: Object.fromEntries(rows.map((r) => [String(r.nodes), r.operator_peak_rss_mib])),
    ratio_spotswarm_over_floor_by_nodes: Object.fromEntries(rows.map((r) => [String(r.nodes), r.ratio_spotswarm_over_floor])),
    rss_growth_over_nodes_growth: growth,
    sizes: rows,
  };
  const line = (r: SweepSize): string =>
    `  ${String(r.nodes).padStart(6)} nodes   peak RSS ${r.operator_peak_rss_mib ?? '-'} MiB   fill ${r.spotswarm_fill_seconds ?? 'INCOMPLETE'}s, floor ${r.floor_fill_seconds ?? '-'}s, ratio ${r.ratio_spotswarm_over_floor ?? '-'}`;
  const summary = [
    `operator bench (fill sweep over ${sizes.join(', ')} nodes)${complete ? '' : ': INCOMPLETE'}`,
    ...rows.map(line),
    `  RSS growth / node growth  ${growth ?? '-'} (below 1: sub-linear)`,
  ].join('\n');
  return { result, summary };
}
