/**
 * The clusters a swarm's placements point at: the operator's own, or a
 * remote one built from a kubeconfig Secret (in the operator's namespace) on
 * first use. A Secret that cannot be used is tried again after
 * REMOTE_RETRY_MS; until then the placement is unusable, with the reason.
 */
import { ApiException, KubeConfig, type CoreV1Api } from '@kubernetes/client-node';
import type { Placement } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import { ClusterCache } from './cluster.ts';
import { kubeconfigAuthProblem } from '../validate/semantic.ts';
import { describeError } from './errors.ts';

/** A kubeconfig Secret that could not be loaded is tried again after this long. */
export const REMOTE_RETRY_MS = 15_000;
/** How long a new remote cluster's caches may take to fill before its first use goes ahead anyway. */
const FIRST_SYNC_WAIT_MS = 10_000;

export interface PlacementClustersDeps {
  /** The operator's own cluster: placements without a kubeconfig Secret, and where the Secrets are read. */
  local: ClusterCache;
  core: CoreV1Api;
  /** Namespace holding the kubeconfig Secrets (the operator's own). */
  secretsNamespace: string;
  /** Makes (unstarted) caches for a remote cluster, wired like the local one. */
  newCluster: (placement: string, kubeConfig: KubeConfig) => ClusterCache;
  log: Logger;
  /** The controller's clock, in Unix ms. */
  now: () => number;
}

interface RemoteCluster {
  /** The Secret's resourceVersion the cache was built from; a rotated kubeconfig rebuilds it. */
  resourceVersion?: string;
  cache?: ClusterCache;
  /** Why the cluster cannot be used, e.g. a missing Secret or an unreadable kubeconfig. */
  problem?: string;
  retryAt: number;
}

/** A swarm's placements split into usable clusters and unusable placements, both by placement name. */
export interface ResolvedPlacements {
  clusters: Map<string, ClusterCache>;
  /** Placements whose cluster cannot be used at all, with the reason. */
  unusable: Map<string, string>;
}

export class PlacementClusters {
  readonly #d: PlacementClustersDeps;
  /** By `${Secret name}/${key}`. */
  readonly #remotes = new Map<string, RemoteCluster>();

  constructor(d: PlacementClustersDeps) {
    this.#d = d;
  }

  async resolve(placements: readonly Placement[]): Promise<ResolvedPlacements> {
    const out: ResolvedPlacements = { clusters: new Map(), unusable: new Map() };
    for (const pl of placements) {
      const c = await this.clusterFor(pl);
      if (c instanceof ClusterCache) out.clusters.set(pl.name, c);
      else out.unusable.set(pl.name, c.problem);
    }
    return out;
  }

  /** The cluster a placement points at, or why it cannot be used. */
  async clusterFor(pl: Placement): Promise<ClusterCache | { problem: string }> {
    const d = this.#d;
    const ref = pl.kubeconfigSecretRef;
    if (!ref) return d.local;
    const id = `${ref.name}/${ref.key}`;
    let r = this.#remotes.get(id);
    const now = d.now();
    if (r && (r.cache || now < r.retryAt)) return r.cache ?? { problem: r.problem! };
    r = { retryAt: now + REMOTE_RETRY_MS };
    this.#remotes.set(id, r);
    const where = `kubeconfig Secret ${d.secretsNamespace}/${ref.name} key ${ref.key}`;
    try {
      const secret = await d.local.request('get', 'secrets', () => d.core.readNamespacedSecret({ namespace: d.secretsNamespace, name: ref.name }));
      const data = secret.data?.[ref.key];
      if (!data) throw new Error('the key is missing');
      const kc = new KubeConfig();
      kc.loadFromString(Buffer.from(data, 'base64').toString('utf8'));
      if (!kc.getCurrentCluster()) throw new Error('no current cluster (set current-context)');
      const authProblem = kubeconfigAuthProblem({ user: kc.getCurrentUser(), cluster: kc.getCurrentCluster() });
      if (authProblem) throw new Error(authProblem);
      r.resourceVersion = secret.metadata?.resourceVersion;
      r.cache = d.newCluster(pl.name, kc);
      r.cache.start();
      d.log.info('connected to remote cluster', { placement: pl.name, server: kc.getCurrentCluster()?.server, secret: where });
      await Promise.race([r.cache.synced, new Promise((res) => setTimeout(res, FIRST_SYNC_WAIT_MS).unref())]);
      return r.cache;
    } catch (err) {
      r.problem = `${where}: ${err instanceof ApiException && err.code === 404 ? 'not found' : describeError(err)}`;
      d.log.warn('cannot use remote cluster', { placement: pl.name, problem: r.problem });
      return { problem: r.problem };
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#remotes.values()].map((r) => r.cache?.stop()));
  }
}
