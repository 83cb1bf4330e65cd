/**
 * BIND (one cluster): how fast the operator gets every trainer pod of N
 * swarms bound, against the bench creating the pods itself (the floor) and
 * against ReplicaSets through kube-controller-manager (the baseline), on the
 * same nodes, one phase after another.
 */
import type { V1ReplicaSet } from '@kubernetes/client-node';
import { GROUP, LABEL_SWARM, PLURAL, VERSION, type TrainingSwarm } from '../../api/index.ts';
import { sumCounts } from './bind-tracker.ts';
import { LABEL_SET, NS_BASELINE, NS_DIRECT, NS_SWARMS } from './constants.ts';
import { diffHisto, histoSummary } from './histogram.ts';
import { operatorCheck, operatorEvents, trackedPhase, waitQuiet, type ModeContext } from './mode-context.ts';
import { diffCounts, requestLatency } from './operator-metrics.ts';
import type { PhaseCheck, PhaseResult } from './phase.ts';
import { pool } from './pool.ts';
import { round } from './stats.ts';

/** Runs the BIND phases and returns the result (also printed as a summary). */
export async function bindMode(ctx: ModeContext, common: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { o, home, swarmName, swarmOf, plainPod } = ctx;
  const bindPhase = (name: string, what: string, namespace: string, groupLabel: string, create: () => Promise<void>, cleanup: boolean, check: PhaseCheck = () => (ctx.checkOperator(), '')): Promise<PhaseResult> =>
    trackedPhase(ctx, namespace, groupLabel, (trs) => ({
      name, what: `${what} (${o.pods} pods of 1 GPU)`, trackers: trs, create, check, expected: o.pods,
      done: (per) => {
        const c = sumCounts(per);
        return c.bound >= o.pods && c.live === c.bound;
      },
      doneAt: () => Math.max(...trs.map((tr) => tr.summary().lastBoundAt)),
      progress: (per) => {
        const c = sumCounts(per);
        return `${c.bound}/${o.pods} bound, ${c.live} pods exist`;
      },
    }), cleanup);
  const each = (fn: (i: number) => Promise<unknown>) => () => pool(Array.from({ length: o.swarms }, (_, i) => i), o.applyConcurrency, async (i) => void (await fn(i)));

  let direct: PhaseResult | undefined;
  let baseline: PhaseResult | undefined;
  if (o.baseline) {
    // Floor: the bench creates the pods itself (--floor-concurrency, by default the applies'); only the apiserver and the scheduler work.
    direct = await bindPhase('direct-pods', `${o.pods} pods directly`, NS_DIRECT, LABEL_SET, () => pool(Array.from({ length: o.pods }, (_, j) => j), o.floorConcurrency, async (j) => {
      const i = Math.floor(j / o.peers);
      await home.core.createNamespacedPod({ namespace: NS_DIRECT, body: plainPod(`${swarmName(i)}-${j % o.peers}`, { [LABEL_SET]: swarmName(i) }) });
    }), true);
    // Baseline: ReplicaSets through kube-controller-manager.
    baseline = await bindPhase('replicaset', `${o.swarms} ReplicaSets`, NS_BASELINE, LABEL_SET, each((i) => {
      const labels = { [LABEL_SET]: swarmName(i) };
      const rs: V1ReplicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: swarmName(i), namespace: NS_BASELINE },
        spec: { replicas: o.peers, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { ...plainPod('', labels).spec!, restartPolicy: 'Always' } } },
      };
      return home.apps.createNamespacedReplicaSet({ namespace: NS_BASELINE, body: rs });
    }), true);
  }

  // ------------------------------------------------ spotswarm: TrainingSwarms through the operator
  ctx.checkOperator();
  const before = await ctx.scrape();
  // The operator's counters in the progress lines, and a fast failure when it only fails.
  let during = before;
  const opScraper = setInterval(() => void ctx.scrape().then((c) => void (during = c), () => undefined), 2_000);
  ctx.started.timers.push(opScraper);
  const swarmsPhase = await bindPhase('spotswarm', `${o.swarms} TrainingSwarms`, NS_SWARMS, LABEL_SWARM, each((i) =>
    home.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS, body: swarmOf(i, NS_SWARMS) })), false,
  operatorCheck(ctx, before, () => during));
  clearInterval(opScraper);
  const atBound = await ctx.scrape();
  const { after, quietAfterSeconds } = await waitQuiet(ctx, atBound);
  const eventsByReason = await operatorEvents(home, NS_SWARMS);
  const events = Object.values(eventsByReason).reduce((a, b) => a + b, 0);
  const swarmList = (await home.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS })) as { items: TrainingSwarm[] };
  const statusScheduled = swarmList.items.filter((s) => s.status?.peers?.scheduled === o.peers).length;
  const peakRssKiB = ctx.peakRss();

  const requests = after.requests - before.requests;
  const reconciles = after.reconciles - before.reconciles;
  const reconcileSeconds = after.reconcileSecondsSum - before.reconcileSecondsSum;
  const over = (a: PhaseResult, b: PhaseResult | undefined): number | null =>
    b?.doneSeconds && a.doneSeconds !== null ? round(a.doneSeconds / b.doneSeconds) : null;
  const ratio = over(swarmsPhase, baseline);

  const result = {
    bench: 'operator',
    mode: 'bind',
    complete: swarmsPhase.complete && (baseline?.complete ?? true) && (direct?.complete ?? true),
    clusters: 1,
    swarms: o.swarms,
    nodes: o.nodes,
    peers_per_swarm: o.peers,
    gpus_per_node: o.gpusPerNode,
    pods: o.pods,
    operator_concurrency: o.operatorConcurrency ? Number(o.operatorConcurrency) : null,
    ...common,
    spotswarm_bind_all_seconds: swarmsPhase.doneSeconds,
    replicaset_bind_all_seconds: baseline?.doneSeconds ?? null,
    direct_bind_all_seconds: direct?.doneSeconds ?? null,
    ratio_spotswarm_over_replicaset: ratio,
    ratio_spotswarm_over_direct: over(swarmsPhase, direct),
    ratio_replicaset_over_direct: baseline ? over(baseline, direct) : null,
    spotswarm_create_all_seconds: swarmsPhase.allCreatedSeconds,
    replicaset_create_all_seconds: baseline?.allCreatedSeconds ?? null,
    direct_create_all_seconds: direct?.allCreatedSeconds ?? null,
    spotswarm_apply_seconds: swarmsPhase.applySeconds,
    replicaset_apply_seconds: baseline?.applySeconds ?? null,
    direct_apply_seconds: direct?.applySeconds ?? null,
    spotswarm_mean_create_to_bind_ms: swarmsPhase.meanBindLatencyMs,
    replicaset_mean_create_to_bind_ms: baseline?.meanBindLatencyMs ?? null,
    direct_mean_create_to_bind_ms: direct?.meanBindLatencyMs ?? null,
    spotswarm_max_create_to_bind_ms: swarmsPhase.maxBindLatencyMs,
    spotswarm_bound: swarmsPhase.bound,
    replicaset_bound: baseline?.bound ?? null,
    direct_bound: direct?.bound ?? null,
    spotswarm_pods_created: swarmsPhase.created,
    operator_api_requests: requests,
    operator_reconciles: reconciles,
    operator_requests_per_reconcile: reconciles > 0 ? round(requests / reconciles) : null,
    operator_requests_per_swarm: round(requests / o.swarms),
    operator_reconciles_per_swarm: round(reconciles / o.swarms),
    operator_api_requests_at_all_bound: atBound.requests - before.requests,
    operator_reconciles_at_all_bound: atBound.reconciles - before.reconciles,
    operator_quiet_after_all_bound_seconds: quietAfterSeconds,
    operator_mean_reconcile_ms: reconciles > 0 ? round((reconcileSeconds / reconciles) * 1000, 1) : null,
    operator_reconcile_ms: histoSummary(diffHisto(after.reconcileHisto, before.reconcileHisto)),
    operator_api_latency_ms: requestLatency(after, before).all,
    operator_event_creates: events,
    operator_events_by_reason: eventsByReason,
    operator_requests_by_kind: diffCounts(after.byRequest, before.byRequest),
    operator_reconciles_by_result: diffCounts(after.byResult, before.byResult),
    operator_peak_rss_mib: round(peakRssKiB / 1024, 1),
    swarms_status_scheduled: statusScheduled,
    spotswarm_cpu_seconds: swarmsPhase.cpu,
    replicaset_cpu_seconds: baseline?.cpu ?? null,
    direct_cpu_seconds: direct?.cpu ?? null,
  };

  const line = (label: string, r: PhaseResult | undefined): string => r
    ? `  ${label.padEnd(26)}all bound in ${r.doneSeconds ?? 'INCOMPLETE'}s (all created ${r.allCreatedSeconds ?? '-'}s, apply ${r.applySeconds}s, mean create-to-bind ${r.meanBindLatencyMs} ms)`
    : `  ${label.padEnd(26)}skipped`;
  process.stdout.write([
    '',
    `operator bench: ${o.swarms} swarms x ${o.peers} peers = ${o.pods} pods, ${o.nodes} nodes x ${o.gpusPerNode} GPUs`,
    `  control plane start       ${common['controlplane_start_seconds']}s; nodes registered and Ready in ${common['nodes_register_seconds']}s`,
    line('direct pods (floor)', direct),
    line('replicaset (baseline)', baseline),
    line('spotswarm', swarmsPhase),
    `  spotswarm / replicaset    ${ratio ?? '-'}   (spotswarm / direct ${result.ratio_spotswarm_over_direct ?? '-'})`,
    `  operator                  ${requests} API requests / ${reconciles} reconciles = ${result.operator_requests_per_reconcile} per reconcile (+${events} Events); mean reconcile ${result.operator_mean_reconcile_ms} ms; quiet ${quietAfterSeconds}s after all bound`,
    `  operator peak RSS         ${result.operator_peak_rss_mib} MiB`,
    `  swarm status scheduled=${o.peers} ${statusScheduled}/${o.swarms}`,
    '',
  ].join('\n') + '\n');
  return result;
}
