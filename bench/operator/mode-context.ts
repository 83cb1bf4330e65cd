/** What both modes get from the set-up, and the steps of a phase they share. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import type { TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../../testkit/cluster/index.ts';
import type { OperatorProcess } from '../../testkit/harness/index.ts';
import { BindTracker } from './bind-tracker.ts';
import { say, secs, t } from './clock.ts';
import { createNamespace, emptyNamespace, type Cluster } from './clusters.ts';
import { STALL_MS } from './constants.ts';
import type { OperatorCounters } from './operator-metrics.ts';
import type { BenchOptions } from './options.ts';
import { runPhase, type PhaseCheck, type PhaseResult, type PhaseSpec } from './phase.ts';
import type { BenchProcesses } from './processes.ts';

export interface ModeContext {
  o: BenchOptions;
  started: BenchProcesses;
  clusters: Cluster[];
  home: Cluster;
  log: Logger;
  op: OperatorProcess;
  scrape: () => Promise<OperatorCounters>;
  checkOperator: () => void;
  lastReconcileError: () => string;
  swarmName: (i: number) => string;
  swarmOf: (i: number, namespace: string) => TrainingSwarm;
  plainPod: (name: string, labels: Record<string, string>) => V1Pod;
  /** Peak RSS of the operator so far (KiB), VmHWM included. */
  peakRss: () => number;
}

/** A namespace in every cluster, watched; the phase runs; baselines empty it again afterwards. */
export async function trackedPhase(ctx: ModeContext, namespace: string, groupLabel: string, spec: (trackers: BindTracker[]) => PhaseSpec, cleanup: boolean): Promise<PhaseResult> {
  await createNamespace(ctx.clusters, namespace);
  const trs = ctx.clusters.map((c) => new BindTracker(c, namespace, groupLabel));
  ctx.started.trackers.push(...trs);
  await Promise.all(trs.map((tr) => tr.start()));
  const r = await runPhase(spec(trs), ctx.o.timeoutMs, () => ctx.started.cpuSnapshot(ctx.o.fill ? ctx.o.clusterNames : undefined));
  if (!cleanup) return r;
  const tClean = t();
  await emptyNamespace(ctx.clusters, namespace);
  await Promise.all(trs.map((tr) => tr.stop()));
  say(`${r.name}: namespace ${namespace} emptied in ${secs(t() - tClean)}s`);
  await sleep(3_000); // let the schedulers, GC and informers settle before the next phase
  return r;
}

/** Waits until the operator is quiet: no new reconcile or request for 3 s (at most 60 s). */
export async function waitQuiet(ctx: ModeContext, from: OperatorCounters): Promise<{ after: OperatorCounters; quietAfterSeconds: number }> {
  const t0 = t();
  let last = from;
  let stillFor = 0;
  while (stillFor < 3_000 && t() - t0 < 60_000) {
    await sleep(1_000);
    ctx.checkOperator();
    const now = await ctx.scrape();
    stillFor = now.reconciles === last.reconciles && now.requests === last.requests ? stillFor + 1_000 : 0;
    last = now;
  }
  return { after: last, quietAfterSeconds: secs(t() - t0 - stillFor) };
}

/** Events the operator recorded in a namespace of its home cluster, by reason. */
export async function operatorEvents(c: Cluster, namespace: string): Promise<Record<string, number>> {
  const byReason: Record<string, number> = {};
  for (const e of (await c.core.listNamespacedEvent({ namespace })).items) {
    if (e.source?.component !== 'spotswarm-operator' && e.reportingComponent !== 'spotswarm-operator') continue;
    byReason[e.reason ?? ''] = (byReason[e.reason ?? ''] ?? 0) + (e.count ?? 1);
  }
  return byReason;
}

/** The spotswarm phase's progress words: the operator's counters, and a fast failure when it only fails. */
export function operatorCheck(ctx: ModeContext, before: OperatorCounters, during: () => OperatorCounters): PhaseCheck {
  return (elapsedMs, c) => {
    ctx.checkOperator();
    const now = during();
    const failed = (now.byResult['error'] ?? 0) - (before.byResult['error'] ?? 0);
    if (elapsedMs > STALL_MS && c.live === 0 && failed > 0) {
      throw new Error(`the operator created no pod in ${STALL_MS / 1000}s and failed ${failed} reconciles; last: ${ctx.lastReconcileError().slice(0, 400)}`);
    }
    return `; operator: ${now.reconciles - before.reconciles} reconciles (${failed} failed), ${now.requests - before.requests} API requests`;
  };
}
