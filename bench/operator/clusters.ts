/** The control planes the bench runs, with its API clients for each, and the namespace chores of its phases. */
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { ControlPlane } from '../../testkit/cluster/index.ts';
import { t } from './clock.ts';

/** One control plane with its fake nodes and the bench's clients for it. */
export interface Cluster {
  /** Placement name (FILL: dc1, dc2, ...; BIND: the operator's default, local). */
  name: string;
  cp: ControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  coord: CoordinationV1Api;
  /**
   * For the pod watches: client-node as it ships, so every watch has a
   * connection of its own instead of sharing one with a thousand nodes' heartbeats.
   */
  watchKc: KubeConfig;
  watchCore: CoreV1Api;
  nodes: number;
  gpus: number;
}

/** The bench's clients for a started control plane that will get `nodes` fake nodes with `gpus` GPUs in all. */
export function connectCluster(name: string, cp: ControlPlane, nodes: number, gpus: number): Cluster {
  const kc = keepAliveKubeConfig(cp.kubeconfigPath);
  const watchKc = new KubeConfig();
  watchKc.loadFromFile(cp.kubeconfigPath);
  return {
    name, cp, kc, watchKc, watchCore: watchKc.makeApiClient(CoreV1Api),
    core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi), coord: kc.makeApiClient(CoordinationV1Api),
    nodes, gpus,
  };
}

/**
 * A KubeConfig whose API calls share one connection (HTTP/2 where the
 * apiserver offers it). client-node 2.0.1 builds a new undici Agent for every
 * request (applySecurityAuthentication → createDispatcher), so each call pays
 * a fresh TCP + TLS handshake. Measured on 2 cores: ~9 ms and ~4 ms of client
 * CPU per sequential GET, against ~3 ms and ~1 ms on one shared connection;
 * a fake node costs ~19 ms of bench CPU to register instead of ~6. The
 * bench's own clients (fake-node heartbeats, floor pods, watches) must not
 * take that CPU from what is measured; the operator is left as it ships.
 * Watches stay off this connection: with the pod watches multiplexed on it
 * next to 1,000 nodes' heartbeats (~150 requests/s), pod events reached the
 * bench up to ~110 s late in a 2,000-node run; on their own connections the
 * lag was 2.5 s p50, 7.7 s max.
 */
function keepAliveKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const apply = kc.applySecurityAuthentication.bind(kc);
  type Ctx = Parameters<KubeConfig['applySecurityAuthentication']>[0];
  let shared: ReturnType<Ctx['getDispatcher']>;
  kc.applySecurityAuthentication = async (ctx: Ctx): Promise<void> => {
    await apply(ctx);
    const d = ctx.getDispatcher();
    if (!d) return;
    shared ??= d;
    if (d === shared) return;
    ctx.setDispatcher(shared);
    void d.close().catch(() => undefined); // never used: no connection to close
  };
  return kc;
}

async function waitServiceAccount(core: CoreV1Api, namespace: string): Promise<void> {
  const t0 = t();
  for (;;) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      return;
    } catch {
      if (t() - t0 > 60_000) throw new Error(`no default ServiceAccount in ${namespace} after 60s`);
      await sleep(200);
    }
  }
}

/** Creates a namespace in every cluster and waits for its default ServiceAccount (pods need it). */
export async function createNamespace(clusters: Cluster[], namespace: string): Promise<void> {
  await Promise.all(clusters.map(async (c) => {
    await c.core.createNamespace({ body: { metadata: { name: namespace } } });
    await waitServiceAccount(c.core, namespace);
  }));
}

/** Force-deletes every pod (and ReplicaSet) in a namespace of every cluster until none is left. */
export async function emptyNamespace(clusters: Cluster[], namespace: string): Promise<void> {
  const t0 = t();
  // No ReplicaSets left to recreate pods, then force-delete the pods: with no kubelet a graceful delete never finishes.
  await Promise.all(clusters.map((c) => c.apps.deleteCollectionNamespacedReplicaSet({ namespace, propagationPolicy: 'Background' })));
  for (;;) {
    let left = 0;
    for (const c of clusters) {
      const rs = (await c.apps.listNamespacedReplicaSet({ namespace })).items.length;
      const pods = (await c.core.listNamespacedPod({ namespace })).items.length;
      if (pods > 0) await c.core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
      left += rs + pods;
    }
    if (left === 0) return;
    if (t() - t0 > 120_000) throw new Error(`cleanup of ${namespace}: ${left} ReplicaSets and pods left after 120s`);
    await sleep(500);
  }
}
