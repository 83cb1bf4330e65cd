/**
 * The controller's writes to TrainingSwarm objects: its status (optimistic,
 * by resourceVersion) and the finalizer that holds a swarm with pods in
 * remote clusters until they are gone. All go through the operator's own
 * cluster, counted in its request metrics.
 */
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';
import { GROUP, PLURAL, REMOTE_PODS_FINALIZER, VERSION, type TrainingSwarm, type TrainingSwarmStatus } from '../../api/index.ts';
import { addFinalizerPatch, removeFinalizerPatch, type JsonPatchOp } from '../reconcile/finalizers.ts';
import type { ClusterCache } from './cluster.ts';

/** Custom objects arrive as plain JSON; the informer wants a KubernetesObject. */
export type SwarmObject = TrainingSwarm & KubernetesObject;

export interface SwarmApi {
  /** The operator's own cluster: its request() counts the call. */
  local: ClusterCache;
  custom: CustomObjectsApi;
}

/** Replaces the status; refused (409) when the swarm changed since `swarm` was read. */
export async function replaceSwarmStatus(api: SwarmApi, swarm: SwarmObject, status: TrainingSwarmStatus): Promise<void> {
  await api.local.request('update', `${PLURAL}/status`, () => api.custom.replaceNamespacedCustomObjectStatus({
    group: GROUP, version: VERSION, plural: PLURAL, namespace: swarm.metadata.namespace!, name: swarm.metadata.name!,
    body: { ...swarm, status },
  }));
}

/**
 * Adds the remote-pods finalizer unless the swarm has it. Returns the swarm
 * to carry on with: after a patch, its resourceVersion is what a status write
 * must name.
 */
export async function addRemotePodsFinalizer(api: SwarmApi, swarm: SwarmObject): Promise<SwarmObject> {
  const patch = addFinalizerPatch(swarm.metadata.finalizers, REMOTE_PODS_FINALIZER);
  return patch ? patchSwarm(api, swarm, patch) : swarm;
}

/** Removes the remote-pods finalizer, letting a deleted swarm go. */
export async function removeRemotePodsFinalizer(api: SwarmApi, swarm: SwarmObject): Promise<void> {
  const patch = removeFinalizerPatch(swarm.metadata.finalizers, REMOTE_PODS_FINALIZER);
  if (patch) await patchSwarm(api, swarm, patch);
}

async function patchSwarm(api: SwarmApi, swarm: SwarmObject, ops: JsonPatchOp[]): Promise<SwarmObject> {
  return api.local.request('patch', PLURAL, () => api.custom.patchNamespacedCustomObject(
    { group: GROUP, version: VERSION, plural: PLURAL, namespace: swarm.metadata.namespace!, name: swarm.metadata.name!, body: ops },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  )) as Promise<SwarmObject>;
}
