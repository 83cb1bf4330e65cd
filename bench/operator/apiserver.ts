/** Request rates the apiservers themselves report (apiserver_request_total), between two marks. */
import { readFileSync } from 'node:fs';
import { httpGet } from '../../testkit/cluster/index.ts';
import { sumOf } from '../../testkit/prometheus/index.ts';
import { t } from './clock.ts';
import type { Cluster } from './clusters.ts';
import { round } from './stats.ts';

/** Requests the cluster's apiserver has served so far (apiserver_request_total, every verb and code). */
async function apiserverRequests(c: Cluster): Promise<number> {
  const r = await httpGet(`${c.cp.server}/metrics`, { ca: readFileSync(c.cp.caFile, 'utf8'), token: c.cp.token, timeoutMs: 30_000 });
  if (r.status !== 200) throw new Error(`${c.name} apiserver /metrics: HTTP ${r.status}`);
  return sumOf(r.body, 'apiserver_request_total');
}

export interface ApiserverMark {
  at: number;
  requests: number[];
}

export async function markApiservers(clusters: Cluster[]): Promise<ApiserverMark> {
  const requests = await Promise.all(clusters.map((c) => apiserverRequests(c)));
  return { at: t(), requests };
}

/** Requests/s each apiserver served between two marks, by cluster name. */
export function apiserverRates(clusters: Cluster[], a: ApiserverMark, b: ApiserverMark): Record<string, number> {
  const dt = (b.at - a.at) / 1000;
  return Object.fromEntries(clusters.map((c, i) => [c.name, round((b.requests[i]! - a.requests[i]!) / dt, 1)]));
}
