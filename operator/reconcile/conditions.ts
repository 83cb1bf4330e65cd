/**
 * The swarm's conditions, from facts the reconciler gathered (pure):
 *
 *   Ready        the swarm trains: at least spec.peers.min (and one) peers run
 *                and the epoch advanced within the progress window;
 *   Progressing  pods are starting, or a peer downloads the swarm's state;
 *   Degraded     a list of problems, the first one's reason and every message.
 *
 * The progress window is 2 × (averaging.timeoutSeconds + samples per epoch /
 * swarm samples/s): one round's deadline plus the time the swarm needs to
 * accumulate an epoch's samples at its reported rate, with a factor of two
 * for noise. The rate term is left out while no peer reports a rate (then no
 * samples accumulate and no epoch can come).
 *
 * Adding a Degraded reason is one more entry in degradedProblems (its place
 * in the list is its priority) and, if it should also say so with an Event on
 * transition, in EVENT_REASONS.
 *
 * metav1.Condition bookkeeping is setConditions: lastTransitionTime moves only
 * when status does.
 */
import { CONDITION_DEGRADED, CONDITION_PROGRESSING, CONDITION_READY, Reasons, type Condition, type PeerProblem } from '../../api/index.ts';
import type { TelemetrySummary } from '../telemetry/aggregate.ts';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

export function setConditions(existing: Condition[] | undefined, wanted: ConditionInput[], generation: number, now: Date): Condition[] {
  const byType = new Map((existing ?? []).map((c) => [c.type, c]));
  return wanted.map((w) => {
    const old = byType.get(w.type);
    const lastTransitionTime = old && old.status === w.status ? old.lastTransitionTime : now.toISOString();
    return { ...w, observedGeneration: generation, lastTransitionTime };
  });
}

/** One reason the swarm is Degraded. */
export interface Problem {
  reason: string;
  message: string;
}

/** The progress window in ms (see the file comment). */
export function progressWindowMs(timeoutSeconds: number, samplesPerEpoch: number, samplesPerSecond: number | undefined): number {
  const accumulate = samplesPerSecond !== undefined && samplesPerSecond > 0 ? samplesPerEpoch / samplesPerSecond : 0;
  return Math.ceil(2 * (timeoutSeconds + accumulate) * 1000);
}

export interface SwarmFacts {
  now: number;
  min: number;
  running: number;
  /** Pods that are not ended (running or starting). */
  active: number;
  desired: number;
  paused: boolean;
  finished: boolean;
  epoch: number;
  /** GPUs each peer requests. */
  gpus: number;
  /** New pods wait for the failure backoff. */
  backingOff: boolean;
  consecutiveFailures: number;
  /** What the last failed trainer said in its termination message. */
  lastFailure?: PeerProblem;
  /** One message per placement that cannot be used. */
  unreachable: string[];
  telemetry?: TelemetrySummary;
  /** Unix ms the epoch last advanced, as the operator saw it. */
  lastEpochAt?: number;
  /** Unix ms the longest-running current pod has run since. */
  runningSince?: number;
  windowMs: number;
}

/** True while the epoch advanced within the window. */
function advancedRecently(f: SwarmFacts): boolean {
  return f.lastEpochAt !== undefined && f.now - f.lastEpochAt <= f.windowMs;
}

/** Peers have run longer than the window without an epoch advancing since. */
function stalled(f: SwarmFacts): boolean {
  if (f.running === 0 || f.paused || f.finished || f.runningSince === undefined) return false;
  const since = Math.max(f.runningSince, f.lastEpochAt ?? 0);
  return f.now - since > f.windowMs;
}

const seconds = (ms: number): number => Math.round(ms / 1000);

/** Everything wrong with the swarm, most important first. */
export function degradedProblems(f: SwarmFacts): Problem[] {
  const out: Problem[] = [];
  const t = f.telemetry;
  if (f.backingOff || (f.consecutiveFailures > 0 && f.lastFailure !== undefined)) {
    const what = `${f.consecutiveFailures} consecutive trainer failure(s)${f.backingOff ? '; backing off' : ''}`;
    out.push(f.lastFailure ? { reason: f.lastFailure.reason, message: `${what}; the last one said: ${f.lastFailure.message}` } : { reason: Reasons.PeersFailing, message: what });
  }
  if (f.unreachable.length > 0) out.push({ reason: Reasons.ClusterUnreachable, message: f.unreachable.join('; ') });
  if (f.running < f.min && !f.paused && !f.finished) out.push({ reason: Reasons.BelowMinPeers, message: `${f.running} running, below the minimum of ${f.min}` });
  for (const p of t?.problems ?? []) out.push({ reason: p.reason, message: `${p.peers} peer(s): ${p.message}` });
  if (stalled(f)) {
    const since = Math.max(f.runningSince!, f.lastEpochAt ?? 0);
    out.push({ reason: Reasons.NoProgress, message: `${f.running} peer(s) running, but no epoch advanced since ${new Date(since).toISOString()} (window ${seconds(f.windowMs)}s); epoch ${f.epoch}, ${t ? `${t.activePeers} peer(s) reporting` : 'no peer reports telemetry'}` });
  }
  const b = t?.backends ?? {};
  const reporting = Object.values(b).reduce((a, n) => a + n, 0);
  if (f.gpus > 0 && reporting > 0 && (b['gpu'] ?? 0) === 0) {
    out.push({ reason: Reasons.BackendFallback, message: `spec.trainer.resources.gpus is ${f.gpus}, but every reporting peer computes without a GPU (${Object.entries(b).map(([k, n]) => `${k}: ${n}`).join(', ')})` });
  }
  return out;
}

/** Ready, Progressing and Degraded. */
export function swarmConditions(f: SwarmFacts, problems: Problem[]): ConditionInput[] {
  const need = Math.max(f.min, 1);
  let ready: ConditionInput;
  if (f.finished) ready = { type: CONDITION_READY, status: 'False', reason: Reasons.Completed, message: `Reached epoch ${f.epoch}` };
  else if (f.paused) ready = { type: CONDITION_READY, status: 'False', reason: Reasons.Paused, message: 'spec.peers.max is 0' };
  else if (f.running >= need && advancedRecently(f)) {
    ready = { type: CONDITION_READY, status: 'True', reason: Reasons.Training, message: `${f.running} of at least ${f.min} peers running; epoch ${f.epoch} reached at ${new Date(f.lastEpochAt!).toISOString()} (window ${seconds(f.windowMs)}s)` };
  } else if (problems.length > 0) ready = { type: CONDITION_READY, status: 'False', reason: problems[0]!.reason, message: problems[0]!.message };
  else if (f.running < need) ready = { type: CONDITION_READY, status: 'False', reason: Reasons.WaitingForPeers, message: `${f.running} of at least ${need} peers running` };
  else ready = { type: CONDITION_READY, status: 'False', reason: Reasons.WaitingForProgress, message: `${f.running} peers running; waiting for the epoch to advance (window ${seconds(f.windowMs)}s)` };

  const syncing = f.telemetry?.syncing ?? 0;
  const progressing: ConditionInput = f.running !== f.desired || f.active !== f.desired
    ? { type: CONDITION_PROGRESSING, status: 'True', reason: Reasons.Scaling, message: `${f.running} running, ${f.active - f.running} starting, ${f.desired} desired` }
    : syncing > 0
      ? { type: CONDITION_PROGRESSING, status: 'True', reason: Reasons.DownloadingState, message: `${syncing} peer(s) downloading the swarm's state` }
      : f.finished
        ? { type: CONDITION_PROGRESSING, status: 'False', reason: Reasons.StopAfterReached, message: `Reached epoch ${f.epoch}` }
        : { type: CONDITION_PROGRESSING, status: 'False', reason: Reasons.Stable, message: `${f.running} of ${f.desired} peers running` };

  const degraded: ConditionInput = problems.length > 0
    ? { type: CONDITION_DEGRADED, status: 'True', reason: problems[0]!.reason, message: problems.map((p) => `${p.reason}: ${p.message}`).join('; ') }
    : { type: CONDITION_DEGRADED, status: 'False', reason: Reasons.AsExpected, message: 'No problems observed' };
  return [ready, progressing, degraded];
}

/** Degraded reasons that get an Event when they appear (the others have events of their own). */
const EVENT_REASONS: ReadonlySet<string> = new Set([Reasons.NoProgress, Reasons.DataUnreadable, Reasons.NatsUnreachable, Reasons.BackendUnavailable, Reasons.BackendFallback]);

export interface ConditionEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/** Events for transitions: Ready turning True (Training) or False, and a Degraded problem from EVENT_REASONS that was not there before. */
export function conditionEvents(old: readonly Condition[] | undefined, next: readonly ConditionInput[], problems: readonly Problem[]): ConditionEvent[] {
  const before = new Map((old ?? []).map((c) => [c.type, c]));
  const out: ConditionEvent[] = [];
  const ready = next.find((c) => c.type === CONDITION_READY)!;
  const wasReady = before.get(CONDITION_READY)?.status === 'True';
  if (ready.status === 'True' && !wasReady) out.push({ type: 'Normal', reason: Reasons.Training, message: ready.message });
  if (ready.status === 'False' && wasReady) out.push({ type: EVENT_REASONS.has(ready.reason) ? 'Warning' : 'Normal', reason: 'NotReady', message: `${ready.reason}: ${ready.message}` });
  const was = before.get(CONDITION_DEGRADED);
  const had = was?.status === 'True' ? was.message : '';
  for (const p of problems) {
    if (EVENT_REASONS.has(p.reason) && !had.includes(`${p.reason}: `)) out.push({ type: 'Warning', reason: p.reason, message: p.message });
  }
  return out;
}
