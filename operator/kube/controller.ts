/**
 * The swarm controller: informers feed a work queue; each key is reconciled
 * by the pure reconciler, and this file applies the result to the cluster.
 * It fetches from caches, computes, writes status only when it changed
 * (optimistically, by resourceVersion), then releases, deletes and creates.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  ApiException, PatchStrategy, setHeaderOptions,
  type CoreV1Api, type CustomObjectsApi, type KubeConfig, type KubernetesObject, type V1Node, type V1Pod,
} from '@kubernetes/client-node';
import {
  GROUP, LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID, PLURAL, ROLE_TRAINER, VERSION, type TrainingSwarm,
} from '../../api/index.ts';
import { capacity, type NodeView } from '../capacity/free-gpus.ts';
import { gpuHolder, viewNode } from '../capacity/views.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { trainerPod } from '../reconcile/pod-template.ts';
import { ACCOUNTING_FINALIZER, viewPod, type PodView } from '../reconcile/pods.ts';
import { reconcile, type CapacityView } from '../reconcile/reconcile.ts';
import type { TelemetryHub } from '../telemetry/hub.ts';
import { WorkQueue } from '../workqueue.ts';
import type { EventRecorder } from './events.ts';
import { describeError } from './errors.ts';
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
/** Level-based safety net: every swarm is reconciled at least this often. */
const RESYNC_MS = 60_000;

export interface ControllerDeps {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  cluster: string;
  concurrency: number;
  /** Peer telemetry over NATS; status shows epoch, throughput and loss from it. */
  telemetry?: TelemetryHub;
  now?: () => Date;
}

/** Custom objects arrive as plain JSON; the informer wants a KubernetesObject. */
type SwarmObject = TrainingSwarm & KubernetesObject;

interface Expectations {
  created: Map<string, number>;
  deleted: Map<string, number>;
}

export class SwarmController {
  readonly #d: ControllerDeps;
  readonly #queue: WorkQueue;
  readonly #swarms: ResilientInformer<SwarmObject>;
  readonly #pods: ResilientInformer<V1Pod>;
  readonly #nodes: ResilientInformer<V1Node>;
  /** Per node, what capacity maths reads; heartbeats that change none of it trigger nothing. */
  readonly #nodeFingerprints = new Map<string, string>();
  #capacityTimer: NodeJS.Timeout | undefined;
  readonly #telemetryTimers = new Map<string, NodeJS.Timeout>();
  readonly #expect = new Map<string, Expectations>();
  #resync: NodeJS.Timeout | undefined;
  #active = false;

  constructor(d: ControllerDeps) {
    this.#d = d;
    this.#queue = new WorkQueue((key) => this.#reconcileKey(key), {
      concurrency: d.concurrency,
      baseRetryMs: 200,
      maxRetryMs: 30_000,
      handlerTimeoutMs: RECONCILE_TIMEOUT_MS,
      onError: (key, err, attempt) => {
        const conflict = err instanceof ApiException && err.code === 409;
        // Conflicts are the optimistic-concurrency path working as intended.
        d.log.log(conflict ? 'debug' : 'warn', 'reconcile failed; will retry', { swarm: key, attempt, error: describeError(err) });
      },
    });
    this.#swarms = new ResilientInformer<SwarmObject>({
      kubeConfig: d.kubeConfig,
      path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      list: () => this.#api('list', PLURAL, () => d.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })),
      log: d.log,
      onChange: (s) => this.#queue.add(key(s.metadata.namespace, s.metadata.name)),
      onConnect: () => this.#enqueueAll(),
      onError: () => d.metrics.informerRestarts.inc({ resource: PLURAL }),
    });
    // All pods, not only trainers: free GPUs are allocatable minus what every bound pod requests.
    this.#pods = new ResilientInformer<V1Pod>({
      kubeConfig: d.kubeConfig,
      path: '/api/v1/pods',
      list: () => this.#api('list', 'pods', () => d.core.listPodForAllNamespaces({})),
      log: d.log,
      onChange: (p, verb) => {
        const swarm = p.metadata?.labels?.[LABEL_ROLE] === ROLE_TRAINER ? p.metadata?.labels?.[LABEL_SWARM] : undefined;
        if (swarm) this.#queue.add(key(p.metadata?.namespace, swarm));
        // GPUs freed: a GPU pod went away or finished. Every swarm may now fit more.
        const phase = p.status?.phase;
        if (p.spec?.nodeName && (verb === 'delete' || phase === 'Succeeded' || phase === 'Failed' || p.metadata?.deletionTimestamp)) this.#capacityChanged();
      },
      onError: () => d.metrics.informerRestarts.inc({ resource: 'pods' }),
    });
    this.#nodes = new ResilientInformer<V1Node>({
      kubeConfig: d.kubeConfig,
      path: '/api/v1/nodes',
      list: () => this.#api('list', 'nodes', () => d.core.listNode({})),
      log: d.log,
      onChange: (n, verb) => {
        const name = n.metadata?.name ?? '';
        const fp = verb === 'delete' ? '' : JSON.stringify(viewNode(n));
        if (this.#nodeFingerprints.get(name) === fp) return;
        if (fp) this.#nodeFingerprints.set(name, fp);
        else this.#nodeFingerprints.delete(name);
        this.#capacityChanged();
      },
      onError: () => d.metrics.informerRestarts.inc({ resource: 'nodes' }),
    });
  }

  /** Starts the caches; reconciling begins with activate() (once leader). */
  async startCaches(): Promise<void> {
    this.#swarms.start();
    this.#pods.start();
    this.#nodes.start();
    await Promise.all([this.#swarms.synced, this.#pods.synced, this.#nodes.synced]);
    this.#d.log.info('caches synced', { swarms: this.#swarms.list().length, pods: this.#pods.list().length, nodes: this.#nodes.list().length });
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
    if (this.#capacityTimer) clearTimeout(this.#capacityTimer);
    for (const t of this.#telemetryTimers.values()) clearTimeout(t);
    this.#queue.stop();
    await Promise.all([this.#swarms.stop(), this.#pods.stop(), this.#nodes.stop()]);
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

  #capacityChanged(): void {
    if (this.#capacityTimer || !this.#active) return;
    this.#capacityTimer = setTimeout(() => {
      this.#capacityTimer = undefined;
      this.#enqueueAll();
    }, CAPACITY_DEBOUNCE_MS);
    this.#capacityTimer.unref();
  }

  /** Free capacity for one swarm's peers, from the node and pod caches. */
  #capacityFor(swarm: TrainingSwarm): CapacityView {
    const req = { gpus: swarm.spec.trainer.resources.gpus, nodeSelector: swarm.spec.nodeSelector, tolerations: swarm.spec.tolerations };
    const nodes: NodeView[] = this.#nodes.list().map(viewNode);
    const pods = this.#pods.list();
    const holders = pods.map(gpuHolder).filter((h) => h !== undefined);
    const cap = capacity(nodes, holders, req);
    let waitingGpus = 0;
    for (const p of pods) {
      if (p.spec?.nodeName || p.metadata?.deletionTimestamp || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      if (p.metadata?.labels?.[LABEL_SWARM_UID] === swarm.metadata.uid) continue;
      waitingGpus += gpuHolder({ ...p, spec: { ...p.spec!, nodeName: 'pending' } })?.gpus ?? 0;
    }
    const pendingElsewhere = req.gpus > 0 ? Math.ceil(waitingGpus / req.gpus) : 0;
    return { slots: cap.slots, pendingElsewhere, freeGpus: cap.freeGpus };
  }

  #enqueueAll(): void {
    if (!this.#active) return;
    for (const s of this.#swarms.list()) this.#queue.add(key(s.metadata.namespace, s.metadata.name));
  }

  async #api<T>(verb: string, resource: string, call: () => Promise<T>): Promise<T> {
    try {
      const r = await call();
      this.#d.metrics.apiRequests.inc({ verb, resource, code: '2xx' });
      return r;
    } catch (err) {
      this.#d.metrics.apiRequests.inc({ verb, resource, code: err instanceof ApiException ? String(err.code) : 'error' });
      throw err;
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
    const swarm = this.#swarms.get(name, namespace);
    const pods = this.#pods.list(namespace).filter((p) => p.metadata?.labels?.[LABEL_SWARM] === name && p.metadata?.labels?.[LABEL_ROLE] === ROLE_TRAINER);

    // Pods of a swarm that is gone or going: no more accounting, just let them go.
    const live = swarm && !swarm.metadata.deletionTimestamp ? swarm : undefined;
    const orphans = pods.filter((p) => !live || p.metadata?.labels?.[LABEL_SWARM_UID] !== live.metadata.uid);
    for (const p of orphans) await this.#releaseFinalizer(p);
    if (!live) {
      d.telemetry?.unwatch(key(namespace, name));
      if (swarm === undefined) this.#expect.forEach((_v, uid) => { if (!this.#swarms.list().some((s) => s.metadata.uid === uid)) this.#expect.delete(uid); });
      return;
    }

    const uid = live.metadata.uid!;
    const now = (d.now ?? (() => new Date()))();
    const mine = pods.filter((p) => p.metadata?.labels?.[LABEL_SWARM_UID] === uid);
    const views = this.#withExpectations(uid, mine.map(viewPod), now.getTime());
    d.telemetry?.watch(key(namespace, name), live);
    const telemetry = d.telemetry?.summary(key(namespace, name), live.spec.training.targetBatchSize);
    const result = reconcile({ swarm: live, pods: views, capacity: this.#capacityFor(live), ...(telemetry ? { telemetry } : {}), now });
    d.log.debug('reconcile', { swarm: `${namespace}/${name}`, pods: views.map((v) => `${v.name}:${v.ending ?? (v.running ? 'running' : 'pending')}`), create: result.create, delete: result.delete, release: result.release });

    if (!isDeepStrictEqual(result.status, live.status ?? {})) {
      await this.#api('update', `${PLURAL}/status`, () => d.custom.replaceNamespacedCustomObjectStatus({
        group: GROUP, version: VERSION, plural: PLURAL, namespace, name,
        body: { ...live, status: result.status },
      }));
    }
    for (const e of result.events) {
      await d.events.record(live, e.type, e.reason, e.message);
      if (e.reason.startsWith('Pod') && e.reason !== 'PodCreated') d.metrics.podEndings.inc({ namespace, swarm: name, ending: e.reason.slice(3).toLowerCase() });
    }
    const byName = new Map(mine.map((p) => [p.metadata?.name, p]));
    for (const podName of result.release) {
      const p = byName.get(podName);
      if (p) await this.#releaseFinalizer(p);
    }
    for (const podName of result.delete) {
      await this.#deletePod(namespace, podName, uid);
    }
    for (let i = 0; i < result.create; i++) {
      const created = await this.#api('create', 'pods', () => d.core.createNamespacedPod({ namespace, body: trainerPod(live, { cluster: d.cluster }) }));
      this.#expectations(uid).created.set(created.metadata!.name!, now.getTime());
      d.metrics.podsCreated.inc({ namespace, swarm: name });
      await d.events.record(live, 'Normal', 'PodCreated', `Created trainer pod ${created.metadata!.name}`);
    }
    const s = result.status.peers!;
    d.metrics.peers.set({ namespace, swarm: name, state: 'desired' }, s.desired);
    d.metrics.peers.set({ namespace, swarm: name, state: 'scheduled' }, s.scheduled);
    d.metrics.peers.set({ namespace, swarm: name, state: 'running' }, s.running);
    if (result.create > 0 || result.delete.length > 0) {
      d.log.info('reconciled', { swarm: `${namespace}/${name}`, created: result.create, deleted: result.delete.length, running: s.running, desired: s.desired });
    }
    const requeue = [result.requeueAfterMs, telemetry ? TELEMETRY_RECHECK_MS : undefined].filter((x) => x !== undefined);
    return requeue.length ? { requeueAfterMs: Math.min(...requeue) } : undefined;
  }

  #expectations(uid: string): Expectations {
    let e = this.#expect.get(uid);
    if (!e) {
      e = { created: new Map(), deleted: new Map() };
      this.#expect.set(uid, e);
    }
    return e;
  }

  /** Adds pods we created that the cache has not shown yet, and marks pods we deleted as going. */
  #withExpectations(uid: string, views: PodView[], now: number): PodView[] {
    const e = this.#expectations(uid);
    const seen = new Set(views.map((v) => v.name));
    for (const [n, at] of e.created) if (seen.has(n) || now - at > EXPECTATION_TTL_MS) e.created.delete(n);
    for (const [n, at] of e.deleted) if (!seen.has(n) || now - at > EXPECTATION_TTL_MS) e.deleted.delete(n);
    const out = views.map((v) => (e.deleted.has(v.name) && v.ending === undefined ? { ...v, ending: 'deleted' as const, running: false } : v));
    for (const [n, at] of e.created) out.push({ name: n, uid: `pending:${n}`, scheduled: false, running: false, holdsFinalizer: true, createdAt: at });
    return out;
  }

  async #deletePod(namespace: string, name: string, uid: string): Promise<void> {
    try {
      await this.#api('delete', 'pods', () => this.#d.core.deleteNamespacedPod({ namespace, name }));
      this.#expectations(uid).deleted.set(name, Date.now());
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    }
  }

  async #releaseFinalizer(p: V1Pod): Promise<void> {
    const finalizers = p.metadata?.finalizers ?? [];
    const i = finalizers.indexOf(ACCOUNTING_FINALIZER);
    if (i < 0) return;
    try {
      await this.#api('patch', 'pods', () => this.#d.core.patchNamespacedPod(
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
