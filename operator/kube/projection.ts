/**
 * What the operator's caches keep of each object. Every pod and node of
 * every cluster is cached, so each keeps only the fields the operator reads:
 * a pod keeps the labels that tie it to a swarm, its finalizers, times,
 * node, GPU requests, phase, DisruptionTarget condition and first
 * container's start; a node keeps its labels, taints, cordon, GPUs and
 * Ready condition. managedFields, images, env, volumes, the other status
 * parts and the rest never enter the cache. The types say what is kept, so
 * code reading anything else does not compile.
 */
import type { V1Node, V1NodeCondition, V1ObjectMeta, V1Pod, V1PodCondition, V1Taint } from '@kubernetes/client-node';
import { GPU_RESOURCE, LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID } from '../../api/index.ts';

/** GPU quantities only (requests or limits). */
export type GpuQuantities = Record<string, string>;

export interface CachedPod {
  metadata?: Pick<V1ObjectMeta, 'name' | 'namespace' | 'uid' | 'resourceVersion' | 'labels' | 'finalizers' | 'creationTimestamp' | 'deletionTimestamp'>;
  spec?: {
    nodeName?: string;
    containers: { resources?: { requests?: GpuQuantities; limits?: GpuQuantities } }[];
  };
  status?: {
    phase?: string;
    startTime?: Date;
    conditions?: Pick<V1PodCondition, 'type' | 'status'>[];
    /** The first container's start time, and the termination message its trainer wrote (the problem it names). */
    containerStatuses?: { state?: { running?: { startedAt?: Date }; terminated?: { message?: string } }; lastState?: { terminated?: { message?: string } } }[];
  };
}

export interface CachedNode {
  metadata?: Pick<V1ObjectMeta, 'name' | 'resourceVersion' | 'labels'>;
  spec?: { unschedulable?: boolean; taints?: Pick<V1Taint, 'key' | 'value' | 'effect'>[] };
  status?: { allocatable?: GpuQuantities; conditions?: Pick<V1NodeCondition, 'type' | 'status'>[] };
}

/** The pod labels the operator reads: role, swarm name and swarm uid. */
const POD_LABELS = [LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID] as const;
/** The only pod condition the operator reads: the scheduler, eviction API or taint manager disrupted it. */
const DISRUPTION_TARGET = 'DisruptionTarget';

/** `key: value` when the value is set, else nothing (spread into an object literal). */
function opt<K extends string, V>(key: K, value: V | undefined | null): { [P in K]?: V } {
  return (value === undefined || value === null ? {} : { [key]: value }) as { [P in K]?: V };
}

/** The GPU entry of a quantity map, or undefined when it has none. */
function gpuOnly(q: Record<string, string> | undefined): GpuQuantities | undefined {
  const v = q?.[GPU_RESOURCE];
  return v === undefined ? undefined : { [GPU_RESOURCE]: v };
}

function podLabels(labels: Record<string, string> | undefined): Record<string, string> | undefined {
  if (!labels) return undefined;
  let kept: Record<string, string> | undefined;
  for (const k of POD_LABELS) if (labels[k] !== undefined) (kept ??= {})[k] = labels[k];
  return kept;
}

export function projectPod(p: V1Pod): CachedPod {
  const m = p.metadata;
  const s = p.status;
  const conditions = s?.conditions?.filter((c) => c.type === DISRUPTION_TARGET).map((c) => ({ type: c.type, status: c.status }));
  const first = s?.containerStatuses?.[0];
  const startedAt = first?.state?.running?.startedAt;
  const message = first?.state?.terminated?.message;
  const lastMessage = first?.lastState?.terminated?.message;
  const state = { ...(startedAt !== undefined ? { running: { startedAt } } : {}), ...(message !== undefined ? { terminated: { message } } : {}) };
  const containerStatus = {
    ...(Object.keys(state).length > 0 ? { state } : {}),
    ...(lastMessage !== undefined ? { lastState: { terminated: { message: lastMessage } } } : {}),
  };
  return {
    ...(m ? {
      metadata: {
        ...opt('name', m.name), ...opt('namespace', m.namespace), ...opt('uid', m.uid), ...opt('resourceVersion', m.resourceVersion),
        ...opt('labels', podLabels(m.labels)), ...opt('finalizers', m.finalizers),
        ...opt('creationTimestamp', m.creationTimestamp), ...opt('deletionTimestamp', m.deletionTimestamp),
      },
    } : {}),
    ...(p.spec ? {
      spec: {
        ...opt('nodeName', p.spec.nodeName),
        containers: p.spec.containers.map((c) => {
          const requests = gpuOnly(c.resources?.requests);
          const limits = gpuOnly(c.resources?.limits);
          return requests || limits ? { resources: { ...opt('requests', requests), ...opt('limits', limits) } } : {};
        }),
      },
    } : {}),
    ...(s ? {
      status: {
        ...opt('phase', s.phase), ...opt('startTime', s.startTime),
        ...(conditions?.length ? { conditions } : {}),
        ...(Object.keys(containerStatus).length > 0 ? { containerStatuses: [containerStatus] } : {}),
      },
    } : {}),
  };
}

export function projectNode(n: V1Node): CachedNode {
  const m = n.metadata;
  const allocatable = gpuOnly(n.status?.allocatable);
  const ready = n.status?.conditions?.filter((c) => c.type === 'Ready').map((c) => ({ type: c.type, status: c.status }));
  return {
    ...(m ? { metadata: { ...opt('name', m.name), ...opt('resourceVersion', m.resourceVersion), ...opt('labels', m.labels) } } : {}),
    ...(n.spec ? {
      spec: {
        ...opt('unschedulable', n.spec.unschedulable),
        ...opt('taints', n.spec.taints?.map((t) => ({ key: t.key, ...opt('value', t.value), effect: t.effect }))),
      },
    } : {}),
    ...(n.status ? { status: { ...opt('allocatable', allocatable), ...(ready?.length ? { conditions: ready } : {}) } } : {}),
  };
}

/** An object without metadata.managedFields (the swarm cache keeps everything else: the reconciler reads the whole swarm). */
export function withoutManagedFields<T extends { metadata?: object }>(o: T): T {
  const meta = o.metadata as { managedFields?: unknown } | undefined;
  if (!meta?.managedFields) return o;
  const { managedFields: _dropped, ...metadata } = meta;
  return { ...o, metadata } as T;
}
