/**
 * One cluster the operator places pods in: API clients and the caches that
 * capacity and reconciling read (all pods, all nodes), plus whether the
 * cluster can be reached. The operator's own cluster is one of these; each
 * remote placement (a kubeconfig Secret) is another.
 */
import { CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import { LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID, ROLE_TRAINER, type TrainingSwarm } from '../../api/index.ts';
import { capacity, type NodeView } from '../capacity/free-gpus.ts';
import { gpuHolder, gpuRequest, viewNode } from '../capacity/views.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { CapacityView } from '../reconcile/reconcile.ts';
import { withSharedConnections } from './connections.ts';
import { ResilientInformer } from './informer.ts';
import { projectNode, projectPod, type CachedNode, type CachedPod } from './projection.ts';

/** A cluster whose watches have failed this long counts as unreachable. */
export const UNREACHABLE_AFTER_MS = 10_000;

export interface ClusterCacheOptions {
  name: string;
  kubeConfig: KubeConfig;
  log: Logger;
  metrics: OperatorMetrics;
  /** A trainer pod of swarm namespace/name changed. */
  onTrainerPod: (namespace: string, swarm: string) => void;
  /** Free GPUs may have grown (a node, or a GPU pod going away): swarms may grow now. */
  onCapacity: () => void;
  /** A bound GPU pod changed: free GPUs may have shrunk, which only the swarms' status shows. */
  onGpusTaken: () => void;
  /** The cluster became unreachable or reachable again. */
  onReachability: () => void;
  /** The controller's clock, in Unix ms (default Date.now). */
  now?: () => number;
}

export class ClusterCache {
  readonly name: string;
  readonly core: CoreV1Api;
  readonly #o: ClusterCacheOptions;
  readonly #now: () => number;
  readonly #pods: ResilientInformer<CachedPod, V1Pod>;
  readonly #nodes: ResilientInformer<CachedNode, V1Node>;
  /** Per node, what capacity maths reads, kept as nodes change; heartbeats that change none of it trigger nothing. */
  readonly #nodeViews = new Map<string, NodeView>();
  #downSince: number | undefined;
  #lastErrorAt = 0;
  #reachTimer: NodeJS.Timeout | undefined;

  constructor(o: ClusterCacheOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.name = o.name;
    // Calls (lists included) share kept connections; the informers' watches use the plain config (connections.ts).
    this.core = withSharedConnections(o.kubeConfig).makeApiClient(CoreV1Api);
    const api = <T>(verb: string, resource: string, call: () => Promise<T>): Promise<T> => this.request(verb, resource, call);
    // All pods, not only trainers: free GPUs are allocatable minus what every bound pod requests.
    this.#pods = new ResilientInformer<CachedPod, V1Pod>({
      kubeConfig: o.kubeConfig,
      path: '/api/v1/pods',
      listPage: (cont, limit) => api('list', 'pods', () => this.core.listPodForAllNamespaces({ limit, ...(cont ? { _continue: cont } : {}) })),
      project: projectPod,
      log: o.log,
      onChange: (p, verb) => {
        const labels = p.metadata?.labels ?? {};
        if (labels[LABEL_ROLE] === ROLE_TRAINER && labels[LABEL_SWARM]) o.onTrainerPod(p.metadata?.namespace ?? 'default', labels[LABEL_SWARM]);
        const phase = p.status?.phase;
        if (p.spec?.nodeName && (verb === 'delete' || phase === 'Succeeded' || phase === 'Failed' || p.metadata?.deletionTimestamp)) o.onCapacity();
        else if (verb !== 'delete' && gpuHolder(p) !== undefined) o.onGpusTaken();
      },
      onConnect: () => this.#connected(),
      onError: () => this.#down('pods'),
    });
    this.#nodes = new ResilientInformer<CachedNode, V1Node>({
      kubeConfig: o.kubeConfig,
      path: '/api/v1/nodes',
      listPage: (cont, limit) => api('list', 'nodes', () => this.core.listNode({ limit, ...(cont ? { _continue: cont } : {}) })),
      project: projectNode,
      log: o.log,
      onChange: (n, verb) => {
        const name = n.metadata?.name ?? '';
        const before = this.#nodeViews.get(name);
        if (verb === 'delete') {
          if (!this.#nodeViews.delete(name)) return;
        } else {
          const view = viewNode(n);
          if (before && JSON.stringify(before) === JSON.stringify(view)) return;
          this.#nodeViews.set(name, view);
        }
        o.onCapacity();
      },
      onError: () => this.#down('nodes'),
    });
  }

  start(): void {
    this.#pods.start();
    this.#nodes.start();
  }

  get synced(): Promise<void> {
    return Promise.all([this.#pods.synced, this.#nodes.synced]).then(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.#reachTimer) clearTimeout(this.#reachTimer);
    await Promise.all([this.#pods.stop(), this.#nodes.stop()]);
  }

  /** Reachable unless its watches have been failing for UNREACHABLE_AFTER_MS. */
  reachable(now = this.#now()): boolean {
    return this.#downSince === undefined || now - this.#downSince < UNREACHABLE_AFTER_MS;
  }

  unreachableSince(): string | undefined {
    return this.#downSince === undefined ? undefined : new Date(this.#downSince).toISOString();
  }

  /** Trainer pods of one swarm in this cluster. */
  trainerPods(swarm: TrainingSwarm): CachedPod[] {
    const ns = swarm.metadata.namespace ?? 'default';
    return this.#pods.list(ns).filter((p) => p.metadata?.labels?.[LABEL_ROLE] === ROLE_TRAINER && p.metadata?.labels?.[LABEL_SWARM] === swarm.metadata.name);
  }

  /** Trainer pods labelled with a swarm uid, in any namespace (for cleanup). */
  podsOfSwarmUid(uid: string): CachedPod[] {
    return this.#pods.list().filter((p) => p.metadata?.labels?.[LABEL_SWARM_UID] === uid);
  }

  /** Free capacity for a swarm's peers, from the node and pod caches. */
  capacityFor(swarm: TrainingSwarm, req: { gpus: number; nodeSelector?: Record<string, string>; tolerations?: TrainingSwarm['spec']['tolerations'] }): CapacityView {
    const nodes = [...this.#nodeViews.values()];
    const pods = this.#pods.list();
    const holders = pods.map(gpuHolder).filter((h) => h !== undefined);
    const cap = capacity(nodes, holders, req);
    let waitingGpus = 0;
    for (const p of pods) {
      if (p.spec?.nodeName || p.metadata?.deletionTimestamp || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
      if (p.metadata?.labels?.[LABEL_SWARM_UID] === swarm.metadata.uid) continue;
      waitingGpus += gpuRequest(p);
    }
    const pendingElsewhere = req.gpus > 0 ? Math.ceil(waitingGpus / req.gpus) : 0;
    return { slots: cap.slots, pendingElsewhere, freeGpus: cap.freeGpus };
  }

  /** An API call, counted in metrics by verb, resource and status code. */
  async request<T>(verb: string, resource: string, call: () => Promise<T>): Promise<T> {
    const end = this.#o.metrics.requestSeconds.startTimer({ cluster: this.name, verb, resource });
    try {
      const r = await call();
      this.#o.metrics.apiRequests.inc({ cluster: this.name, verb, resource, code: '2xx' });
      return r;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      this.#o.metrics.apiRequests.inc({ cluster: this.name, verb, resource, code: typeof code === 'number' ? String(code) : 'error' });
      throw err;
    } finally {
      end();
    }
  }

  /** A watch (re)connected; it counts as recovery only if no error follows within a moment. */
  #connected(): void {
    const at = this.#now();
    setTimeout(() => { if (this.#lastErrorAt < at) this.#up(); }, 2_000).unref();
  }

  #down(resource: string): void {
    this.#lastErrorAt = this.#now();
    this.#o.metrics.informerRestarts.inc({ cluster: this.name, resource });
    if (this.#downSince !== undefined) return;
    this.#downSince = this.#now();
    // Look again once the outage has lasted long enough to call the cluster unreachable.
    this.#reachTimer = setTimeout(() => {
      this.#reachTimer = undefined;
      if (!this.reachable()) {
        this.#o.log.warn('cluster unreachable', { cluster: this.name, since: this.unreachableSince() });
        this.#o.onReachability();
      }
    }, UNREACHABLE_AFTER_MS + 100);
    this.#reachTimer.unref();
  }

  #up(): void {
    if (this.#downSince === undefined) return;
    const wasUnreachable = !this.reachable();
    this.#downSince = undefined;
    if (wasUnreachable) {
      this.#o.log.info('cluster reachable again', { cluster: this.name });
      this.#o.onReachability();
    }
  }
}
