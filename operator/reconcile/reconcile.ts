/**
 * The reconciler: a pure function from what the operator observes to what it
 * should do. Thin code in operator/kube applies the result, in this order:
 * write status (optimistically, by resourceVersion), then release finalizers,
 * then delete, then create. Because finalizers are released only for pods
 * whose uid is already persisted in status.accountedPods, every ended pod is
 * counted exactly once, even across operator restarts and stale caches.
 */
import {
  CONDITION_DEGRADED, CONDITION_PROGRESSING, CONDITION_READY, Reasons, podSelector,
  type Phase, type TrainingSwarm, type TrainingSwarmStatus,
} from '../../api/index.ts';
import type { TelemetrySummary } from '../telemetry/aggregate.ts';
import { setConditions, type ConditionInput } from './conditions.ts';
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

export interface ReconcileInput {
  swarm: TrainingSwarm;
  /** Pods labelled with this swarm's uid, as the cache sees them. */
  pods: PodView[];
  /** Free capacity; without it the swarm simply asks for spec.peers.max pods. */
  capacity?: CapacityView;
  /** What the peers report over NATS, if any reported recently. */
  telemetry?: TelemetrySummary;
  now: Date;
}

export type SwarmEventReason = 'PodCreated' | 'ScaledUp' | 'Completed' | 'PodPreempted' | 'PodFailed' | 'PodCompleted' | 'PodDeleted' | 'ScaledDown' | 'BackingOff';

export interface SwarmEvent {
  type: 'Normal' | 'Warning';
  reason: SwarmEventReason;
  message: string;
}

export interface ReconcileResult {
  /** Trainer pods to create (from the pod template). */
  create: number;
  /** Pods to delete, by name. */
  delete: string[];
  /** Ended pods whose accounting finalizer can go: their ending is persisted. */
  release: string[];
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

/**
 * How many active pods the swarm wants: everything that runs or is bound,
 * plus what fits on free GPUs (after the others already waiting), plus a few
 * pods waiting in line, within [min, max]. Without capacity: max.
 */
export function desiredPeers(swarm: TrainingSwarm, active: PodView[], cap: CapacityView | undefined): number {
  const { min, max, maxPending } = swarm.spec.peers;
  if (max === 0) return 0;
  if (!cap) return max;
  const scheduled = active.filter((p) => p.scheduled).length;
  const fits = Math.max(0, cap.slots - cap.pendingElsewhere);
  return Math.max(min, Math.min(max, scheduled + fits + maxPending));
}

export function reconcile({ swarm, pods, capacity, telemetry, now }: ReconcileInput): ReconcileResult {
  const old = swarm.status ?? {};
  const generation = swarm.metadata.generation ?? 0;
  const { min, max } = swarm.spec.peers;
  const accounted = new Set(old.accountedPods ?? []);
  const events: SwarmEvent[] = [];

  let preemptions = old.preemptions ?? 0;
  let failures = old.failures ?? 0;
  let consecutiveFailures = old.consecutiveFailures ?? 0;
  let lastFailureTime = old.lastFailureTime;

  const ended = pods.filter((p) => p.ending !== undefined);
  const active = pods.filter((p) => p.ending === undefined);
  const release: string[] = [];
  const toDelete: string[] = [];
  const nextAccounted: string[] = [];

  for (const p of ended) {
    if (!p.holdsFinalizer) continue;
    if (accounted.has(p.uid)) {
      release.push(p.name);
    } else {
      if (p.ending === 'preempted') preemptions++;
      if (p.ending === 'failed') {
        failures++;
        consecutiveFailures++;
        lastFailureTime = now.toISOString();
      }
      events.push({ type: p.ending === 'failed' ? 'Warning' : 'Normal', reason: endingEvent[p.ending!], message: `Trainer pod ${p.name} ${p.ending}` });
    }
    nextAccounted.push(p.uid);
    // Ended but not yet going away: delete it so its GPUs and name are freed.
    if (p.ending !== 'deleted' && p.ending !== 'preempted') toDelete.push(p.name);
  }

  const healthy = active.some((p) => p.running && p.runningSince !== undefined && now.getTime() - p.runningSince >= HEALTHY_RUN_MS);
  if (healthy) consecutiveFailures = 0;

  // Epochs never go backwards, even if the peers that knew the latest one are gone.
  const epoch = Math.max(old.epoch ?? 0, telemetry?.epoch ?? 0);
  const stopAt = swarm.spec.stopAfter?.epochs;
  const finished = old.phase === 'Succeeded' || (stopAt !== undefined && epoch >= stopAt);
  if (finished && old.phase !== 'Succeeded') {
    events.push({ type: 'Normal', reason: 'Completed', message: `Reached epoch ${epoch} (stopAfter ${stopAt}); removing trainer pods${telemetry?.checkpoint ?? old.checkpoint ? `; final checkpoint ${telemetry?.checkpoint ?? old.checkpoint}` : ''}` });
  }
  /** max 0 (e.g. `kubectl scale --replicas=0`) pauses the swarm; that is not a degradation. */
  const paused = max === 0;
  const desired = finished ? 0 : desiredPeers(swarm, active, capacity);

  let create = 0;
  let requeueAfterMs: number | undefined;
  if (active.length < desired) {
    const wait = lastFailureTime ? new Date(lastFailureTime).getTime() + backoffMs(consecutiveFailures) - now.getTime() : 0;
    if (wait > 0) {
      requeueAfterMs = wait;
      events.push({ type: 'Warning', reason: 'BackingOff', message: `${consecutiveFailures} consecutive trainer failures; next pod in ${Math.ceil(wait / 1000)}s` });
    } else {
      create = desired - active.length;
    }
  } else if (active.length > desired) {
    // Above the ceiling any pod may go; below it only waiting pods do (running peers are never shed for capacity).
    const ceiling = finished ? 0 : max;
    const overCeiling = Math.max(0, active.length - ceiling);
    const waiting = active.filter((p) => !p.scheduled).length;
    const extra = surplus(active, Math.max(overCeiling, Math.min(active.length - desired, waiting)));
    if (extra.length > 0) {
      toDelete.push(...extra.map((p) => p.name));
      events.push({ type: 'Normal', reason: 'ScaledDown', message: overCeiling > 0 ? `Removing ${extra.length} trainer pod(s) above the ceiling of ${desired}` : `Removing ${extra.length} surplus pending pod(s)` });
    }
  }
  if (create > 0) events.push({ type: 'Normal', reason: 'ScaledUp', message: `Adding ${create} trainer pod(s): ${active.length} → ${desired}${capacity ? ` (${capacity.freeGpus} free GPUs)` : ''}` });

  const running = active.filter((p) => p.running).length;
  const scheduled = active.filter((p) => p.scheduled).length;
  const backingOff = requeueAfterMs !== undefined;

  let phase: Phase;
  if (finished) phase = 'Succeeded';
  else if (running === 0) phase = backingOff ? 'Degraded' : 'Pending';
  else if ((running < min && !paused) || backingOff) phase = 'Degraded';
  else phase = 'Running';

  const conditions: ConditionInput[] = [
    running >= Math.max(min, 1)
      ? { type: CONDITION_READY, status: 'True', reason: Reasons.MinPeersRunning, message: `${running} of at least ${min} peers running` }
      : paused
        ? { type: CONDITION_READY, status: 'False', reason: Reasons.Paused, message: 'spec.peers.max is 0' }
        : { type: CONDITION_READY, status: 'False', reason: Reasons.WaitingForPeers, message: `${running} of at least ${Math.max(min, 1)} peers running` },
    running !== desired || active.length !== desired
      ? { type: CONDITION_PROGRESSING, status: 'True', reason: Reasons.Scaling, message: `${running} running, ${active.length - running} starting, ${desired} desired` }
      : finished
        ? { type: CONDITION_PROGRESSING, status: 'False', reason: Reasons.StopAfterReached, message: `Reached epoch ${epoch}` }
        : { type: CONDITION_PROGRESSING, status: 'False', reason: Reasons.Stable, message: `${running} of ${desired} peers running` },
    backingOff
      ? { type: CONDITION_DEGRADED, status: 'True', reason: Reasons.PeersFailing, message: `${consecutiveFailures} consecutive trainer failures; backing off` }
      : running < min && !paused
        ? { type: CONDITION_DEGRADED, status: 'True', reason: Reasons.BelowMinPeers, message: `${running} running, below the minimum of ${min}` }
        : { type: CONDITION_DEGRADED, status: 'False', reason: Reasons.AsExpected, message: 'No problems observed' },
  ];

  const status: TrainingSwarmStatus = {
    ...old,
    phase,
    observedGeneration: generation,
    peers: { desired, scheduled, running, ...(telemetry ? { active: telemetry.activePeers } : {}), summary: `${running}/${desired}` },
    preemptions,
    failures,
    consecutiveFailures,
    ...(lastFailureTime ? { lastFailureTime } : {}),
    accountedPods: nextAccounted.sort(),
    selector: podSelector(swarm.metadata.name ?? ''),
    conditions: setConditions(old.conditions, conditions, generation, now),
  };
  if (epoch > 0) status.epoch = epoch;
  if (telemetry) {
    status.samplesPerSecond = telemetry.samplesPerSecond;
    if (telemetry.loss !== undefined) status.loss = telemetry.loss;
    if (telemetry.etaSeconds !== undefined) status.etaSeconds = telemetry.etaSeconds;
    else delete status.etaSeconds;
    if (telemetry.checkpoint) status.checkpoint = telemetry.checkpoint;
  } else if (!finished) {
    // Nobody reports: no live throughput. Keep epoch, loss and checkpoint as the last known.
    delete status.samplesPerSecond;
    delete status.etaSeconds;
    if (status.peers) delete status.peers.active;
  }

  return { create, delete: [...new Set(toDelete)], release, status, events, ...(requeueAfterMs !== undefined ? { requeueAfterMs } : {}) };
}
