/**
 * How the reconciler sees a trainer pod: a small, pure classification of
 * the Pod object, so that the rules live in one place.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { parsePeerProblem, type PeerProblem } from '../../api/index.ts';
import type { CachedPod } from '../kube/projection.ts';

export const ACCOUNTING_FINALIZER = 'spotswarm.dev/peer-accounting';

/** Why a pod ended, as far as the swarm's counters care. */
export type Ending =
  /** The scheduler, the eviction API or the taint manager disrupted it (DisruptionTarget). */
  | 'preempted'
  /** It failed on its own (non-zero exit, OOM, ...). */
  | 'failed'
  /** It exited 0: the trainer decided it was done. */
  | 'completed'
  /** Someone deleted it (a user, or the operator scaling down). */
  | 'deleted';

export interface PodView {
  name: string;
  uid: string;
  /** Bound to a node. */
  scheduled: boolean;
  /** Phase Running and not terminating. */
  running: boolean;
  /** Set when the pod has ended or is going away; it no longer counts as a peer. */
  ending?: Ending;
  /** Still carries the accounting finalizer. */
  holdsFinalizer: boolean;
  /** Unix ms the pod was created (for choosing which pods to remove first). */
  createdAt: number;
  /** Unix ms its container has been running since, if running. */
  runningSince?: number;
  /** The problem its trainer wrote to the termination message (`Reason: message`) before exiting, if it named one. */
  problem?: PeerProblem;
}

function hasDisruptionTarget(pod: CachedPod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === 'DisruptionTarget' && c.status === 'True');
}

function time(t: Date | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const ms = new Date(t).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

export function viewPod(pod: CachedPod | V1Pod): PodView {
  const phase = pod.status?.phase;
  const terminating = pod.metadata?.deletionTimestamp !== undefined;
  let ending: Ending | undefined;
  // A pod that fails because someone deleted it is not a trainer failure.
  if (hasDisruptionTarget(pod)) ending = 'preempted';
  else if (terminating) ending = 'deleted';
  else if (phase === 'Failed') ending = 'failed';
  else if (phase === 'Succeeded') ending = 'completed';
  const running = phase === 'Running' && ending === undefined;
  const cs = pod.status?.containerStatuses?.[0];
  const started = cs?.state?.running?.startedAt;
  const problem = parsePeerProblem(cs?.state?.terminated?.message ?? cs?.lastState?.terminated?.message);
  return {
    name: pod.metadata?.name ?? '',
    uid: pod.metadata?.uid ?? '',
    scheduled: Boolean(pod.spec?.nodeName),
    running,
    ...(ending ? { ending } : {}),
    holdsFinalizer: (pod.metadata?.finalizers ?? []).includes(ACCOUNTING_FINALIZER),
    createdAt: time(pod.metadata?.creationTimestamp) ?? 0,
    ...(running ? { runningSince: time(started) ?? time(pod.status?.startTime) ?? 0 } : {}),
    ...(problem ? { problem } : {}),
  };
}

/** What the controller did in a placement that its pod cache does not show yet (kube/expectations.ts). */
export interface ExpectedPods {
  /** Pods it created, by name, with the Unix ms of the create. */
  created: readonly { name: string; at: number }[];
  /** Pods it deleted that the cache still shows. */
  deleting: ReadonlySet<string>;
}

/**
 * The cache's pods as the controller knows them to be: pods it deleted count
 * as deleted, and pods it created that the cache has not shown yet as pending.
 */
export function withExpectedPods(views: readonly PodView[], expected: ExpectedPods): PodView[] {
  const out = views.map((v) => (expected.deleting.has(v.name) && v.ending === undefined ? { ...v, ending: 'deleted' as const, running: false } : v));
  for (const c of expected.created) out.push({ name: c.name, uid: `pending:${c.name}`, scheduled: false, running: false, holdsFinalizer: true, createdAt: c.at });
  return out;
}
