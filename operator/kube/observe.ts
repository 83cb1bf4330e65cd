/**
 * One reconcile's look at a swarm, and its decision: the pods and capacity
 * of every placement from the caches, with what the controller expects
 * (expectations.ts), through the pure reconciler and the spec checks. The
 * apply steps (apply.ts) act on what this returns.
 */
import { LABEL_SWARM_UID, type Placement, type TrainingSwarm } from '../../api/index.ts';
import { viewPod, withExpectedPods } from '../reconcile/pods.ts';
import { reconcile, type PlacementInput, type ReconcileResult } from '../reconcile/reconcile.ts';
import type { TelemetrySummary } from '../telemetry/aggregate.ts';
import { applySpecProblems, type SpecEvent } from '../validate/semantic.ts';
import type { ClusterCache } from './cluster.ts';
import type { PodExpectations } from './expectations.ts';
import type { Checked } from './spec-check.ts';

/** What one reconcile observed and decided. */
export interface Observed {
  namespace: string;
  name: string;
  /** `${namespace}/${name}`: the work queue's and telemetry's key, and the swarm's name in logs. */
  key: string;
  uid: string;
  placements: readonly Placement[];
  /** The cluster of each usable placement, by placement name. */
  clusters: ReadonlyMap<string, ClusterCache>;
  checked: Checked;
  telemetry?: TelemetrySummary;
  /** What the reconciler was given, one per placement. */
  inputs: readonly PlacementInput[];
  result: ReconcileResult;
  /** Events for spec problems found or resolved. */
  specEvents: readonly SpecEvent[];
  /** Per placement, the resourceVersion of each pod as this reconcile saw it: what its delete may assume. */
  seenVersions: ReadonlyMap<string, ReadonlyMap<string, string | undefined>>;
}

export interface ObserveInput {
  /** The work queue's key, split. */
  namespace: string;
  name: string;
  swarm: TrainingSwarm;
  placements: readonly Placement[];
  clusters: ReadonlyMap<string, ClusterCache>;
  /** Placements whose cluster cannot be used, with the reason. */
  unusable: ReadonlyMap<string, string>;
  checked: Checked;
  telemetry?: TelemetrySummary;
  now: Date;
  expectations: PodExpectations;
}

/** How the reconciler sees a placement whose cluster cannot be used at all. */
export function unusablePlacement(name: string, problem: string): PlacementInput {
  return { name, pods: [], reachable: false, problem };
}

/**
 * Reads pods and capacity, decides, and reserves the creates decided
 * (PodExpectations.expectCreations) with no await in between: concurrent
 * reconciles of other swarms then see these pods as waiting before they
 * exist, and do not fill the same free GPUs. The caller abandons the
 * reservations when the reconcile ends.
 */
export function observe(i: ObserveInput): Observed {
  const { swarm, expectations } = i;
  const uid = swarm.metadata.uid!;
  const seenVersions = new Map<string, Map<string, string | undefined>>();
  const inputs = i.placements.map((pl): PlacementInput => {
    const c = i.clusters.get(pl.name);
    if (!c) return unusablePlacement(pl.name, i.unusable.get(pl.name)!);
    const pods = c.trainerPods(swarm).filter((p) => p.metadata?.labels?.[LABEL_SWARM_UID] === uid);
    const expected = expectations.observe(uid, pl.name, new Set(pods.map((p) => p.metadata?.name ?? '')));
    seenVersions.set(pl.name, new Map([
      ...expected.created.map((e) => [e.name, e.resourceVersion] as const),
      ...pods.map((p) => [p.metadata?.name ?? '', p.metadata?.resourceVersion] as const),
    ]));
    const req = { gpus: swarm.spec.trainer.resources.gpus, nodeSelector: pl.nodeSelector ?? swarm.spec.nodeSelector, tolerations: pl.tolerations ?? swarm.spec.tolerations };
    const capacity = c.capacityFor(swarm, req);
    // Pods other swarms are creating here are not in the cache yet, but they will take free GPUs first.
    const inFlight = expectations.inFlightElsewhere(uid, pl.name);
    const since = c.unreachableSince();
    return {
      name: pl.name,
      pods: withExpectedPods(pods.map(viewPod), expected),
      capacity: inFlight > 0 ? { ...capacity, pendingElsewhere: capacity.pendingElsewhere + inFlight } : capacity,
      reachable: c.reachable(),
      ...(since && !c.reachable() ? { unreachableSince: since } : {}),
    };
  });
  const decided = reconcile({ swarm, placements: inputs, ...(i.telemetry ? { telemetry: i.telemetry } : {}), now: i.now });
  const { result, events: specEvents } = applySpecProblems(decided, swarm.status, i.checked.problems, swarm.metadata.generation ?? 0, i.now);
  for (const [pl, a] of Object.entries(result.actions)) if (a.create > 0) expectations.expectCreations(uid, pl, a.create);
  return {
    namespace: i.namespace,
    name: i.name,
    key: `${i.namespace}/${i.name}`,
    uid,
    placements: i.placements,
    clusters: i.clusters,
    checked: i.checked,
    ...(i.telemetry ? { telemetry: i.telemetry } : {}),
    inputs,
    result,
    specEvents,
    seenVersions,
  };
}
