/**
 * Fake GPU nodes: the Node object (capacity and allocatable include
 * nvidia.com/gpu and pods), a Ready condition, and the heartbeat a real
 * kubelet keeps: a Lease in kube-node-lease renewed every ~10 s, node status
 * refreshed every minute. Without the heartbeat the node-lifecycle controller
 * marks the node NotReady and taints it, as it would for a dead machine.
 */
import {
  type CoordinationV1Api,
  type CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Node,
  type V1Taint,
  V1MicroTime,
} from '@kubernetes/client-node';
import type { Logger } from '../cluster/index.ts';
import { HOST_IP } from './env.ts';
import { kubeTime, microTime } from './status.ts';

export interface NodeSpec {
  name: string;
  /** nvidia.com/gpu capacity. */
  gpus: number;
  /** CPU capacity, a quantity such as "8" or "7500m"; default "8". */
  cpu?: string | number;
  /** Memory capacity, e.g. "64Gi"; default "64Gi". */
  memory?: string;
  /** Pod capacity; default 110. */
  pods?: number;
  labels?: Record<string, string>;
  taints?: V1Taint[];
}

export const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_S = 40;
export const KUBELET_VERSION = 'v1.35.4-spotswarm';

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

export function nodeManifest(spec: NodeSpec): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: spec.name,
      labels: {
        'kubernetes.io/hostname': spec.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        ...(spec.gpus > 0 ? { 'nvidia.com/gpu.present': 'true' } : {}),
        'spotswarm.dev/fake-node': 'true',
        ...spec.labels,
      },
    },
    spec: { taints: spec.taints ?? [] },
  };
}

/** The status subresource patch: resources, conditions, addresses, node info. */
export function nodeStatusPatch(spec: NodeSpec, now: Date, since: Date, kubeletPort = 0): object {
  const resources = {
    cpu: String(spec.cpu ?? '8'),
    memory: spec.memory ?? '64Gi',
    pods: String(spec.pods ?? 110),
    'ephemeral-storage': '100Gi',
    'nvidia.com/gpu': String(spec.gpus),
  };
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: kubeTime(now),
    lastTransitionTime: kubeTime(since),
  });
  return {
    status: {
      capacity: resources,
      allocatable: resources,
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'spotswarm test kubelet is posting ready status'),
      ],
      addresses: [
        { type: 'InternalIP', address: HOST_IP },
        { type: 'Hostname', address: spec.name },
      ],
      // where the API server proxies `kubectl logs` (0: not served)
      daemonEndpoints: { kubeletEndpoint: { Port: kubeletPort } },
      nodeInfo: {
        machineID: spec.name,
        systemUUID: spec.name,
        bootID: since.toISOString(),
        kernelVersion: 'n/a',
        osImage: 'spotswarm test kubelet',
        containerRuntimeVersion: 'local-process://1',
        kubeletVersion: KUBELET_VERSION,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** One registered node and its heartbeat. */
export class FakeNode {
  readonly spec: NodeSpec;
  private readonly core: CoreV1Api;
  private readonly coord: CoordinationV1Api;
  private readonly log: Logger;
  private readonly kubeletPort: number;
  private readonly since = new Date();
  private timer: NodeJS.Timeout | undefined;
  private ticks = 0;
  private uid = '';

  constructor(spec: NodeSpec, core: CoreV1Api, coord: CoordinationV1Api, log: Logger, kubeletPort = 0) {
    this.spec = spec;
    this.kubeletPort = kubeletPort;
    this.core = core;
    this.coord = coord;
    this.log = log;
  }

  /** Creates (or adopts) the Node, reports Ready, clears not-ready, and starts the heartbeat. */
  async register(heartbeatMs = 10_000): Promise<void> {
    const name = this.spec.name;
    try {
      this.uid = (await this.core.createNode({ body: nodeManifest(this.spec) })).metadata?.uid ?? '';
    } catch (err) {
      if (statusCode(err) !== 409) throw err;
      // A node of that name exists (a restarted kubelet): take it over with our labels and taints.
      const m = nodeManifest(this.spec);
      const n = await this.core.patchNode({ name, body: { metadata: { labels: m.metadata?.labels }, spec: { taints: m.spec?.taints } } }, merge);
      this.uid = n.metadata?.uid ?? '';
    }
    await this.reportStatus();
    await this.clearNotReadyTaint();
    await this.renewLease();
    this.log.info(`node ${name} registered Ready (nvidia.com/gpu: ${this.spec.gpus})`);
    this.timer = setInterval(() => void this.beat(), heartbeatMs);
  }

  /** Stops the heartbeat (the node will go NotReady after the grace period). */
  stopHeartbeat(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  async delete(): Promise<void> {
    this.stopHeartbeat();
    try {
      await this.core.deleteNode({ name: this.spec.name });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
  }

  private async beat(): Promise<void> {
    this.ticks++;
    try {
      await this.renewLease();
      // Lease renewals are the heartbeat; status is refreshed less often, as the real kubelet does.
      if (this.ticks % 6 === 0) {
        await this.reportStatus();
        await this.clearNotReadyTaint();
      }
    } catch (err) {
      this.log.warn(`node ${this.spec.name} heartbeat failed: ${(err as Error).message}`);
    }
  }

  private async reportStatus(): Promise<void> {
    await this.core.patchNodeStatus({ name: this.spec.name, body: nodeStatusPatch(this.spec, new Date(), this.since, this.kubeletPort) }, strategic);
  }

  /**
   * TaintNodesByCondition taints new nodes not-ready:NoSchedule; the
   * node-lifecycle controller would lift it after seeing Ready, but only on its
   * next pass. Lift it now, guarded by resourceVersion so a concurrent taint
   * change is not lost.
   */
  private async clearNotReadyTaint(): Promise<void> {
    const node = await this.core.readNode({ name: this.spec.name });
    const taints = node.spec?.taints ?? [];
    const kept = taints.filter((t) => t.key !== NOT_READY_TAINT);
    if (kept.length === taints.length) return;
    try {
      await this.core.patchNode(
        { name: this.spec.name, body: { metadata: { resourceVersion: node.metadata?.resourceVersion }, spec: { taints: kept } } },
        merge,
      );
    } catch (err) {
      if (statusCode(err) !== 409) throw err; // changed meanwhile; the next status pass retries
    }
  }

  private async renewLease(): Promise<void> {
    const name = this.spec.name;
    const now = microTime(new Date());
    try {
      await this.coord.patchNamespacedLease({ name, namespace: LEASE_NAMESPACE, body: { spec: { holderIdentity: name, renewTime: now } } }, merge);
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      await this.coord.createNamespacedLease({
        namespace: LEASE_NAMESPACE,
        body: {
          metadata: {
            name,
            namespace: LEASE_NAMESPACE,
            // the garbage collector deletes the Lease with its Node
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: this.uid }],
          },
          spec: { holderIdentity: name, leaseDurationSeconds: LEASE_DURATION_S, renewTime: new V1MicroTime() },
        },
      });
    }
  }
}
