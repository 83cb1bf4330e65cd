/**
 * FILL (two or more clusters): swarms that together want more peers than
 * there are GPUs. How long until every GPU in every cluster is used by a
 * bound trainer pod (against the bench filling them itself), how many pods
 * are left waiting, and what that costs the operator.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP, LABEL_SWARM, PLURAL, VERSION, type TrainingSwarm } from '../../api/index.ts';
import { apiserverRates, markApiservers } from './apiserver.ts';
import type { BindTracker } from './bind-tracker.ts';
import { say, secs, t } from './clock.ts';
import type { Cluster } from './clusters.ts';
import { LABEL_SET, NS_DIRECT, NS_SWARMS, STATUS_SETTLE_MS } from './constants.ts';
import { diffHisto, histoSummary, type HistoSummary } from './histogram.ts';
import { operatorCheck, operatorEvents, trackedPhase, waitQuiet, type ModeContext } from './mode-context.ts';
import { diffCounts, requestLatency, type OperatorCounters } from './operator-metrics.ts';
import type { PhaseResult, PhaseSpec } from './phase.ts';
import { pool } from './pool.ts';
import { procKiB } from './proc.ts';
import { percentile, round } from './stats.ts';

/** Runs the FILL phases and returns the result (also printed as a summary). */
export async function fillMode(ctx: ModeContext, common: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { o, clusters, home, swarmName, swarmOf, plainPod } = ctx;
  const names = clusters.map((c) => c.name);
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const byCluster = <T>(f: (c: Cluster, i: number) => T): Record<string, T> => Object.fromEntries(clusters.map((c, i) => [c.name, f(c, i)]));
  /** Goal: as many pods bound in each cluster as it has GPUs (each pod asks for one), i.e. no free GPU left. */
  const fillGoal = (trs: BindTracker[]): Pick<PhaseSpec, 'done' | 'doneAt' | 'doneAtWall' | 'progress'> => ({
    done: (per) => per.every((c, i) => c.bound >= clusters[i]!.gpus),
    doneAt: () => Math.max(...trs.map((tr, i) => tr.nthBoundAt(clusters[i]!.gpus) ?? Infinity)),
    doneAtWall: () => Math.max(...trs.map((tr, i) => tr.nthBoundWall(clusters[i]!.gpus) ?? Infinity)),
    progress: (per) => per.map((c, i) => `${clusters[i]!.name} ${c.bound}/${clusters[i]!.gpus} GPUs used, ${c.waiting} waiting`).join('; '),
  });

  // ------------------------------------------------ floor: the bench fills every cluster's GPUs itself, all clusters at once
  let floor: PhaseResult | undefined;
  if (o.baseline) {
    floor = await trackedPhase(ctx, NS_DIRECT, LABEL_SET, (trs) => ({
      name: 'floor', what: `one pod per GPU directly in ${names.join(' and ')} (${o.gpus} pods of 1 GPU)`, trackers: trs, ...fillGoal(trs),
      check: () => (ctx.checkOperator(), ''),
      create: async () => {
        await Promise.all(clusters.map((c) => pool(range(c.gpus), o.floorConcurrency, async (j) => {
          await c.core.createNamespacedPod({ namespace: NS_DIRECT, body: plainPod(`floor-${j}`, { [LABEL_SET]: swarmName(j % o.swarms) }) });
        })));
      },
    }), true);
  }

  // ------------------------------------------------ spotswarm: the swarms want more peers than there are GPUs
  ctx.checkOperator();
  const before = await ctx.scrape();
  const series: OperatorCounters[] = [before];
  let during = before;
  const opScraper = setInterval(() => void ctx.scrape().then((c) => {
    during = c;
    series.push(c);
  }, () => undefined), 2_000);
  ctx.started.timers.push(opScraper);
  const apiBefore = await markApiservers(clusters);
  const appliedWall: number[] = [];
  // Waiting pods (live, unbound), sampled every 250 ms: while GPUs are free, and after every GPU is used.
  let trs: BindTracker[] = [];
  let filled = false;
  const waiting = { peakTotal: 0, peakPerSwarmCluster: 0, afterFillPeakTotal: 0, afterFillPeakPerSwarmCluster: 0 };
  const sampleWaiting = (): void => {
    const total = trs.reduce((a, tr) => a + tr.counts().waiting, 0);
    const per = trs.reduce((a, tr) => Math.max(a, tr.maxWaitingPerGroup()), 0);
    waiting.peakTotal = Math.max(waiting.peakTotal, total);
    waiting.peakPerSwarmCluster = Math.max(waiting.peakPerSwarmCluster, per);
    if (filled) {
      waiting.afterFillPeakTotal = Math.max(waiting.afterFillPeakTotal, total);
      waiting.afterFillPeakPerSwarmCluster = Math.max(waiting.afterFillPeakPerSwarmCluster, per);
    }
  };
  const waitingSampler = setInterval(sampleWaiting, 250);
  ctx.started.timers.push(waitingSampler);
  const rateNow = (): number => {
    const [a, b] = series.slice(-2);
    return a && b && b.at > a.at ? Math.round((b.requests - a.requests) / ((b.at - a.at) / 1000)) : 0;
  };
  const baseCheck = operatorCheck(ctx, before, () => during);
  const phase = await trackedPhase(ctx, NS_SWARMS, LABEL_SWARM, (trackers) => {
    trs = trackers;
    const goal = fillGoal(trackers);
    return {
      name: 'spotswarm', what: `${o.swarms} TrainingSwarms placing in ${names.join(' and ')} (up to ${o.pods} peers for ${o.gpus} GPUs)`, trackers,
      create: () => pool(range(o.swarms), o.applyConcurrency, async (i) => {
        await home.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS, body: swarmOf(i, NS_SWARMS) });
        appliedWall[i] = Date.now();
      }),
      ...goal,
      done: (per) => (filled = goal.done(per)),
      progress: (per) => `${goal.progress(per)} (most per swarm and cluster: ${trackers.reduce((a, tr) => Math.max(a, tr.maxWaitingPerGroup()), 0)})`,
      check: (elapsedMs, c) => `${baseCheck(elapsedMs, c)} (${rateNow()}/s now), RSS ${Math.round(procKiB(ctx.op.pid, 'VmRSS') / 1024)} MiB`,
    };
  }, false);
  const atFill = await ctx.scrape();
  series.push(atFill);
  clearInterval(opScraper);
  const apiAtFill = await markApiservers(clusters);
  say('spotswarm: waiting until the operator is quiet');
  const { after, quietAfterSeconds } = await waitQuiet(ctx, atFill);
  sampleWaiting();
  clearInterval(waitingSampler);
  const settled = trs.map((tr) => tr.counts());
  const boundRemoved = byCluster((_, i) => trs[i]!.boundRemoved());
  const settledPerSwarmCluster = trs.reduce((a, tr) => Math.max(a, tr.maxWaitingPerGroup()), 0);
  const waitingBounded = settledPerSwarmCluster <= o.maxPending;
  const peakRssKiB = ctx.peakRss();

  // The swarms: how the GPUs were shared, how long each waited for its first pod (the work queue), what status says.
  const swarmNames = range(o.swarms).map(swarmName);
  const boundOf = (n: string): number => trs.reduce((a, tr) => a + (tr.boundByGroup().get(n) ?? 0), 0);
  const bound = swarmNames.map(boundOf);
  // By the apiserver's clock (creationTimestamp, whole seconds): how long each swarm waited in the operator's queue.
  const firstPodSeconds: number[] = [];
  for (const [i, n] of swarmNames.entries()) {
    const first = Math.min(...trs.map((tr) => tr.firstCreatedWallByGroup().get(n) ?? Infinity));
    if (Number.isFinite(first) && appliedWall[i] !== undefined) firstPodSeconds.push(Math.max(0, Math.round((first - appliedWall[i]!) / 1000)));
  }
  // Status is written by reconciles the operator may still have queued (a retry after a conflict,
  // a capacity debounce), so it is read until it agrees with the watches, for at most STATUS_SETTLE_MS.
  const statusT0 = t();
  let statusMatches = 0;
  let statusFreeGpus: Record<string, number> = {};
  for (;;) {
    const swarmList = ((await home.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS })) as { items: TrainingSwarm[] }).items;
    statusMatches = swarmList.filter((s) => s.status?.peers?.scheduled === boundOf(s.metadata.name ?? '')).length;
    statusFreeGpus = byCluster((c) => swarmList.reduce((m, s) => Math.max(m, s.status?.clusters?.find((x) => x.name === c.name)?.freeGpus ?? 0), 0));
    const watchedFree = byCluster((c, i) => Math.max(0, c.gpus - settled[i]!.bound));
    const agrees = statusMatches === o.swarms && Object.keys(watchedFree).every((k) => watchedFree[k] === statusFreeGpus[k]);
    if (agrees || t() - statusT0 > STATUS_SETTLE_MS) break;
    await sleep(500);
  }
  const statusSettleSeconds = secs(t() - statusT0);
  const eventsByReason = await operatorEvents(home, NS_SWARMS);
  const events = Object.values(eventsByReason).reduce((a, b) => a + b, 0);

  // The operator's work: requests/s while filling, and everything until it was quiet.
  const fillWindowSeconds = (atFill.at - before.at) / 1000;
  const atFillRequests = atFill.requests - before.requests;
  let peakRate = 0;
  for (let i = 1; i < series.length; i++) {
    const dt = (series[i]!.at - series[i - 1]!.at) / 1000;
    if (dt > 0.5) peakRate = Math.max(peakRate, (series[i]!.requests - series[i - 1]!.requests) / dt);
  }
  const requests = after.requests - before.requests;
  const reconciles = after.reconciles - before.reconciles;
  const byKind = diffCounts(after.byClusterRequest, before.byClusterRequest);
  const sumKinds = (test: (cluster: string, verb: string, resource: string, code: string) => boolean): number =>
    Object.entries(byKind).reduce((a, [k, v]) => a + (test(...(k.split(' ') as [string, string, string, string])) ? v : 0), 0);
  const latency = requestLatency(after, before);
  const over = (a: PhaseResult, b: PhaseResult | undefined): number | null =>
    b?.doneSeconds && a.doneSeconds !== null ? round(a.doneSeconds / b.doneSeconds) : null;
  const operatorCpu = phase.cpu['operator'] ?? 0;
  /** Share of the operator's worker time spent reconciling: near 1, swarms wait in its work queue. */
  const busy = (a: OperatorCounters, b: OperatorCounters): number => round((a.reconcileSecondsSum - b.reconcileSecondsSum) / (((a.at - b.at) / 1000) * o.operatorWorkers), 2);
  const sorted = [...bound].sort((a, b) => a - b);

  const result = {
    bench: 'operator',
    mode: 'fill',
    complete: phase.complete && (floor?.complete ?? true),
    clusters: o.clusters,
    cluster_names: names,
    swarms: o.swarms,
    nodes: o.nodes,
    nodes_per_cluster: o.nodesPerCluster,
    gpus_per_node: o.gpusPerNode,
    gpus: o.gpus,
    peers_max_per_swarm: o.peers,
    peers_wanted: o.pods,
    max_pending: o.maxPending,
    operator_concurrency: o.operatorConcurrency ? Number(o.operatorConcurrency) : null,
    floor_concurrency_per_cluster: o.floorConcurrency,
    heartbeat_seconds: o.heartbeatMs / 1000,
    ...common,
    nodes_registered_per_second: round(o.nodes / (common['nodes_registered_seconds'] as number), 1),
    spotswarm_fill_seconds: phase.doneSeconds,
    floor_fill_seconds: floor?.doneSeconds ?? null,
    ratio_spotswarm_over_floor: over(phase, floor),
    spotswarm_fill_seconds_apiserver_clock: phase.doneSecondsApiserver,
    floor_fill_seconds_apiserver_clock: floor?.doneSecondsApiserver ?? null,
    spotswarm_watch_lag_ms: phase.watchLagMs,
    floor_watch_lag_ms: floor?.watchLagMs ?? null,
    spotswarm_fill_seconds_by_cluster: byCluster((c, i) => {
      const at = trs[i]!.nthBoundAt(c.gpus);
      return at === undefined ? null : secs(at - phase.startedAt);
    }),
    spotswarm_apply_seconds: phase.applySeconds,
    floor_apply_seconds: floor?.applySeconds ?? null,
    spotswarm_mean_create_to_bind_ms: phase.meanBindLatencyMs,
    floor_mean_create_to_bind_ms: floor?.meanBindLatencyMs ?? null,
    bound_by_cluster: byCluster((_, i) => settled[i]!.bound),
    free_gpus_by_cluster: byCluster((c, i) => Math.max(0, c.gpus - settled[i]!.bound)),
    spotswarm_pods_created: after.podsCreated - before.podsCreated,
    spotswarm_pods_seen: trs.reduce((a, tr) => a + tr.summary().everCreated, 0),
    operator_pod_deletes: sumKinds((_c, verb, resource) => verb === 'delete' && resource === 'pods'),
    // Nothing lowers a ceiling here, so the operator should only ever shed waiting pods; a bound one removed is a GPU given up.
    bound_pods_removed_by_cluster: boundRemoved,
    waiting_allowed_per_swarm_cluster: o.maxPending,
    waiting_allowed_total: o.swarms * o.clusters * o.maxPending,
    waiting_peak_total: waiting.peakTotal,
    waiting_peak_per_swarm_cluster: waiting.peakPerSwarmCluster,
    waiting_after_fill_peak_total: waiting.afterFillPeakTotal,
    waiting_after_fill_peak_per_swarm_cluster: waiting.afterFillPeakPerSwarmCluster,
    waiting_settled_total: settled.reduce((a, c) => a + c.waiting, 0),
    waiting_settled_by_cluster: byCluster((_, i) => settled[i]!.waiting),
    waiting_settled_per_swarm_cluster_max: settledPerSwarmCluster,
    waiting_bounded: waitingBounded,
    swarms_first_pod_seconds: { p50: percentile(firstPodSeconds, 0.5), p90: percentile(firstPodSeconds, 0.9), max: percentile(firstPodSeconds, 1) },
    swarms_without_pod: o.swarms - firstPodSeconds.length,
    swarms_without_bound_peer: bound.filter((b) => b === 0).length,
    swarms_at_max: bound.filter((b) => b >= o.peers).length,
    bound_per_swarm: { min: sorted[0] ?? 0, p50: percentile(sorted, 0.5), max: sorted[sorted.length - 1] ?? 0 },
    operator_api_requests_at_fill: atFillRequests,
    operator_api_requests_per_second: round(atFillRequests / fillWindowSeconds, 1),
    operator_api_requests_per_second_peak: round(peakRate, 1),
    operator_api_requests_per_second_by_cluster: byCluster((c) => round(((atFill.byCluster[c.name] ?? 0) - (before.byCluster[c.name] ?? 0)) / fillWindowSeconds, 1)),
    operator_api_requests: requests,
    operator_requests_by_kind: byKind,
    operator_api_latency_ms: latency.all,
    operator_api_latency_by_cluster_ms: latency.byCluster,
    operator_api_latency_by_kind_ms: latency.byKind,
    operator_reconciles: reconciles,
    operator_reconciles_at_fill: atFill.reconciles - before.reconciles,
    operator_reconciles_per_swarm: round(reconciles / o.swarms),
    operator_reconciles_by_result: diffCounts(after.byResult, before.byResult),
    operator_reconcile_ms: histoSummary(diffHisto(after.reconcileHisto, before.reconcileHisto)),
    operator_workers: o.operatorWorkers,
    operator_workers_busy_share_to_fill: busy(atFill, before),
    operator_workers_busy_share: busy(after, before),
    operator_status_writes: sumKinds((_c, _v, resource) => resource === `${PLURAL}/status`),
    operator_status_conflicts: sumKinds((_c, _v, resource, code) => resource === `${PLURAL}/status` && code === '409'),
    operator_event_creates: events,
    operator_events_by_reason: eventsByReason,
    operator_quiet_after_fill_seconds: quietAfterSeconds,
    operator_peak_rss_mib: round(peakRssKiB / 1024, 1),
    operator_cpu_seconds_to_fill: operatorCpu,
    operator_cpu_ms_per_request: atFillRequests > 0 ? round((operatorCpu * 1000) / atFillRequests, 2) : null,
    apiserver_requests_per_second_to_fill: apiserverRates(clusters, apiBefore, apiAtFill),
    status_scheduled_matches_watch: statusMatches,
    status_settle_seconds: statusSettleSeconds,
    status_free_gpus_max_by_cluster: statusFreeGpus,
    spotswarm_cpu_seconds: phase.cpu,
    floor_cpu_seconds: floor?.cpu ?? null,
  };

  const lat = (s: HistoSummary): string => `p50 ${s.p50_ms ?? '-'} / p90 ${s.p90_ms ?? '-'} / p99 ${s.p99_ms ?? `>${s.over_ms}`} ms`;
  process.stdout.write([
    '',
    `operator bench (fill): ${o.swarms} swarms x up to ${o.peers} peers = ${o.pods} wanted, ${o.clusters} clusters x ${o.nodesPerCluster.join('/')} nodes x ${o.gpusPerNode} GPU = ${o.gpus} GPUs, maxPending ${o.maxPending}`,
    `  control planes start      ${common['controlplane_start_seconds']}s; ${o.nodes} nodes registered in ${common['nodes_registered_seconds']}s (${result.nodes_registered_per_second}/s), Ready in ${common['nodes_register_seconds']}s; apiservers idle ${JSON.stringify(common['apiserver_idle_requests_per_second'])} req/s`,
    `  floor (direct pods)       ${floor ? `every GPU used in ${floor.doneSeconds ?? 'INCOMPLETE'}s (apiserver clock ${floor.doneSecondsApiserver ?? '-'}s; apply ${floor.applySeconds}s; watch lag p50/max ${floor.watchLagMs.p50}/${floor.watchLagMs.max} ms)` : 'skipped'}`,
    `  spotswarm                 every GPU used in ${phase.doneSeconds ?? 'INCOMPLETE'}s (apiserver clock ${phase.doneSecondsApiserver ?? '-'}s; apply ${phase.applySeconds}s; by cluster ${JSON.stringify(result.spotswarm_fill_seconds_by_cluster)}; watch lag p50/max ${phase.watchLagMs.p50}/${phase.watchLagMs.max} ms)`,
    `  spotswarm / floor         ${result.ratio_spotswarm_over_floor ?? '-'}`,
    `  waiting pods              peak ${waiting.peakTotal} (${waiting.peakPerSwarmCluster} per swarm and cluster), after fill peak ${waiting.afterFillPeakTotal} (${waiting.afterFillPeakPerSwarmCluster}), settled ${result.waiting_settled_total} (${settledPerSwarmCluster} per swarm and cluster; allowed ${o.maxPending}): ${waitingBounded ? 'bounded' : 'NOT BOUNDED'}`,
    `  bound pods removed        ${JSON.stringify(boundRemoved)} (of ${result.operator_pod_deletes} operator deletes)`,
    `  swarms                    ${result.swarms_at_max} at max, ${result.swarms_without_bound_peer} without a bound peer; first pod after apply p50 ${result.swarms_first_pod_seconds.p50}s, max ${result.swarms_first_pod_seconds.max}s`,
    `  operator API requests     ${atFillRequests} to fill = ${result.operator_api_requests_per_second}/s (peak ${result.operator_api_requests_per_second_peak}/s; by cluster ${JSON.stringify(result.operator_api_requests_per_second_by_cluster)}); ${requests} until quiet (${quietAfterSeconds}s after fill)`,
    `  operator API latency      ${lat(latency.all)}; ${Object.entries(latency.byCluster).map(([k, v]) => `${k} ${lat(v)}`).join('; ')}`,
    `  operator reconciles       ${reconciles} (${result.operator_reconciles_per_swarm}/swarm; ${JSON.stringify(result.operator_reconciles_by_result)}), ${lat(result.operator_reconcile_ms)}; ${o.operatorWorkers} workers busy ${result.operator_workers_busy_share_to_fill} of the time to fill; ${result.operator_status_writes} status writes (${result.operator_status_conflicts} conflicts), ${events} Events`,
    `  operator CPU / RSS        ${operatorCpu}s CPU to fill (${result.operator_cpu_ms_per_request} ms per request), peak RSS ${result.operator_peak_rss_mib} MiB`,
    `  apiservers to fill        ${JSON.stringify(result.apiserver_requests_per_second_to_fill)} req/s`,
    '',
  ].join('\n') + '\n');
  return result;
}
