/** The operator's /metrics, as counters the bench subtracts between scrapes. */
import type { Sample } from '../../testkit/prometheus/index.ts';
import { t } from './clock.ts';
import { addToHisto, diffHisto, emptyHisto, histoSummary, mergeHistos, type Histo, type HistoSummary } from './histogram.ts';

export interface OperatorCounters {
  /** When scraped (bench clock, ms). */
  at: number;
  requests: number;
  reconciles: number;
  /** "verb resource code" (all clusters) → requests. */
  byRequest: Record<string, number>;
  /** "cluster verb resource code" → requests. */
  byClusterRequest: Record<string, number>;
  byCluster: Record<string, number>;
  byResult: Record<string, number>;
  reconcileSecondsSum: number;
  reconcileHisto: Histo;
  /** "cluster verb resource" → latency histogram of spotswarm_api_request_duration_seconds. */
  requestHistos: Map<string, Histo>;
  podsCreated: number;
  leader: number;
}

export function countersOf(samples: Sample[]): OperatorCounters {
  const c: OperatorCounters = {
    at: t(), requests: 0, reconciles: 0, byRequest: {}, byClusterRequest: {}, byCluster: {}, byResult: {},
    reconcileSecondsSum: 0, reconcileHisto: emptyHisto(), requestHistos: new Map(), podsCreated: 0, leader: 0,
  };
  const inc = (m: Record<string, number>, k: string, v: number): void => void (m[k] = (m[k] ?? 0) + v);
  for (const s of samples) {
    if (s.name === 'spotswarm_api_requests_total') {
      const { cluster = '', verb = '', resource = '', code = '' } = s.labels;
      c.requests += s.value;
      inc(c.byRequest, `${verb} ${resource} ${code}`, s.value);
      inc(c.byClusterRequest, `${cluster} ${verb} ${resource} ${code}`, s.value);
      inc(c.byCluster, cluster, s.value);
    } else if (s.name === 'spotswarm_reconcile_total') {
      c.reconciles += s.value;
      inc(c.byResult, s.labels['result'] ?? '', s.value);
    } else if (s.name === 'spotswarm_reconcile_duration_seconds_sum') {
      c.reconcileSecondsSum += s.value;
      addToHisto(c.reconcileHisto, s);
    } else if (s.name === 'spotswarm_reconcile_duration_seconds_bucket') {
      addToHisto(c.reconcileHisto, s);
    } else if (s.name.startsWith('spotswarm_api_request_duration_seconds_') && !s.name.endsWith('_count')) {
      const k = `${s.labels['cluster']} ${s.labels['verb']} ${s.labels['resource']}`;
      let h = c.requestHistos.get(k);
      if (!h) c.requestHistos.set(k, (h = emptyHisto()));
      addToHisto(h, s);
    } else if (s.name === 'spotswarm_pods_created_total') {
      c.podsCreated += s.value;
    } else if (s.name === 'spotswarm_leader') {
      c.leader = s.value;
    }
  }
  return c;
}

/** The keys whose count changed between two scrapes, with the change. */
export function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Request latency between two scrapes: overall, per cluster, and per "cluster verb resource". */
export function requestLatency(after: OperatorCounters, before: OperatorCounters): { all: HistoSummary; byCluster: Record<string, HistoSummary>; byKind: Record<string, HistoSummary> } {
  const diffs = new Map([...after.requestHistos].map(([k, h]) => [k, diffHisto(h, before.requestHistos.get(k))]));
  const byCluster: Record<string, HistoSummary> = {};
  for (const cl of new Set([...diffs.keys()].map((k) => k.split(' ')[0]!))) {
    const s = histoSummary(mergeHistos([...diffs].filter(([k]) => k.split(' ')[0] === cl).map(([, h]) => h)));
    if (s.count > 0) byCluster[cl] = s;
  }
  const byKind: Record<string, HistoSummary> = {};
  for (const [k, h] of [...diffs].sort((a, b) => a[0].localeCompare(b[0]))) {
    const s = histoSummary(h);
    if (s.count > 0) byKind[k] = s;
  }
  return { all: histoSummary(mergeHistos([...diffs.values()])), byCluster, byKind };
}
