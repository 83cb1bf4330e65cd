/** Node and pod objects → the small views capacity maths needs. */
import { GPU_RESOURCE } from '../../api/index.ts';
import type { CachedNode, CachedPod } from '../kube/projection.ts';
import type { GpuHolder, NodeView } from './free-gpus.ts';

/** Parses a whole-number extended-resource quantity ("4"); anything else counts as 0. */
function count(q: string | undefined): number {
  const n = Number(q);
  return Number.isInteger(n) && n > 0 ? n : 0;
}

export function viewNode(node: CachedNode): NodeView {
  return {
    name: node.metadata?.name ?? '',
    gpus: count(node.status?.allocatable?.[GPU_RESOURCE]),
    ready: (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    unschedulable: node.spec?.unschedulable === true,
    taints: (node.spec?.taints ?? []).map((t) => ({ key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect })),
    labels: node.metadata?.labels ?? {},
  };
}

/** The GPUs a pod's containers ask for (a request, else a limit), bound or not. */
export function gpuRequest(pod: CachedPod): number {
  let gpus = 0;
  for (const c of pod.spec?.containers ?? []) gpus += count(c.resources?.requests?.[GPU_RESOURCE] ?? c.resources?.limits?.[GPU_RESOURCE]);
  return gpus;
}

/** The GPUs a pod holds on its node, or undefined if it holds none (unbound, finished, or CPU-only). */
export function gpuHolder(pod: CachedPod): GpuHolder | undefined {
  const node = pod.spec?.nodeName;
  const phase = pod.status?.phase;
  if (!node || phase === 'Succeeded' || phase === 'Failed') return undefined;
  const gpus = gpuRequest(pod);
  return gpus > 0 ? { node, gpus } : undefined;
}
