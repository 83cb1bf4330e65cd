/**
 * Free GPUs, counted per node because a pod cannot span nodes: allocatable
 * minus the requests of bound, non-terminated pods. Nodes that are cordoned,
 * NotReady, or tainted in a way the swarm's pods do not tolerate offer
 * nothing. Pure functions of node and pod views.
 */
import type { Toleration } from '../../api/index.ts';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface NodeView {
  name: string;
  /** Allocatable nvidia.com/gpu. */
  gpus: number;
  ready: boolean;
  unschedulable: boolean;
  taints: Taint[];
  labels: Record<string, string>;
}

/** A pod that holds GPUs on a node (bound and not terminated). */
export interface GpuHolder {
  node: string;
  gpus: number;
}

export interface PeerRequirements {
  /** GPUs per peer; 0 means CPU-only, which this module does not limit. */
  gpus: number;
  nodeSelector?: Record<string, string>;
  tolerations?: Toleration[];
}

function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.operator === 'Exists') return !t.key || t.key === taint.key;
  return t.key === taint.key && (t.value ?? '') === (taint.value ?? '');
}

/** Whether a peer may be placed on the node at all (ignoring its free GPUs). */
export function eligible(node: NodeView, req: PeerRequirements): boolean {
  if (!node.ready || node.unschedulable) return false;
  for (const [k, v] of Object.entries(req.nodeSelector ?? {})) if (node.labels[k] !== v) return false;
  return node.taints
    .filter((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute')
    .every((taint) => (req.tolerations ?? []).some((t) => tolerates(t, taint)));
}

export function freeGpusPerNode(nodes: NodeView[], holders: GpuHolder[]): Map<string, number> {
  const used = new Map<string, number>();
  for (const h of holders) used.set(h.node, (used.get(h.node) ?? 0) + h.gpus);
  return new Map(nodes.map((n) => [n.name, Math.max(0, n.gpus - (used.get(n.name) ?? 0))]));
}

export interface Capacity {
  /** Peers that would fit right now on free GPUs of eligible nodes. */
  slots: number;
  /** Free GPUs on eligible nodes (may be in fragments smaller than one peer). */
  freeGpus: number;
}

/** How many more peers fit now. CPU-only peers are not limited here (Infinity). */
export function capacity(nodes: NodeView[], holders: GpuHolder[], req: PeerRequirements): Capacity {
  const free = freeGpusPerNode(nodes, holders);
  let slots = 0;
  let freeGpus = 0;
  for (const n of nodes) {
    if (!eligible(n, req)) continue;
    const f = free.get(n.name) ?? 0;
    freeGpus += f;
    if (req.gpus > 0) slots += Math.floor(f / req.gpus);
  }
  return { slots: req.gpus > 0 ? slots : Number.POSITIVE_INFINITY, freeGpus };
}
