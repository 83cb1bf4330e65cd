/**
 * Watching binds: one namespace's pods in one cluster, each remembered with
 * when it was first seen and first seen bound (by the bench's clock and by
 * the apiserver's), grouped by swarm (or bench set).
 */
import { ListWatch, Watch, type V1Pod } from '@kubernetes/client-node';
import { say, t } from './clock.ts';
import type { Cluster } from './clusters.ts';

interface PodEntry {
  seenAt: number;
  boundAt?: number;
  /** Wall-clock ms: when the watch delivered the pod, its creationTimestamp, and its PodScheduled=True transition (1 s resolution). */
  seenWall: number;
  createdWall?: number;
  boundWall?: number;
  /** Deleted, or terminating: no longer a peer, no longer waiting. */
  gone?: boolean;
  /** The swarm (or bench set) the pod belongs to. */
  group: string;
}

export interface TrackerCounts {
  live: number;
  bound: number;
  /** Live pods not bound to a node. */
  waiting: number;
}

/**
 * Watches one namespace's pods in one cluster and remembers when each was
 * first seen, and first seen bound. Counts are kept as events arrive, so
 * reading them every 50 ms costs nothing at thousands of pods.
 */
export class BindTracker {
  readonly cluster: string;
  readonly namespace: string;
  readonly #lw: ListWatch<V1Pod>;
  /** uid → entry */
  readonly #pods = new Map<string, PodEntry>();
  readonly #waitingByGroup = new Map<string, number>();
  readonly #boundByGroup = new Map<string, number>();
  readonly #firstCreatedWallByGroup = new Map<string, number>();
  #live = 0;
  #bound = 0;
  #boundRemoved = 0;
  #stopped = false;

  constructor(c: Cluster, namespace: string, groupLabel: string) {
    this.cluster = c.name;
    this.namespace = namespace;
    this.#lw = new ListWatch<V1Pod>(`/api/v1/namespaces/${namespace}/pods`, new Watch(c.watchKc), () => c.watchCore.listNamespacedPod({ namespace }), false);
    const bump = (m: Map<string, number>, k: string, d: number): void => void m.set(k, (m.get(k) ?? 0) + d);
    const upsert = (p: V1Pod): void => {
      const uid = p.metadata?.uid ?? '';
      let e = this.#pods.get(uid);
      if (!e) {
        e = { seenAt: t(), seenWall: Date.now(), group: p.metadata?.labels?.[groupLabel] ?? '' };
        const created = wallMs(p.metadata?.creationTimestamp);
        if (created !== undefined) {
          e.createdWall = created;
          this.#firstCreatedWallByGroup.set(e.group, Math.min(created, this.#firstCreatedWallByGroup.get(e.group) ?? Infinity));
        }
        this.#pods.set(uid, e);
        this.#live++;
        bump(this.#waitingByGroup, e.group, 1);
      }
      if (e.gone) return;
      if (p.spec?.nodeName && e.boundAt === undefined) {
        e.boundAt = t();
        const scheduled = wallMs(p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'True')?.lastTransitionTime);
        if (scheduled !== undefined) e.boundWall = scheduled;
        this.#bound++;
        bump(this.#waitingByGroup, e.group, -1);
        bump(this.#boundByGroup, e.group, 1);
      }
      if (p.metadata?.deletionTimestamp) this.#remove(e);
    };
    this.#lw.on('add', upsert);
    this.#lw.on('update', upsert);
    this.#lw.on('delete', (p) => {
      const e = this.#pods.get(p.metadata?.uid ?? '');
      if (e) this.#remove(e);
    });
    this.#lw.on('error', (err: unknown) => {
      if (this.#stopped) return;
      say(`pod watch in ${c.name}/${namespace} failed (${(err as Error)?.message ?? String(err)}); restarting`);
      setTimeout(() => void this.#lw.start().catch(() => undefined), 1_000);
    });
  }

  #remove(e: PodEntry): void {
    if (e.gone) return;
    e.gone = true;
    this.#live--;
    const m = e.boundAt !== undefined ? this.#boundByGroup : this.#waitingByGroup;
    m.set(e.group, (m.get(e.group) ?? 0) - 1);
    if (e.boundAt !== undefined) {
      this.#bound--;
      this.#boundRemoved++;
    }
  }

  start(): Promise<void> {
    return this.#lw.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#lw.stop();
  }

  counts(): TrackerCounts {
    return { live: this.#live, bound: this.#bound, waiting: this.#live - this.#bound };
  }

  /** Pods that went away (deleted or deleting) after they were bound: GPUs given up. */
  boundRemoved(): number {
    return this.#boundRemoved;
  }

  /** The most pods any one group (swarm) has waiting here. */
  maxWaitingPerGroup(): number {
    let m = 0;
    for (const v of this.#waitingByGroup.values()) m = Math.max(m, v);
    return m;
  }

  boundByGroup(): ReadonlyMap<string, number> {
    return this.#boundByGroup;
  }

  /** The creationTimestamp (wall ms, whole seconds) of each group's first pod. */
  firstCreatedWallByGroup(): ReadonlyMap<string, number> {
    return this.#firstCreatedWallByGroup;
  }

  /** When the k-th (1-based) pod that is still live was bound, in bind order; undefined if fewer are bound. */
  nthBoundAt(k: number): number | undefined {
    const times = [...this.#pods.values()].filter((e) => !e.gone && e.boundAt !== undefined).map((e) => e.boundAt!).sort((a, b) => a - b);
    return times[k - 1];
  }

  /** The same by the apiserver's clock (PodScheduled lastTransitionTime, whole seconds), immune to watch delays. */
  nthBoundWall(k: number): number | undefined {
    const times = [...this.#pods.values()].filter((e) => !e.gone && e.boundWall !== undefined).map((e) => e.boundWall!).sort((a, b) => a - b);
    return times[k - 1];
  }

  /**
   * How late the watch delivered each pod: seen minus creationTimestamp, in ms.
   * creationTimestamp is truncated to the second, so a prompt watch shows 0-1000 ms.
   */
  watchLagMs(): number[] {
    return [...this.#pods.values()].filter((e) => e.createdWall !== undefined).map((e) => e.seenWall - e.createdWall!);
  }

  summary(): { everCreated: number; lastSeenAt: number; lastBoundAt: number; bindLatencyMs: number[] } {
    const live = [...this.#pods.values()].filter((e) => !e.gone);
    const bound = live.filter((e) => e.boundAt !== undefined);
    return {
      everCreated: this.#pods.size,
      lastSeenAt: live.reduce((m, e) => Math.max(m, e.seenAt), 0),
      lastBoundAt: bound.reduce((m, e) => Math.max(m, e.boundAt!), 0),
      bindLatencyMs: bound.map((e) => e.boundAt! - e.seenAt),
    };
  }
}

/** Kubernetes times arrive as strings from watches and as Dates from typed list calls. */
function wallMs(x: Date | string | undefined): number | undefined {
  if (x === undefined) return undefined;
  const ms = new Date(x).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

export const sumCounts = (cs: TrackerCounts[]): TrackerCounts => cs.reduce((a, c) => ({ live: a.live + c.live, bound: a.bound + c.bound, waiting: a.waiting + c.waiting }), { live: 0, bound: 0, waiting: 0 });
