/**
 * What the controller does for a swarm that is gone, going, or was replaced
 * by a new one of the same name: its local pods lose the accounting
 * finalizer (the garbage collector takes them), and a deleted swarm's pods in
 * remote clusters, where no garbage collector knows the swarm, are deleted
 * before the swarm is let go.
 */
import { LABEL_SWARM_UID, REMOTE_PODS_FINALIZER, type TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import type { NatsCredentialIssuer } from '../natsauth/issuer.ts';
import { placementsOf } from '../reconcile/reconcile.ts';
import { ClusterCache } from './cluster.ts';
import { describeError } from './errors.ts';
import type { PodExpectations } from './expectations.ts';
import type { PlacementClusters } from './placement-clusters.ts';
import { deleteTrainerPod, releaseAccountingFinalizer } from './pod-writes.ts';
import { removePullSecretCopies } from './pull-secrets.ts';
import { removeRemotePodsFinalizer, type SwarmApi, type SwarmObject } from './swarm-writes.ts';

/** While a deleted swarm still has pods in remote clusters, look again this often. */
const CLEANUP_RECHECK_MS = 5_000;

/**
 * Local pods named for swarm namespace/name that do not belong to `swarm` as
 * it lives now (it is gone, being deleted, or another uid): no more accounting.
 */
export async function releaseOrphanedPods(local: ClusterCache, namespace: string, name: string, swarm: TrainingSwarm | undefined): Promise<void> {
  const liveUid = swarm && !swarm.metadata.deletionTimestamp ? swarm.metadata.uid : undefined;
  const probe = { metadata: { name, namespace } } as TrainingSwarm;
  for (const p of local.trainerPods(probe)) {
    if (p.metadata?.labels?.[LABEL_SWARM_UID] !== liveUid) await releaseAccountingFinalizer(local, p);
  }
}

export interface CleanupDeps extends SwarmApi {
  clusters: PlacementClusters;
  expectations: PodExpectations;
  /** Name of the operator's own cluster (placementsOf). */
  cluster: string;
  natsAuth?: NatsCredentialIssuer;
  log: Logger;
}

/** A deleted swarm: remove its pods in remote clusters, then the copies of its Secrets, then let the swarm go. */
export async function cleanUpDeletedSwarm(d: CleanupDeps, swarm: SwarmObject): Promise<{ requeueAfterMs?: number } | void> {
  if (!(swarm.metadata.finalizers ?? []).includes(REMOTE_PODS_FINALIZER)) return;
  const remote = placementsOf(swarm, d.cluster).filter((p) => p.kubeconfigSecretRef);
  const uid = swarm.metadata.uid!;
  let remaining = 0;
  for (const pl of remote) {
    const c = await d.clusters.clusterFor(pl);
    if (!(c instanceof ClusterCache)) {
      // The kubeconfig is gone or broken: nothing we can reach to clean up.
      d.log.warn('cannot clean up remote pods; letting the swarm go', { swarm: swarm.metadata.name, placement: pl.name, problem: c.problem });
      continue;
    }
    if (!c.reachable()) {
      remaining++;
      continue;
    }
    for (const p of c.podsOfSwarmUid(uid)) {
      remaining++;
      if (!p.metadata?.deletionTimestamp) await deleteTrainerPod(d, c, { namespace: p.metadata!.namespace!, name: p.metadata!.name! }, { uid, placement: pl.name });
      await releaseAccountingFinalizer(c, p);
    }
  }
  if (remaining > 0) return { requeueAfterMs: CLEANUP_RECHECK_MS };
  // Then the copies of its Secrets: issued NATS credentials and image pull Secrets
  // (best effort: a credentials Secret left behind holds a user of a deleted account).
  const issuer = d.natsAuth;
  for (const pl of remote) {
    const c = await d.clusters.clusterFor(pl);
    if (!(c instanceof ClusterCache)) continue;
    if (issuer) await c.request('delete', 'secrets', () => issuer.removeCopy(swarm, c.core)).catch((err: unknown) => d.log.warn('cannot remove the NATS credentials copy', { placement: pl.name, error: describeError(err) }));
    await removePullSecretCopies(c, swarm, d.log).catch((err: unknown) => d.log.warn('cannot remove the image pull Secret copies', { placement: pl.name, error: describeError(err) }));
  }
  await removeRemotePodsFinalizer(d, swarm);
  d.log.info('remote pods removed; swarm released', { swarm: `${swarm.metadata.namespace}/${swarm.metadata.name}` });
}
