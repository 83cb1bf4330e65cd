/**
 * The swarm controller: informers feed a work queue, and each key is
 * reconciled in three parts. Gone and deleted swarms are cleaned up
 * (cleanup.ts); otherwise the swarm's clusters and spec are looked up, the
 * caches observed and the pure reconciler decides (observe.ts); then the
 * apply steps write status, release, delete and create, in that order, in
 * every cluster the swarm places pods in (apply.ts).
 */
import { ApiException, AppsV1Api, type CoreV1Api, type CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { NatsCredentialIssuer } from '../natsauth/issuer.ts';
import { placementsOf } from '../reconcile/reconcile.ts';
import type { TelemetryHub } from '../telemetry/hub.ts';
import { WorkQueue } from '../workqueue.ts';
import { APPLY_STEPS, newApplyContext, type ApplyDeps } from './apply.ts';
import { cleanUpDeletedSwarm, releaseOrphanedPods, type CleanupDeps } from './cleanup.ts';
import { ClusterCache } from './cluster.ts';
import { withSharedConnections } from './connections.ts';
import { describeError } from './errors.ts';
import type { EventRecorder } from './events.ts';
import { PodExpectations } from './expectations.ts';
import { ResilientInformer } from './informer.ts';
import { observe, unusablePlacement } from './observe.ts';
import { PlacementClusters } from './placement-clusters.ts';
import { withoutManagedFields } from './projection.ts';
import { RelayManager } from './relay.ts';
import { SpecChecker } from './spec-check.ts';
import { runSteps } from './steps.ts';
import { addRemotePodsFinalizer, type SwarmObject } from './swarm-writes.ts';

/** How long a create or delete we made may stay invisible in the cache. */
const EXPECTATION_TTL_MS = 60_000;
/** A reconcile makes a handful of API calls; far longer means one of them hung. */
const RECONCILE_TIMEOUT_MS = 60_000;
/** Telemetry changes a swarm's status at most this often (status writes are rate-limited). */
export const TELEMETRY_STATUS_INTERVAL_MS = 2_000;
/** Capacity changes (a node added, a GPU pod gone) are batched this long before every swarm is reconciled. */
const CAPACITY_DEBOUNCE_MS = 200;
/** Longest a swarm's status shows GPUs as free after another swarm's pods took them. */
const STATUS_REFRESH_MS = 5_000;
/** Level-based safety net: every swarm is reconciled at least this often. */
const RESYNC_MS = 60_000;

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
  /** Trainer image of swarms that leave out spec.trainer.image (SPOTSWARM_TRAINER_IMAGE). */
  defaultTrainerImage?: string;
  /** NATS URL of swarms without spec.nats.url (the chart's NATS). */
  defaultNatsUrl?: string;
  /** Bytes of the JetStream store: swarms whose checkpoints would not fit are Degraded (CheckpointTooLarge). */
  natsStoreBytes?: number;
  /** Port of the trainers' /metrics (operator config trainerMetricsPort); unset = none. */
  trainerMetricsPort?: number;
  now?: () => Date;
}

export class SwarmController {
  readonly #d: ControllerDeps;
  readonly #queue: WorkQueue;
  readonly #swarms: ResilientInformer<SwarmObject>;
  readonly #local: ClusterCache;
  /** The clusters placements point at: the local one, and remote ones from kubeconfig Secrets. */
  readonly #clusters: PlacementClusters;
  /** Creates and deletes the caches do not show yet (expectations.ts). */
  readonly #expectations: PodExpectations;
  /** The controller's clock (ControllerDeps.now); #now reads it in Unix ms. */
  readonly #clock: () => Date;
  readonly #now: () => number;
  readonly #telemetryTimers = new Map<string, NodeJS.Timeout>();
  readonly #spec: SpecChecker;
  /** Circuit relays the operator runs for Relay placements without relays (kube/relay.ts). */
  readonly #relays: RelayManager;
  /** What the apply steps and the cleanup of deleted swarms work with. */
  readonly #apply: ApplyDeps;
  readonly #cleanup: CleanupDeps;
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
      listPage: (cont, limit) => this.#local.request('list', PLURAL, () => d.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, limit, ...(cont ? { _continue: cont } : {}) })),
      project: withoutManagedFields<SwarmObject>,
      log: d.log,
      onChange: (s) => this.#queue.add(key(s.metadata.namespace, s.metadata.name)),
      onConnect: () => this.#enqueueAll(),
      onError: () => d.metrics.informerRestarts.inc({ cluster: d.cluster, resource: PLURAL }),
    });
    this.#local = this.#newCluster(d.cluster, d.kubeConfig);
    this.#spec = new SpecChecker({ core: d.core, registry: d.metrics.registry, log: d.log, ...(d.natsAuth ? { issuer: d.natsAuth } : {}), defaultTrainerImage: d.defaultTrainerImage ?? '',
      ...(d.natsStoreBytes !== undefined ? { natsStoreBytes: d.natsStoreBytes } : {}), request: (v, r, call) => this.#local.request(v, r, call) });
    this.#relays = new RelayManager({ now: this.#now, core: d.core, apps: withSharedConnections(d.kubeConfig).makeApiClient(AppsV1Api), events: d.events, log: d.log, request: (v, r, call) => this.#local.request(v, r, call) });
    this.#clusters = new PlacementClusters({ local: this.#local, core: d.core, secretsNamespace: d.secretsNamespace, newCluster: (name, kc) => this.#newCluster(name, kc), log: d.log, now: this.#now });
    const natsAuth = d.natsAuth ? { natsAuth: d.natsAuth } : {};
    this.#apply = {
      local: this.#local, custom: d.custom, events: d.events, metrics: d.metrics, log: d.log, relays: this.#relays, expectations: this.#expectations, ...natsAuth,
      ...(d.trainerMetricsPort !== undefined ? { trainerMetricsPort: d.trainerMetricsPort } : {}),
    };
    this.#cleanup = { local: this.#local, custom: d.custom, clusters: this.#clusters, expectations: this.#expectations, cluster: d.cluster, log: d.log, ...natsAuth };
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
    await Promise.all([this.#swarms.stop(), this.#local.stop(), this.#clusters.stop()]);
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

  /**
   * Reads the swarm and its clusters, decides (observe.ts), and applies the
   * decision in the apply steps' order (apply.ts), stopping at the first error.
   */
  async #reconcileSwarm(namespace: string, name: string): Promise<{ requeueAfterMs?: number } | void> {
    const d = this.#d;
    const k = key(namespace, name);
    const found = this.#swarms.get(name, namespace);
    // Local pods of a swarm that is gone or was replaced: no more accounting, let the garbage collector have them.
    await releaseOrphanedPods(this.#local, namespace, name, found);
    if (!found) {
      d.telemetry?.unwatch(k);
      this.#spec.forget(namespace, name);
      this.#relays.forget(namespace, name);
      return;
    }
    if (found.metadata.deletionTimestamp) {
      d.telemetry?.unwatch(k);
      return cleanUpDeletedSwarm(this.#cleanup, found);
    }

    const now = this.#clock();
    const placements = placementsOf(found, d.cluster);
    // Carry on with the patched object: its resourceVersion is what the status write must name.
    const patched = placements.some((p) => p.kubeconfigSecretRef) ? await addRemotePodsFinalizer(this.#apply, found) : found;
    const swarm = withDefaultNatsUrl(patched, d.defaultNatsUrl);
    const { clusters, unusable } = await this.#clusters.resolve(placements);
    // Semantic checks (Secrets, model) and operator-issued NATS credentials; problems become the Degraded condition.
    const checked = await this.#spec.check(swarm, [...unusable].map(([pl, problem]) => unusablePlacement(pl, problem)));
    d.telemetry?.watch(k, swarm, checked.telemetryAuth);
    const telemetry = d.telemetry?.summary(k, swarm.spec.training.targetBatchSize);
    const observed = observe({ namespace, name, swarm, placements, clusters, unusable, checked, ...(telemetry ? { telemetry } : {}), now, expectations: this.#expectations });
    d.log.debug('reconcile', { swarm: k, actions: observed.result.actions });
    try {
      return await runSteps(APPLY_STEPS, [newApplyContext(this.#apply), swarm, observed], (step, err) => d.log.debug('apply step failed', { swarm: k, step, error: describeError(err) }));
    } finally {
      // Creates decided and not answered (an error, or a relay or credentials not ready) are no longer in flight.
      for (const pl of Object.keys(observed.result.actions)) this.#expectations.creationsAbandoned(observed.uid, pl);
    }
  }
}

/** The swarm with spec.nats.url filled from the operator's default when it has none. */
export function withDefaultNatsUrl<T extends TrainingSwarm>(swarm: T, url: string | undefined): T {
  if (swarm.spec.nats?.url || url === undefined) return swarm;
  return { ...swarm, spec: { ...swarm.spec, nats: { ...swarm.spec.nats, url } } };
}

function key(namespace: string | undefined, name: string | undefined): string {
  return `${namespace ?? 'default'}/${name ?? ''}`;
}
