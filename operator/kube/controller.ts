/**
 * The swarm controller: informers feed a work queue; each key is reconciled
 * by the pure reconciler, and this file applies the result to every cluster
 * the swarm places pods in. It fetches from caches, computes, writes status
 * only when it changed (optimistically, by resourceVersion), then releases,
 * deletes and creates, placement by placement.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  ApiException, KubeConfig, PatchStrategy, setHeaderOptions,
  type CoreV1Api, type CustomObjectsApi, type KubernetesObject, type V1Pod,
} from '@kubernetes/client-node';
import {
  GROUP, LABEL_SWARM_UID, PLURAL, REMOTE_PODS_FINALIZER, VERSION, type Placement, type TrainingSwarm,
} from '../../api/index.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { trainerPod } from '../reconcile/pod-template.ts';
import { ACCOUNTING_FINALIZER, viewPod, withExpectedPods } from '../reconcile/pods.ts';
import { placementsOf, reconcile, type CapacityView, type PlacementInput } from '../reconcile/reconcile.ts';
import type { TelemetryHub } from '../telemetry/hub.ts';
import type { NatsCredentialIssuer } from '../natsauth/issuer.ts';
import { applySpecProblems } from '../validate/semantic.ts';
import { SpecChecker } from './spec-check.ts';
import { AppsV1Api } from '@kubernetes/client-node';
import { needsOperatorRelay, placementWithRelay, relaySettings } from '../reconcile/relay.ts';
import { RelayManager, type RelayState } from './relay.ts';
import { WorkQueue } from '../workqueue.ts';
import { ClusterCache } from './cluster.ts';
import { withSharedConnections } from './connections.ts';
import { deletePodAsSeen } from './delete-pod.ts';
import { describeError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import { PodExpectations } from './expectations.ts';
import { ResilientInformer } from './informer.ts';

/** How long a create or delete we made may stay invisible in the cache. */
const EXPECTATION_TTL_MS = 60_000;
/** A reconcile makes a handful of API calls; far longer means one of them hung. */
const RECONCILE_TIMEOUT_MS = 60_000;
/** Telemetry changes a swarm's status at most this often (status writes are rate-limited). */
export const TELEMETRY_STATUS_INTERVAL_MS = 2_000;
/** While peers report, look again this often so peers that went quiet drop out of status. */
const TELEMETRY_RECHECK_MS = 10_000;
/** Capacity changes (a node added, a GPU pod gone) are batched this long before every swarm is reconciled. */
const CAPACITY_DEBOUNCE_MS = 200;
/** Longest a swarm's status shows GPUs as free after another swarm's pods took them. */
const STATUS_REFRESH_MS = 5_000;
/** Level-based safety net: every swarm is reconciled at least this often. */
const RESYNC_MS = 60_000;
/** A kubeconfig Secret that could not be loaded is tried again after this long. */
const REMOTE_RETRY_MS = 15_000;
/** While a deleted swarm still has pods in remote clusters, look again this often. */
const CLEANUP_RECHECK_MS = 5_000;

export interface ControllerDeps {
  /** The plain config: the informers watch with it; API clients made here share connections (connections.ts). */
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  /** Name of the operator's own cluster: the implicit placement when a swarm lists none. */
  cluster: string;
  /** Namespace holding the kubeconfig Secrets of remote placements (the operator's own). */
  secretsNamespace: string;
  concurrency: number;
  /** Peer telemetry over NATS; status shows epoch, throughput and loss from it. */
  telemetry?: TelemetryHub;
  /** Issues each swarm its own NATS account and credentials (operator mode); unset leaves spec.nats as it is. */
  natsAuth?: NatsCredentialIssuer;
  now?: () => Date;
}

/** Custom objects arrive as plain JSON; the informer wants a KubernetesObject. */
type SwarmObject = TrainingSwarm & KubernetesObject;

interface RemoteCluster {
  /** The Secret's resourceVersion the cache was built from; a rotated kubeconfig rebuilds it. */
  resourceVersion?: string;
  cache?: ClusterCache;
  /** Why the cluster cannot be used, e.g. a missing Secret or an unreadable kubeconfig. */
  problem?: string;
  retryAt: number;
}

export class SwarmController {
  readonly #d: ControllerDeps;
  readonly #queue: WorkQueue;
  readonly #swarms: ResilientInformer<SwarmObject>;
  readonly #local: ClusterCache;
  readonly #remotes = new Map<string, RemoteCluster>();
  /** Creates and deletes the caches do not show yet (expectations.ts). */
  readonly #expectations: PodExpectations;
  /** The controller's clock (ControllerDeps.now); #now reads it in Unix ms. */
  readonly #clock: () => Date;
  readonly #now: () => number;
  readonly #telemetryTimers = new Map<string, NodeJS.Timeout>();
  readonly #spec: SpecChecker;
  /** Circuit relays the operator runs for Relay placements without relays (kube/relay.ts). */
  readonly #relays: RelayManager;
  /** Debounced enqueueAll calls, by reason (#enqueueAllAfter). */
  readonly #pending = new Map<'capacity' | 'status', NodeJS.Timeout>();
  #resync: NodeJS.Timeout | undefined;
  #active = false;

  constructor(d: ControllerDeps) {
    this.#d = d;
    this.#clock = d.now ?? (() => new Date());
    this.#now = () => this.#clock().getTime();
    this.#expectations = new PodExpectations({ now: this.#now, ttlMs: EXPECTATION_TTL_MS });
    this.#queue = new WorkQueue((k) => this.#reconcileKey(k), {
      concurrency: d.concurrency,
      baseRetryMs: 200,
      maxRetryMs: 30_000,
      handlerTimeoutMs: RECONCILE_TIMEOUT_MS,
      onError: (k, err, attempt) => {
        // Conflicts are the optimistic-concurrency path working as intended.
        const conflict = err instanceof ApiException && err.code === 409;
        d.log.log(conflict ? 'debug' : 'warn', 'reconcile failed; will retry', { swarm: k, attempt, error: describeError(err) });
      },
    });
    this.#swarms = new ResilientInformer<SwarmObject>({
      kubeConfig: d.kubeConfig,
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      list: () => this.#local.request('list', PLURAL, () => d.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })),
      log: d.log,
      onChange: (s) => this.#queue.add(key(s.metadata.namespace, s.metadata.name)),
      onConnect: () => this.#enqueueAll(),
      onError: () => d.metrics.informerRestarts.inc({ cluster: d.cluster, resource: PLURAL }),
    });
    this.#local = this.#newCluster(d.cluster, d.kubeConfig);
    this.#spec = new SpecChecker({ core: d.core, registry: d.metrics.registry, log: d.log, ...(d.natsAuth ? { issuer: d.natsAuth } : {}), request: (v, r, call) => this.#local.request(v, r, call) });
    this.#relays = new RelayManager({ now: this.#now, core: d.core, apps: withSharedConnections(d.kubeConfig).makeApiClient(AppsV1Api), events: d.events, log: d.log, request: (v, r, call) => this.#local.request(v, r, call) });
  }

  /** Starts the caches; reconciling begins with activate() (once leader). */
  async startCaches(): Promise<void> {
    this.#swarms.start();
    this.#local.start();
    await Promise.all([this.#swarms.synced, this.#local.synced]);
    this.#d.log.info('caches synced', { swarms: this.#swarms.list().length });
  }

  activate(): void {
    this.#active = true;
    this.#enqueueAll();
    this.#resync = setInterval(() => this.#enqueueAll(), RESYNC_MS);
    this.#resync.unref();
  }

  async stop(): Promise<void> {
    this.#active = false;
    if (this.#resync) clearInterval(this.#resync);
    for (const t of this.#pending.values()) clearTimeout(t);
    this.#pending.clear();
    for (const t of this.#telemetryTimers.values()) clearTimeout(t);
    this.#queue.stop();
    await Promise.all([this.#swarms.stop(), this.#local.stop(), ...[...this.#remotes.values()].map((r) => r.cache?.stop())]);
  }

  /** Called by the telemetry hub: reconcile that swarm soon, at most once per interval. */
  telemetryChanged(k: string): void {
    if (this.#telemetryTimers.has(k) || !this.#active) return;
    const t = setTimeout(() => {
      this.#telemetryTimers.delete(k);
      this.#queue.add(k);
    }, TELEMETRY_STATUS_INTERVAL_MS);
    t.unref();
    this.#telemetryTimers.set(k, t);
  }

  #newCluster(name: string, kubeConfig: KubeConfig): ClusterCache {
    return new ClusterCache({
      name,
      kubeConfig,
      log: this.#d.log,
      metrics: this.#d.metrics,
      onTrainerPod: (ns, swarm) => this.#queue.add(key(ns, swarm)),
      onCapacity: () => this.#capacityChanged(),
      onGpusTaken: () => this.#refreshStatusSoon(),
      onReachability: () => this.#enqueueAll(),
      now: this.#now,
    });
  }

  /** Freed GPUs: every swarm may grow, so all are reconciled within CAPACITY_DEBOUNCE_MS. */
  #capacityChanged(): void {
    this.#enqueueAllAfter('capacity', CAPACITY_DEBOUNCE_MS);
  }

  /**
   * GPUs taken by one swarm's pods change every other swarm's free GPUs in status, but no
   * action: those swarms are reconciled once per STATUS_REFRESH_MS while pods keep binding,
   * so status.clusters[].freeGpus is at most that stale (not a full resync period).
   */
  #refreshStatusSoon(): void {
    this.#enqueueAllAfter('status', STATUS_REFRESH_MS);
  }

  /** One pending enqueueAll per reason: calls while it is pending are absorbed by it. */
  #enqueueAllAfter(reason: 'capacity' | 'status', ms: number): void {
    if (this.#pending.has(reason) || !this.#active) return;
    const t = setTimeout(() => {
      this.#pending.delete(reason);
      this.#enqueueAll();
    }, ms);
    t.unref();
    this.#pending.set(reason, t);
  }

  #enqueueAll(): void {
    if (!this.#active) return;
    for (const s of this.#swarms.list()) this.#queue.add(key(s.metadata.namespace, s.metadata.name));
  }

  /** The cluster a placement points at, or why it cannot be used. */
  async #clusterFor(pl: Placement): Promise<ClusterCache | { problem: string }> {
    const ref = pl.kubeconfigSecretRef;
    if (!ref) return this.#local;
    const id = `${ref.name}/${ref.key}`;
    let r = this.#remotes.get(id);
    const now = this.#now();
    if (r && (r.cache || now < r.retryAt)) return r.cache ?? { problem: r.problem! };
    r = { retryAt: now + REMOTE_RETRY_MS };
    this.#remotes.set(id, r);
    const where = `kubeconfig Secret ${this.#d.secretsNamespace}/${ref.name} key ${ref.key}`;
    try {
      const secret = await this.#local.request('get', 'secrets', () => this.#d.core.readNamespacedSecret({ namespace: this.#d.secretsNamespace, name: ref.name }));
      const data = secret.data?.[ref.key];
      if (!data) throw new Error('the key is missing');
      const kc = new KubeConfig();
      kc.loadFromString(Buffer.from(data, 'base64').toString('utf8'));
      if (!kc.getCurrentCluster()) throw new Error('no current cluster (set current-context)');
      r.resourceVersion = secret.metadata?.resourceVersion;
      r.cache = this.#newCluster(pl.name, kc);
      r.cache.start();
      this.#d.log.info('connected to remote cluster', { placement: pl.name, server: kc.getCurrentCluster()?.server, secret: where });
      await Promise.race([r.cache.synced, new Promise((res) => setTimeout(res, 10_000).unref())]);
      return r.cache;
    } catch (err) {
      r.problem = `${where}: ${err instanceof ApiException && err.code === 404 ? 'not found' : describeError(err)}`;
      this.#d.log.warn('cannot use remote cluster', { placement: pl.name, problem: r.problem });
      return { problem: r.problem };
    }
  }

  async #reconcileKey(k: string): Promise<{ requeueAfterMs?: number } | void> {
    if (!this.#active) return;
    const [namespace, name] = k.split('/') as [string, string];
    const end = this.#d.metrics.reconcileSeconds.startTimer();
    try {
      const r = await this.#reconcileSwarm(namespace, name);
      this.#d.metrics.reconciles.inc({ result: 'ok' });
      return r;
    } catch (err) {
      this.#d.metrics.reconciles.inc({ result: err instanceof ApiException && err.code === 409 ? 'conflict' : 'error' });
      throw err;
    } finally {
      end();
    }
  }

  async #reconcileSwarm(namespace: string, name: string): Promise<{ requeueAfterMs?: number } | void> {
    const d = this.#d;
    const k = key(namespace, name);
    let swarm = this.#swarms.get(name, namespace);

    // Local pods of a swarm that is gone or was replaced: no more accounting, let the garbage collector have them.
    const liveUid = swarm && !swarm.metadata.deletionTimestamp ? swarm.metadata.uid : undefined;
    const probe = { metadata: { name, namespace } } as TrainingSwarm;
    for (const p of this.#local.trainerPods(probe)) {
      if (p.metadata?.labels?.[LABEL_SWARM_UID] !== liveUid) await this.#releaseFinalizer(this.#local, p);
    }
    if (!swarm) {
      d.telemetry?.unwatch(k);
      this.#spec.forget(namespace, name);
      this.#relays.forget(namespace, name);
      return;
    }
    if (swarm.metadata.deletionTimestamp) {
      d.telemetry?.unwatch(k);
      return this.#cleanUpRemote(swarm);
    }

    const uid = swarm.metadata.uid!;
    const now = this.#clock();
    const placements = placementsOf(swarm, d.cluster);
    if (placements.some((p) => p.kubeconfigSecretRef) && !(swarm.metadata.finalizers ?? []).includes(REMOTE_PODS_FINALIZER)) {
      // Carry on with the patched object: its resourceVersion is what the status write must name.
      swarm = await this.#patchSwarm(swarm, [{ op: 'add', path: (swarm.metadata.finalizers ?? []).length ? '/metadata/finalizers/-' : '/metadata/finalizers', value: (swarm.metadata.finalizers ?? []).length ? REMOTE_PODS_FINALIZER : [REMOTE_PODS_FINALIZER] }]);
    }

    const clusters = new Map<string, ClusterCache>();
    /** Placements whose cluster cannot be used at all (a missing Secret, an unreadable kubeconfig). */
    const unusable = new Map<string, string>();
    for (const pl of placements) {
      const c = await this.#clusterFor(pl);
      if (c instanceof ClusterCache) clusters.set(pl.name, c);
      else unusable.set(pl.name, c.problem);
    }
    const unusableInput = (name: string): PlacementInput => ({ name, pods: [], reachable: false, problem: unusable.get(name)! });

    // Semantic checks (Secrets, model) and operator-issued NATS credentials; problems become the Degraded condition.
    const checked = await this.#spec.check(swarm, [...unusable.keys()].map(unusableInput));
    d.telemetry?.watch(k, swarm, checked.telemetryAuth);
    const telemetry = d.telemetry?.summary(k, swarm.spec.training.targetBatchSize);

    // Pods and capacity are read, the decision made and its creates reserved with no await in between:
    // concurrent reconciles of other swarms then see these pods as waiting before they exist, and do not
    // fill the same free GPUs.
    /** Per placement, the resourceVersion of each pod as this reconcile saw it (#deletePod). */
    const seenVersions = new Map<string, Map<string, string | undefined>>();
    const inputs: PlacementInput[] = placements.map((pl) => {
      const c = clusters.get(pl.name);
      if (!c) return unusableInput(pl.name);
      const pods = c.trainerPods(swarm).filter((p) => p.metadata?.labels?.[LABEL_SWARM_UID] === uid);
      const expected = this.#expectations.observe(uid, pl.name, new Set(pods.map((p) => p.metadata?.name ?? '')));
      seenVersions.set(pl.name, new Map([
        ...expected.created.map((e) => [e.name, e.resourceVersion] as const),
        ...pods.map((p) => [p.metadata?.name ?? '', p.metadata?.resourceVersion] as const),
      ]));
      const req = { gpus: swarm.spec.trainer.resources.gpus, nodeSelector: pl.nodeSelector ?? swarm.spec.nodeSelector, tolerations: pl.tolerations ?? swarm.spec.tolerations };
      const since = c.unreachableSince();
      return {
        name: pl.name,
        pods: withExpectedPods(pods.map(viewPod), expected),
        capacity: this.#withInFlight(c.capacityFor(swarm, req), uid, pl.name),
        reachable: c.reachable(),
        ...(since && !c.reachable() ? { unreachableSince: since } : {}),
      };
    });
    const { result, events: specEvents } = applySpecProblems(reconcile({ swarm, placements: inputs, ...(telemetry ? { telemetry } : {}), now }), swarm.status, checked.problems, swarm.metadata.generation ?? 0, now);
    const reserved: string[] = [];
    for (const [pl, a] of Object.entries(result.actions)) {
      if (a.create <= 0) continue;
      reserved.push(pl);
      this.#expectations.expectCreations(uid, pl, a.create);
    }
    d.log.debug('reconcile', { swarm: k, actions: result.actions });
    try {
      if (!isDeepStrictEqual(result.status, swarm.status ?? {})) {
        await this.#local.request('update', `${PLURAL}/status`, () => d.custom.replaceNamespacedCustomObjectStatus({
          group: GROUP, version: VERSION, plural: PLURAL, namespace, name,
          body: { ...swarm, status: result.status },
        }));
      }
      // Events are best effort and do not hold up the reconcile: recorded concurrently, awaited at the end.
      const recording: Promise<void>[] = [];
      for (const e of [...result.events, ...specEvents]) {
        recording.push(d.events.record(swarm, e.type, e.reason, e.message));
        if (e.reason.startsWith('Pod')) d.metrics.podEndings.inc({ namespace, swarm: name, ending: e.reason.slice(3).toLowerCase() });
      }

      // ---- operator-run circuit relay (kube/relay.ts): Relay placements without relays get its address ----
      const relay: RelayState | undefined = placements.some(needsOperatorRelay) ? await this.#relays.ensure(checked.podSwarm, relaySettings(placements)) : undefined;
      const relayAddr = relay && 'addr' in relay ? relay.addr : undefined;
      // ---- end relay ----
      let created = 0;
      let deleted = 0;
      for (const pl of placements) {
        const c = clusters.get(pl.name);
        const act = result.actions[pl.name];
        if (!c || !act || !c.reachable()) continue;
        const byName = new Map(c.trainerPods(swarm).map((p) => [p.metadata?.name, p]));
        for (const podName of act.release) {
          const p = byName.get(podName);
          if (p) await this.#releaseFinalizer(c, p);
        }
        for (const podName of act.delete) {
          if (await this.#deletePod(c, namespace, podName, uid, pl.name, seenVersions.get(pl.name)?.get(podName))) deleted++;
        }
        const relayed = placementWithRelay(pl, relayAddr); // undefined while the operator's relay is not ready
        // Also while pods run there: the copy is reissued before its credentials expire.
        const credentialsReady = act.create > 0 || byName.size > 0 ? await this.#credentialsIn(c, swarm, checked.issuedCredentials, pl.name, recording) : true;
        if (act.create > 0 && relayed && credentialsReady) {
          // A reconcile's pods are created concurrently; one Event names them all.
          const body = trainerPod(checked.podSwarm, { placement: relayed, remote: c !== this.#local });
          const results = await Promise.allSettled(Array.from({ length: act.create }, () => c.request('create', 'pods', () => c.core.createNamespacedPod({ namespace, body }))));
          const answered = results.filter((r) => r.status === 'fulfilled').map((r) => ({ name: r.value.metadata!.name!, ...(r.value.metadata?.resourceVersion ? { resourceVersion: r.value.metadata.resourceVersion } : {}) }));
          // From here the created pods are expected by name instead of as a count.
          this.#expectations.creationsAnswered(uid, pl.name, answered);
          const names = answered.map((a) => a.name);
          if (names.length > 0) d.metrics.podsCreated.inc({ namespace, swarm: name }, names.length);
          created += names.length;
          const where = placements.length > 1 ? ` in cluster ${pl.name}` : '';
          if (names.length > 0) recording.push(d.events.record(swarm, 'Normal', 'PodCreated', `Created trainer pod${names.length > 1 ? 's' : ''} ${names.join(', ')}${where}`));
          const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          if (failed) {
            // One placement failing (say, a missing namespace in a remote cluster) must not stop the others.
            recording.push(d.events.record(swarm, 'Warning', 'CreateFailed', `Cannot create a trainer pod${where}: ${describeError(failed.reason)}`));
            d.log.warn('cannot create trainer pod', { swarm: k, placement: pl.name, error: describeError(failed.reason) });
          }
        }
      }
      await Promise.all(recording);
      const s = result.status.peers!;
      d.metrics.peers.set({ namespace, swarm: name, state: 'desired' }, s.desired);
      d.metrics.peers.set({ namespace, swarm: name, state: 'scheduled' }, s.scheduled);
      d.metrics.peers.set({ namespace, swarm: name, state: 'running' }, s.running);
      if (created > 0 || deleted > 0) d.log.info('reconciled', { swarm: k, created, deleted, running: s.running, desired: s.desired });
      const requeue = [result.requeueAfterMs, telemetry ? TELEMETRY_RECHECK_MS : undefined, inputs.some((i) => !i.reachable) ? REMOTE_RETRY_MS : undefined, relay && 'problem' in relay ? relay.retryMs : undefined].filter((x) => x !== undefined);
      return requeue.length ? { requeueAfterMs: Math.min(...requeue) } : undefined;
    } finally {
      for (const pl of reserved) this.#expectations.creationsAbandoned(uid, pl);
    }
  }

  /**
   * Pods in a remote cluster mount the swarm's issued .creds Secret there too:
   * makes sure that cluster holds a current copy. False (with a Warning Event)
   * when it cannot, so no pod is created that could never start.
   */
  async #credentialsIn(c: ClusterCache, swarm: TrainingSwarm, issued: boolean, placement: string, recording: Promise<void>[]): Promise<boolean> {
    const issuer = this.#d.natsAuth;
    if (c === this.#local || !issued || !issuer) return true;
    let problem: string | undefined;
    try {
      const r = await c.request('get', 'secrets', () => issuer.ensureCopy(swarm, c.core));
      if (!r.ok) problem = r.problem;
    } catch (err) {
      problem = describeError(err);
    }
    if (problem === undefined) return true;
    this.#d.log.warn('cannot copy the NATS credentials to a remote cluster', { swarm: `${swarm.metadata.namespace}/${swarm.metadata.name}`, placement, problem });
    recording.push(this.#d.events.record(swarm, 'Warning', 'CreateFailed', `Cannot copy the NATS credentials Secret to cluster ${placement}: ${problem}`));
    return false;
  }

  /** A deleted swarm: remove its pods in remote clusters, then let the swarm go. */
  async #cleanUpRemote(swarm: TrainingSwarm): Promise<{ requeueAfterMs?: number } | void> {
    if (!(swarm.metadata.finalizers ?? []).includes(REMOTE_PODS_FINALIZER)) return;
    const uid = swarm.metadata.uid!;
    let remaining = 0;
    for (const pl of placementsOf(swarm, this.#d.cluster).filter((p) => p.kubeconfigSecretRef)) {
      const c = await this.#clusterFor(pl);
      if (!(c instanceof ClusterCache)) {
        // The kubeconfig is gone or broken: nothing we can reach to clean up.
        this.#d.log.warn('cannot clean up remote pods; letting the swarm go', { swarm: swarm.metadata.name, placement: pl.name, problem: c.problem });
        continue;
      }
      if (!c.reachable()) {
        remaining++;
        continue;
      }
      for (const p of c.podsOfSwarmUid(uid)) {
        remaining++;
        if (!p.metadata?.deletionTimestamp) await this.#deletePod(c, p.metadata!.namespace!, p.metadata!.name!, uid, pl.name);
        await this.#releaseFinalizer(c, p);
      }
    }
    if (remaining > 0) return { requeueAfterMs: CLEANUP_RECHECK_MS };
    // Then the copies of its issued NATS credentials (best effort: a Secret left behind holds a user of a deleted account).
    const issuer = this.#d.natsAuth;
    if (issuer) {
      for (const pl of placementsOf(swarm, this.#d.cluster).filter((p) => p.kubeconfigSecretRef)) {
        const c = await this.#clusterFor(pl);
        if (!(c instanceof ClusterCache)) continue;
        await c.request('delete', 'secrets', () => issuer.removeCopy(swarm, c.core)).catch((err: unknown) => this.#d.log.warn('cannot remove the NATS credentials copy', { placement: pl.name, error: describeError(err) }));
      }
    }
    const i = (swarm.metadata.finalizers ?? []).indexOf(REMOTE_PODS_FINALIZER);
    await this.#patchSwarm(swarm, [{ op: 'test', path: `/metadata/finalizers/${i}`, value: REMOTE_PODS_FINALIZER }, { op: 'remove', path: `/metadata/finalizers/${i}` }]);
    this.#d.log.info('remote pods removed; swarm released', { swarm: `${swarm.metadata.namespace}/${swarm.metadata.name}` });
  }

  async #patchSwarm(swarm: TrainingSwarm, ops: object[]): Promise<SwarmObject> {
    return this.#local.request('patch', PLURAL, () => this.#d.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace: swarm.metadata.namespace!, name: swarm.metadata.name!, body: ops },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    )) as Promise<SwarmObject>;
  }

  /**
   * Pods other swarms just created in this placement's cluster (or decided to
   * create and are creating) are not in the cache yet, but they will take free
   * GPUs first: count them as waiting, so concurrent reconciles do not all
   * fill the same free GPUs.
   */
  #withInFlight(cap: CapacityView, uid: string, placement: string): CapacityView {
    const inFlight = this.#expectations.inFlightElsewhere(uid, placement);
    return inFlight > 0 ? { ...cap, pendingElsewhere: cap.pendingElsewhere + inFlight } : cap;
  }

  /** Deletes a pod, with `resourceVersion` only if unchanged since (delete-pod.ts). True if deleted. */
  async #deletePod(c: ClusterCache, namespace: string, name: string, uid: string, placement: string, resourceVersion?: string): Promise<boolean> {
    const outcome = await deletePodAsSeen(c.core, namespace, name, resourceVersion, (call) => c.request('delete', 'pods', call));
    if (outcome === 'changed') this.#d.log.info('pod changed since the reconcile saw it (bound or started); kept', { pod: `${namespace}/${name}`, cluster: c.name, seenResourceVersion: resourceVersion });
    if (outcome !== 'deleted') return false;
    this.#expectations.expectDeletion(uid, placement, name);
    return true;
  }

  async #releaseFinalizer(c: ClusterCache, p: V1Pod): Promise<void> {
    const finalizers = p.metadata?.finalizers ?? [];
    const i = finalizers.indexOf(ACCOUNTING_FINALIZER);
    if (i < 0) return;
    try {
      await c.request('patch', 'pods', () => c.core.patchNamespacedPod(
        {
          namespace: p.metadata!.namespace!, name: p.metadata!.name!,
          body: [{ op: 'test', path: `/metadata/finalizers/${i}`, value: ACCOUNTING_FINALIZER }, { op: 'remove', path: `/metadata/finalizers/${i}` }],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ));
    } catch (err) {
      // 404: already gone. 422: the test op failed because the list changed; the next event retries.
      if (!(err instanceof ApiException && (err.code === 404 || err.code === 422))) throw err;
    }
  }
}

function key(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? 'default'}/${name ?? ''}`;
}
