/**
 * The reconciler: a pure function from what the operator observes to what it
 * should do. Thin code in operator/kube applies the result, in this order:
 * write status (optimistically, by resourceVersion), then release finalizers,
 * then delete, then create. Because finalizers are released only for pods
 * whose uid is already persisted in status.accountedPods, every ended pod is
 * counted exactly once, even across operator restarts and stale caches.
 */
import {
  LOCAL_PLACEMENT, podSelector,
  type ClusterStatus, type PeerProblem, type Phase, type Placement, type TrainingSwarm, type TrainingSwarmStatus,
} from '../../api/index.ts';
import { allocate } from './allocate.ts';
import type { TelemetrySummary } from '../telemetry/aggregate.ts';
import { conditionEvents, degradedProblems, progressWindowMs, setConditions, swarmConditions } from './conditions.ts';
import type { Ending, PodView } from './pods.ts';

/** First retry delay after a trainer failure; doubles per consecutive failure. */
export const FAILURE_BACKOFF_BASE_MS = 5_000;
export const FAILURE_BACKOFF_MAX_MS = 300_000;
/** A pod that has run this long proves the trainer works; failures reset. */
export const HEALTHY_RUN_MS = 30_000;

/** What the cluster can take right now, from operator/capacity. */
export interface CapacityView {
  /** More peers that fit on free GPUs of eligible nodes now. */
  slots: number;
  /** Other GPU pods waiting to be scheduled, in peers' worth of GPUs: they compete for the same slots. */
  pendingElsewhere: number;
  /** Free GPUs on eligible nodes, for status. */
  freeGpus: number;
}

/** One placement (cluster) as the controller observes it. */
export interface PlacementInput {
  name: string;
  /** Pods of this swarm in that cluster, as its cache sees them. */
  pods: PodView[];
  /** Free capacity there; without it the placement is bounded only by ceilings. */
  capacity?: CapacityView;
  /** False while the cluster's API cannot be reached. */
  reachable: boolean;
  unreachableSince?: string;
  /** Why the cluster cannot be used at all (a missing Secret, an unreadable kubeconfig). */
  problem?: string;
}

export interface ReconcileInput {
  swarm: TrainingSwarm;
  /** One entry per placement of placementsOf(swarm), in the same order. */
  placements: PlacementInput[];
  /** What the peers report over NATS, if any reported recently. */
  telemetry?: TelemetrySummary;
  now: Date;
}

export type SwarmEventReason = 'PodCreated' | 'ScaledUp' | 'Completed' | 'ClusterUnreachable' | 'ClusterReachable' | 'PodPreempted' | 'PodFailed' | 'PodCompleted' | 'PodDeleted' | 'ScaledDown' | 'BackingOff';

export interface SwarmEvent {
  type: 'Normal' | 'Warning';
  /** A SwarmEventReason, or a condition reason on a condition's transition (conditions.ts). */
  reason: SwarmEventReason | (string & {});
  message: string;
}

export interface PlacementActions {
  /** Trainer pods to create (from the pod template). */
  create: number;
  /** Pods to delete, by name. */
  delete: string[];
  /** Ended pods whose accounting finalizer can go: their ending is persisted. */
  release: string[];
}

export interface ReconcileResult {
  /** What to do in each placement, by placement name. */
  actions: Record<string, PlacementActions>;
  status: TrainingSwarmStatus;
  events: SwarmEvent[];
  /** Come back after this long even if nothing changes (backoff expiry). */
  requeueAfterMs?: number;
}

function backoffMs(consecutiveFailures: number): number {
  if (consecutiveFailures <= 0) return 0;
  return Math.min(FAILURE_BACKOFF_BASE_MS * 2 ** (consecutiveFailures - 1), FAILURE_BACKOFF_MAX_MS);
}

/** Which active pods to remove first when there are too many: unscheduled, then pending, then newest. */
function surplus(active: PodView[], count: number): PodView[] {
  const rank = (p: PodView): number => (p.running ? 2 : p.scheduled ? 1 : 0);
  return [...active].sort((a, b) => rank(a) - rank(b) || b.createdAt - a.createdAt).slice(0, count);
}

const endingEvent: Record<Ending, SwarmEvent['reason']> = {
  preempted: 'PodPreempted', failed: 'PodFailed', completed: 'PodCompleted', deleted: 'PodDeleted',
};

/** The swarm's placements; without spec.placements, one in the operator's own cluster. */
export function placementsOf(swarm: TrainingSwarm, localName = LOCAL_PLACEMENT): Placement[] {
  const ps = swarm.spec.placements ?? [];
  return ps.length > 0 ? ps : [{ name: localName, weight: 1, network: { mode: 'PodNetwork' } }];
}

export function reconcile({ swarm, placements, telemetry, now }: ReconcileInput): ReconcileResult {
  const old = swarm.status ?? {};
  const generation = swarm.metadata.generation ?? 0;
  const { min, max, maxPending } = swarm.spec.peers;
  const specs = new Map(placementsOf(swarm).map((p) => [p.name, p]));
  const accounted = new Set(old.accountedPods ?? []);
  const events: SwarmEvent[] = [];
  const actions: Record<string, PlacementActions> = {};
  for (const pl of placements) actions[pl.name] = { create: 0, delete: [], release: [] };

  let preemptions = old.preemptions ?? 0;
  let failures = old.failures ?? 0;
  let consecutiveFailures = old.consecutiveFailures ?? 0;
  let lastFailureTime = old.lastFailureTime;
  let lastFailure: PeerProblem | undefined = old.lastFailureReason !== undefined ? { reason: old.lastFailureReason as PeerProblem['reason'], message: old.lastFailureMessage ?? '' } : undefined;
  const nextAccounted: string[] = [];

  for (const pl of placements) {
    const act = actions[pl.name]!;
    for (const p of pl.pods) {
      if (p.ending === undefined || !p.holdsFinalizer) continue;
      if (!pl.reachable) {
        // Cannot act there; keep what was counted until the cluster is back.
        if (accounted.has(p.uid)) nextAccounted.push(p.uid);
        continue;
      }
      if (accounted.has(p.uid)) {
        act.release.push(p.name);
      } else {
        if (p.ending === 'preempted') preemptions++;
        if (p.ending === 'failed') {
          failures++;
          consecutiveFailures++;
          lastFailureTime = now.toISOString();
          lastFailure = p.problem;
        }
        events.push({ type: p.ending === 'failed' ? 'Warning' : 'Normal', reason: endingEvent[p.ending], message: `Trainer pod ${p.name} ${p.ending}${placements.length > 1 ? ` in cluster ${pl.name}` : ''}${p.ending === 'failed' && p.problem ? `: ${p.problem.reason}: ${p.problem.message}` : ''}` });
      }
      nextAccounted.push(p.uid);
      // Ended but not yet going away: delete it so its GPUs and name are freed.
      if (p.ending !== 'deleted' && p.ending !== 'preempted') act.delete.push(p.name);
    }
  }

  const activeOf = (pl: PlacementInput): PodView[] => pl.pods.filter((p) => p.ending === undefined);
  const allActive = placements.flatMap(activeOf);
  const healthy = allActive.some((p) => p.running && p.runningSince !== undefined && now.getTime() - p.runningSince >= HEALTHY_RUN_MS);
  if (healthy) {
    consecutiveFailures = 0;
    lastFailure = undefined;
  }

  // Epochs never go backwards, even if the peers that knew the latest one are gone.
  const epoch = Math.max(old.epoch ?? 0, telemetry?.epoch ?? 0);
  const lastEpochTime = epoch > (old.epoch ?? 0) ? now.toISOString() : old.lastEpochTime;
  const stopAt = swarm.spec.stopAfter?.epochs;
  const finished = old.phase === 'Succeeded' || (stopAt !== undefined && epoch >= stopAt);
  if (finished && old.phase !== 'Succeeded') {
    const ckpt = telemetry?.checkpoint ?? old.checkpoint;
    events.push({ type: 'Normal', reason: 'Completed', message: `Reached epoch ${epoch} (stopAfter ${stopAt}); removing trainer pods${ckpt ? `; final checkpoint ${ckpt}` : ''}` });
  }
  /** max 0 (e.g. `kubectl scale --replicas=0`) pauses the swarm; that is not a degradation. */
  const paused = max === 0;
  const ceiling = finished ? 0 : max;

  const alloc = allocate(placements.map((pl) => {
    const active = activeOf(pl);
    const spec = specs.get(pl.name);
    return {
      weight: spec?.weight ?? 1,
      reachable: pl.reachable,
      unknown: active.length,
      scheduled: active.filter((p) => p.scheduled).length,
      ...(pl.capacity ? { fits: Math.max(0, pl.capacity.slots - pl.capacity.pendingElsewhere) } : {}),
      maxPending,
      maxPeers: spec?.maxPeers ?? max,
    };
  }), ceiling, finished ? 0 : min);
  const desired = alloc.reduce((a, b) => a + b, 0);

  const wait = lastFailureTime ? new Date(lastFailureTime).getTime() + backoffMs(consecutiveFailures) - now.getTime() : 0;
  let requeueAfterMs: number | undefined;
  placements.forEach((pl, i) => {
    if (!pl.reachable) return;
    const act = actions[pl.name]!;
    const active = activeOf(pl);
    const want = alloc[i]!;
    const where = placements.length > 1 ? ` in cluster ${pl.name}` : '';
    if (active.length < want) {
      if (wait > 0) {
        requeueAfterMs = wait;
        return;
      }
      act.create = want - active.length;
      events.push({ type: 'Normal', reason: 'ScaledUp', message: `Adding ${act.create} trainer pod(s)${where}: ${active.length} → ${want}${pl.capacity ? ` (${pl.capacity.freeGpus} free GPUs)` : ''}` });
    } else if (active.length > want) {
      // Waiting pods go first; running peers only when the ceiling forces it.
      const scheduled = active.filter((p) => p.scheduled).length;
      const forced = Math.max(0, scheduled - want);
      const waiting = active.length - scheduled;
      const extra = surplus(active, Math.min(active.length - want, waiting + forced));
      if (extra.length > 0) {
        act.delete.push(...extra.map((p) => p.name));
        events.push({ type: 'Normal', reason: 'ScaledDown', message: forced > 0 ? `Removing ${extra.length} trainer pod(s)${where} above the ceiling` : `Removing ${extra.length} surplus pending pod(s)${where}` });
      }
    }
  });
  if (requeueAfterMs !== undefined) {
    events.push({ type: 'Warning', reason: 'BackingOff', message: `${consecutiveFailures} consecutive trainer failures; next pod in ${Math.ceil(requeueAfterMs / 1000)}s` });
  }
  for (const a of Object.values(actions)) a.delete = [...new Set(a.delete)];

  const running = allActive.filter((p) => p.running).length;
  const scheduled = allActive.filter((p) => p.scheduled).length;
  const backingOff = requeueAfterMs !== undefined;
  const unreachable = placements.filter((pl) => !pl.reachable);
  const oldClusters = new Map((old.clusters ?? []).map((c) => [c.name, c]));
  const clusters: ClusterStatus[] = placements.map((pl) => {
    const active = activeOf(pl);
    const was = oldClusters.get(pl.name);
    if (!pl.reachable && was?.reachable !== false) {
      events.push({ type: 'Warning', reason: 'ClusterUnreachable', message: pl.problem ? `Cluster ${pl.name}: ${pl.problem}` : `Cluster ${pl.name} cannot be reached since ${pl.unreachableSince ?? now.toISOString()}; its ${active.length} pod(s) count as unknown` });
    }
    if (pl.reachable && was?.reachable === false) events.push({ type: 'Normal', reason: 'ClusterReachable', message: `Cluster ${pl.name} is reachable again` });
    return {
      name: pl.name,
      running: pl.reachable ? active.filter((p) => p.running).length : 0,
      pending: pl.reachable ? active.filter((p) => !p.scheduled).length : 0,
      ...(pl.capacity && Number.isFinite(pl.capacity.freeGpus) ? { freeGpus: pl.capacity.freeGpus } : {}),
      reachable: pl.reachable,
      ...(pl.reachable ? {} : { unknown: active.length, unreachableSince: pl.unreachableSince ?? was?.unreachableSince ?? now.toISOString() }),
    };
  });

  let phase: Phase;
  if (finished) phase = 'Succeeded';
  else if (running === 0) phase = backingOff ? 'Degraded' : 'Pending';
  else if ((running < min && !paused) || backingOff || unreachable.length > 0) phase = 'Degraded';
  else phase = 'Running';

  const runningSinces = allActive.filter((p) => p.running && p.runningSince !== undefined).map((p) => p.runningSince!);
  const training = swarm.spec.training;
  const samplesPerEpoch = training.targetBatchSize * (training.averaging.mode === 'diloco' ? training.averaging.innerSteps ?? 1 : 1);
  const windowMs = progressWindowMs(training.averaging.timeoutSeconds, samplesPerEpoch, telemetry?.samplesPerSecond);
  const facts = {
    now: now.getTime(), min, running, active: allActive.length, desired, paused, finished, epoch,
    gpus: swarm.spec.trainer.resources.gpus, backingOff, consecutiveFailures,
    ...(lastFailure ? { lastFailure } : {}),
    unreachable: unreachable.map((pl) => pl.problem ? `cluster ${pl.name}: ${pl.problem}` : `cluster ${pl.name} unreachable since ${clusters.find((c) => c.name === pl.name)!.unreachableSince}`),
    ...(telemetry ? { telemetry } : {}),
    ...(lastEpochTime ? { lastEpochAt: new Date(lastEpochTime).getTime() } : {}),
    ...(runningSinces.length > 0 ? { runningSince: Math.min(...runningSinces) } : {}),
    windowMs,
  };
  const problems = degradedProblems(facts);
  const conditions = swarmConditions(facts, problems);
  events.push(...conditionEvents(old.conditions, conditions, problems));
  // Look again when the window would run out: Ready and NoProgress change with time alone.
  if (running > 0 && !finished && !paused) {
    const since = Math.max(facts.runningSince ?? 0, facts.lastEpochAt ?? 0);
    const left = since + windowMs - facts.now;
    if (left > 0) requeueAfterMs = Math.min(requeueAfterMs ?? Infinity, left + 1000);
  }

  const status: TrainingSwarmStatus = {
    ...old,
    phase,
    observedGeneration: generation,
    peers: { desired, scheduled, running, ...(telemetry ? { active: telemetry.activePeers } : {}), summary: `${running}/${desired}` },
    preemptions,
    failures,
    consecutiveFailures,
    ...(lastFailureTime ? { lastFailureTime } : {}),
    ...(lastEpochTime ? { lastEpochTime } : {}),
    accountedPods: nextAccounted.sort(),
    selector: podSelector(swarm.metadata.name ?? ''),
    clusters,
    conditions: setConditions(old.conditions, conditions, generation, now),
  };
  if (lastFailure) {
    status.lastFailureReason = lastFailure.reason;
    status.lastFailureMessage = lastFailure.message;
  } else {
    delete status.lastFailureReason;
    delete status.lastFailureMessage;
  }
  if (epoch > 0) status.epoch = epoch;
  if (telemetry) {
    status.samplesPerSecond = telemetry.samplesPerSecond;
    if (telemetry.loss !== undefined) status.loss = telemetry.loss;
    if (telemetry.etaSeconds !== undefined) status.etaSeconds = telemetry.etaSeconds;
    else delete status.etaSeconds;
    if (telemetry.checkpoint) status.checkpoint = telemetry.checkpoint;
    if (Object.keys(telemetry.backends).length > 0) status.backends = telemetry.backends;
    if (telemetry.dataPass !== undefined) {
      status.dataPass = telemetry.dataPass;
      status.dataDonePercent = telemetry.dataDonePercent ?? 0;
    }
  } else if (!finished) {
    // Nobody reports: no live throughput. Keep epoch, loss and checkpoint as the last known.
    delete status.samplesPerSecond;
    delete status.etaSeconds;
    delete status.backends;
    if (status.peers) delete status.peers.active;
  }

  return { actions, status, events, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}
