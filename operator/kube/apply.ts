/**
 * Applies one reconcile's decision (observe.ts) as an ordered list of steps,
 * run by steps.ts: the first that throws stops the reconcile, and the work
 * queue retries it from the start on fresh caches. The order is the
 * reconciler's contract (reconcile/reconcile.ts): status first, because
 * finalizers are released only for pods whose ending status holds; then
 * releases, deletes and creates. Each step says what it reads and writes.
 */
import { isDeepStrictEqual } from 'node:util';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { Placement } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import { recordSwarmStatus, type OperatorMetrics } from '../metrics.ts';
import type { NatsCredentialIssuer } from '../natsauth/issuer.ts';
import { trainerPod } from '../reconcile/pod-template.ts';
import type { PlacementActions } from '../reconcile/reconcile.ts';
import { needsOperatorRelay, placementWithRelay, relaySettings } from '../reconcile/relay.ts';
import type { ClusterCache } from './cluster.ts';
import { describeError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import type { PodExpectations } from './expectations.ts';
import type { Observed } from './observe.ts';
import { REMOTE_RETRY_MS } from './placement-clusters.ts';
import { deleteTrainerPod, releaseAccountingFinalizer } from './pod-writes.ts';
import { copyPullSecrets } from './pull-secrets.ts';
import type { RelayManager, RelayState } from './relay.ts';
import type { StepResult } from './steps.ts';
import { replaceSwarmStatus, type SwarmObject } from './swarm-writes.ts';

/** While peers report, look again this often so peers that went quiet drop out of status. */
export const TELEMETRY_RECHECK_MS = 10_000;

export interface ApplyDeps {
  /** The operator's own cluster: swarm writes go through it, and its pods need no copy of the credentials. */
  local: ClusterCache;
  custom: CustomObjectsApi;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  relays: RelayManager;
  expectations: PodExpectations;
  natsAuth?: NatsCredentialIssuer;
  /** Port of the trainers' /metrics, passed to the pod template; unset = none. */
  trainerMetricsPort?: number;
}

/** One reconcile's run of the steps: the deps, and what earlier steps leave for later ones. */
export interface ApplyContext {
  readonly deps: ApplyDeps;
  /** Events being recorded: best effort and concurrent, so they do not hold up the reconcile (awaitEvents). */
  readonly recording: Promise<void>[];
  /** The operator's relay, when a Relay placement needs it (ensureRelay). */
  relay?: RelayState;
  /** Placements whose cluster lacks a current copy of the swarm's Secrets (copySecrets): no pods are created there. */
  readonly withoutSecrets: Set<string>;
  /** Pods this reconcile created and deleted, for the log. */
  created: number;
  deleted: number;
}

export type ApplyStep = (ctx: ApplyContext, swarm: SwarmObject, observed: Observed) => Promise<StepResult>;

export function newApplyContext(deps: ApplyDeps): ApplyContext {
  return { deps, recording: [], withoutSecrets: new Set(), created: 0, deleted: 0 };
}

/** Reads observed.result.status. Optimistic: refused (409) when the swarm changed since it was read. */
async function writeStatus(ctx: ApplyContext, swarm: SwarmObject, { result }: Observed): Promise<StepResult> {
  if (!isDeepStrictEqual(result.status, swarm.status ?? {})) await replaceSwarmStatus(ctx.deps, swarm, result.status);
}

/** Reads observed.result.events and specEvents; writes ctx.recording. Counts pod endings. */
async function recordEvents(ctx: ApplyContext, swarm: SwarmObject, { result, specEvents, namespace, name }: Observed): Promise<StepResult> {
  for (const e of [...result.events, ...specEvents]) {
    ctx.recording.push(ctx.deps.events.record(swarm, e.type, e.reason, e.message));
    if (e.reason.startsWith('Pod')) ctx.deps.metrics.podEndings.inc({ namespace, swarm: name, ending: e.reason.slice(3).toLowerCase() });
  }
}

/** Reads observed.placements; writes ctx.relay. Relay placements without relays use the operator's (kube/relay.ts). */
async function ensureRelay(ctx: ApplyContext, _swarm: SwarmObject, { placements, checked }: Observed): Promise<StepResult> {
  if (!placements.some(needsOperatorRelay)) return;
  ctx.relay = await ctx.deps.relays.ensure(checked.podSwarm, relaySettings(placements));
  if ('problem' in ctx.relay) return { requeueAfterMs: ctx.relay.retryMs };
}

/** Placements with actions whose cluster can be reached now. */
function* reachablePlacements({ placements, clusters, result }: Observed): Generator<{ pl: Placement; c: ClusterCache; act: PlacementActions }> {
  for (const pl of placements) {
    const c = clusters.get(pl.name);
    const act = result.actions[pl.name];
    if (c && act && c.reachable()) yield { pl, c, act };
  }
}

/** Reads the actions' release lists: ended pods whose ending status now holds lose the accounting finalizer. */
async function releaseFinalizers(_ctx: ApplyContext, swarm: SwarmObject, observed: Observed): Promise<StepResult> {
  for (const { c, act } of reachablePlacements(observed)) {
    if (act.release.length === 0) continue;
    const byName = new Map(c.trainerPods(swarm).map((p) => [p.metadata?.name, p]));
    for (const podName of act.release) {
      const p = byName.get(podName);
      if (p) await releaseAccountingFinalizer(c, p);
    }
  }
}

/** Reads the actions' delete lists and observed.seenVersions (a pod changed since is kept); writes ctx.deleted. */
async function deletePods(ctx: ApplyContext, _swarm: SwarmObject, observed: Observed): Promise<StepResult> {
  const { namespace, uid, seenVersions } = observed;
  for (const { pl, c, act } of reachablePlacements(observed)) {
    for (const podName of act.delete) {
      const pod = { namespace, name: podName, resourceVersion: seenVersions.get(pl.name)?.get(podName) };
      if (await deleteTrainerPod(ctx.deps, c, pod, { uid, placement: pl.name })) ctx.deleted++;
    }
  }
}

/**
 * Reads observed.checked; writes ctx.withoutSecrets. Pods in a remote
 * cluster mount the swarm's Secrets there too: each remote cluster that gets
 * pods, or has them (the copy is reissued before its credentials expire),
 * holds a current copy of the swarm's issued .creds Secret, and each that
 * gets pods holds its image pull Secrets (kube/pull-secrets.ts). Where it
 * cannot, no pod is created that could never start, and a Warning Event says why.
 */
async function copySecrets(ctx: ApplyContext, swarm: SwarmObject, observed: Observed): Promise<StepResult> {
  const { natsAuth, local, log, events } = ctx.deps;
  const issuer = observed.checked.issuedCredentials ? natsAuth : undefined;
  const { podSwarm } = observed.checked;
  if (!issuer && !podSwarm.spec.trainer.imagePullSecrets?.length) return;
  for (const { pl, c, act } of reachablePlacements(observed)) {
    if (c === local) continue;
    const problems: string[] = [];
    if (issuer && (act.create > 0 || c.trainerPods(swarm).length > 0)) {
      try {
        const r = await c.request('get', 'secrets', () => issuer.ensureCopy(swarm, c.core));
        if (!r.ok) problems.push(`Cannot copy the NATS credentials Secret to cluster ${pl.name}: ${r.problem}`);
      } catch (err) {
        problems.push(`Cannot copy the NATS credentials Secret to cluster ${pl.name}: ${describeError(err)}`);
      }
    }
    if (act.create > 0) {
      const pulls = await copyPullSecrets(local, c, podSwarm, log).catch((err: unknown) => [describeError(err)]);
      problems.push(...pulls.map((p) => `Cannot copy the image pull Secrets to cluster ${pl.name}: ${p}`));
    }
    if (problems.length === 0) continue;
    ctx.withoutSecrets.add(pl.name);
    for (const problem of problems) {
      log.warn('cannot copy a Secret to a remote cluster', { swarm: observed.key, placement: pl.name, problem });
      ctx.recording.push(events.record(swarm, 'Warning', 'CreateFailed', problem));
    }
  }
}

/**
 * Reads the actions' create counts, ctx.relay and ctx.withoutSecrets;
 * writes ctx.created and the expectations. Every placement's pods are
 * created concurrently (a swarm over two clusters does not wait for one
 * cluster before asking the other) and one Event per placement names them;
 * one placement failing (say, a missing namespace in a remote cluster) does
 * not stop the others.
 */
async function createPods(ctx: ApplyContext, swarm: SwarmObject, observed: Observed): Promise<StepResult> {
  const { expectations, metrics, events, log, local, trainerMetricsPort } = ctx.deps;
  const { namespace, name, uid, placements, checked } = observed;
  const relayAddr = ctx.relay && 'addr' in ctx.relay ? ctx.relay.addr : undefined;
  await Promise.all([...reachablePlacements(observed)].map(async ({ pl, c, act }) => {
    const relayed = placementWithRelay(pl, relayAddr); // undefined while the operator's relay is not ready
    if (act.create <= 0 || !relayed || ctx.withoutSecrets.has(pl.name)) return;
    const body = trainerPod(checked.podSwarm, { placement: relayed, remote: c !== local, ...(trainerMetricsPort !== undefined ? { metricsPort: trainerMetricsPort } : {}) });
    const results = await Promise.allSettled(Array.from({ length: act.create }, () => c.request('create', 'pods', () => c.core.createNamespacedPod({ namespace, body }))));
    const answered = results.filter((r) => r.status === 'fulfilled').map((r) => ({ name: r.value.metadata!.name!, ...(r.value.metadata?.resourceVersion ? { resourceVersion: r.value.metadata.resourceVersion } : {}) }));
    // From here the created pods are expected by name instead of as a count.
    expectations.creationsAnswered(uid, pl.name, answered);
    const names = answered.map((a) => a.name);
    if (names.length > 0) metrics.podsCreated.inc({ namespace, swarm: name }, names.length);
    ctx.created += names.length;
    const where = placements.length > 1 ? ` in cluster ${pl.name}` : '';
    if (names.length > 0) ctx.recording.push(events.record(swarm, 'Normal', 'PodCreated', `Created trainer pod${names.length > 1 ? 's' : ''} ${names.join(', ')}${where}`));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      ctx.recording.push(events.record(swarm, 'Warning', 'CreateFailed', `Cannot create a trainer pod${where}: ${describeError(failed.reason)}`));
      log.warn('cannot create trainer pod', { swarm: observed.key, placement: pl.name, error: describeError(failed.reason) });
    }
  }));
}

/** Reads ctx.recording: the reconcile ends once its events are written (or failed to be). */
async function awaitEvents(ctx: ApplyContext): Promise<StepResult> {
  await Promise.all(ctx.recording);
}

/** Reads observed.result.status (peers, backends, conditions), ctx.created and ctx.deleted. */
async function recordPeers(ctx: ApplyContext, _swarm: SwarmObject, { result, namespace, name, key }: Observed): Promise<StepResult> {
  const s = result.status.peers!;
  const { metrics, log } = ctx.deps;
  recordSwarmStatus(metrics, namespace, name, result.status);
  if (ctx.created > 0 || ctx.deleted > 0) log.info('reconciled', { swarm: key, created: ctx.created, deleted: ctx.deleted, running: s.running, desired: s.desired });
}

/**
 * Pure. Reads observed.result, telemetry and inputs: when to look at the
 * swarm again even if nothing changes (the reconciler's backoff, peers that
 * may go quiet, a cluster that may come back).
 */
export async function lookAgain(_ctx: unknown, _swarm: unknown, { result, telemetry, inputs }: Pick<Observed, 'result' | 'telemetry' | 'inputs'>): Promise<StepResult> {
  const delays = [result.requeueAfterMs, telemetry ? TELEMETRY_RECHECK_MS : undefined, inputs.some((i) => !i.reachable) ? REMOTE_RETRY_MS : undefined];
  const set = delays.filter((x) => x !== undefined);
  return set.length ? { requeueAfterMs: Math.min(...set) } : undefined;
}

/** The apply steps, in order. */
export const APPLY_STEPS: readonly ApplyStep[] = [
  writeStatus,
  recordEvents,
  ensureRelay,
  releaseFinalizers,
  deletePods,
  copySecrets,
  createPods,
  awaitEvents,
  recordPeers,
  lookAgain,
];
