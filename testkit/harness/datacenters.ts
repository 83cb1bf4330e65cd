/**
 * Two datacenters for the multi-cluster operator e2e tests: the home
 * cluster dc1 (a SwarmEnv: CRD, NATS, one operator that calls its cluster
 * dc1) and a remote cluster dc2 whose kubeconfig is in dc1's Secret
 * spotswarm-system/dc2-kubeconfig, each a real control plane with its own
 * scheduler and fake GPU nodes.
 */
import type { Placement } from '../../api/index.ts';
import type { TestCluster } from './cluster.ts';
import type { NodeSpec } from '../kubelet/index.ts';
import { startRemoteCluster, startSwarmEnv, type SwarmEnv } from './swarms.ts';

export interface TwoDatacenters {
  /** The home cluster's env; `env.c` is dc1. */
  env: SwarmEnv;
  dc1: TestCluster;
  dc2: TestCluster;
  /** Stops the operator, dc1 and its NATS, then dc2. */
  stop(): Promise<void>;
}

const DC2_SECRET = 'dc2-kubeconfig';

/** Starts dc1 and dc2 (log dirs .tmp/e2e/<name>-dc1 and -dc2), then the operator in dc1. */
export async function startTwoDatacenters(name: string, nodes: { dc1: NodeSpec[]; dc2: NodeSpec[] }): Promise<TwoDatacenters> {
  const env = await startSwarmEnv({ name: `${name}-dc1`, nodes: nodes.dc1 });
  let dc2: TestCluster;
  try {
    dc2 = await startRemoteCluster(env, { name: `${name}-dc2`, nodes: nodes.dc2, secretName: DC2_SECRET });
  } catch (err) {
    await env.stop();
    throw err;
  }
  env.startOperator('op', { env: { SPOTSWARM_CLUSTER_NAME: 'dc1' } });
  return {
    env,
    dc1: env.c,
    dc2,
    async stop() {
      await env.stop();
      await dc2.stop();
    },
  };
}

/** Placements of weight 1 in both datacenters: dc1 at home, dc2 through its kubeconfig Secret with `dc2Network`. */
export function twoDatacenterPlacements(dc2Network: Placement['network'] = { mode: 'PodNetwork' }): [Placement, Placement] {
  return [
    { name: 'dc1', weight: 1, network: { mode: 'PodNetwork' } },
    { name: 'dc2', weight: 1, kubeconfigSecretRef: { name: DC2_SECRET, key: 'kubeconfig' }, network: dc2Network },
  ];
}
