/**
 * Deleting a pod the reconciler decided about, and only that version of it.
 *
 * The operator decides from its cache, which lags the API: a pod it counted
 * as a surplus waiting pod may have been bound, or have started, since. A
 * delete with a resourceVersion precondition is refused (409) when the pod
 * changed, so the GPU it just won is kept; its update requeues the swarm and
 * the next reconcile decides on what the pod is now.
 */
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';

/** deleted: the delete was accepted; gone: there was no such pod; changed: it is no longer the version seen. */
export type DeleteOutcome = 'deleted' | 'gone' | 'changed';

/** Runs an API call (the operator's wrapper counts it in metrics by status code). */
export type ApiCall = <T>(call: () => Promise<T>) => Promise<T>;

export async function deletePodAsSeen(core: CoreV1Api, namespace: string, name: string, resourceVersion: string | undefined, api: ApiCall = (call) => call()): Promise<DeleteOutcome> {
  try {
    await api(() => core.deleteNamespacedPod({ namespace, name, ...(resourceVersion ? { body: { preconditions: { resourceVersion } } } : {}) }));
    return 'deleted';
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return 'gone';
    if (err instanceof ApiException && err.code === 409 && resourceVersion) return 'changed';
    throw err;
  }
}
