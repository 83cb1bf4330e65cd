/**
 * The controller's writes to trainer pods it no longer needs: releasing the
 * accounting finalizer, and deleting a pod (only as it was seen,
 * delete-pod.ts), which is then expected to go (expectations.ts).
 */
import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { removeFinalizerPatch } from '../reconcile/finalizers.ts';
import { ACCOUNTING_FINALIZER } from '../reconcile/pods.ts';
import type { ClusterCache } from './cluster.ts';
import { deletePodAsSeen } from './delete-pod.ts';
import type { CachedPod } from './projection.ts';
import type { PodExpectations } from './expectations.ts';

export async function releaseAccountingFinalizer(c: ClusterCache, p: CachedPod): Promise<void> {
  const patch = removeFinalizerPatch(p.metadata?.finalizers, ACCOUNTING_FINALIZER);
  if (!patch) return;
  try {
    await c.request('patch', 'pods', () => c.core.patchNamespacedPod(
      { namespace: p.metadata!.namespace!, name: p.metadata!.name!, body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    ));
  } catch (err) {
    // 404: already gone. 422: the test op failed because the list changed; the next event retries.
    if (!(err instanceof ApiException && (err.code === 404 || err.code === 422))) throw err;
  }
}

export interface DeletePodDeps {
  expectations: PodExpectations;
  log: Logger;
}

/** The pod to delete; `resourceVersion`, when given, is the version seen, and the delete is refused if it changed. */
export interface PodToDelete {
  namespace: string;
  name: string;
  resourceVersion?: string;
}

/** Deletes a trainer pod of swarm `uid` in `placement`; true if the delete was accepted. */
export async function deleteTrainerPod(d: DeletePodDeps, c: ClusterCache, pod: PodToDelete, owner: { uid: string; placement: string }): Promise<boolean> {
  const outcome = await deletePodAsSeen(c.core, pod.namespace, pod.name, pod.resourceVersion, (call) => c.request('delete', 'pods', call));
  if (outcome === 'changed') d.log.info('pod changed since the reconcile saw it (bound or started); kept', { pod: `${pod.namespace}/${pod.name}`, cluster: c.name, seenResourceVersion: pod.resourceVersion });
  if (outcome !== 'deleted') return false;
  d.expectations.expectDeletion(owner.uid, owner.placement, pod.name);
  return true;
}
