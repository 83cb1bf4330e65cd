import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { GPU_RESOURCE, LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID } from '../../api/index.ts';
import { capacity } from '../capacity/free-gpus.ts';
import { gpuHolder, viewNode } from '../capacity/views.ts';
import { trainerPod } from '../reconcile/pod-template.ts';
import { ACCOUNTING_FINALIZER, viewPod } from '../reconcile/pods.ts';
import { tinySwarm } from '../reconcile/testing.ts';
import { listProjected } from './informer.ts';
import { projectNode, projectPod, withoutManagedFields } from './projection.ts';

const managedFields = [{ manager: 'kube-scheduler', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:conditions': {} } } }];

/** A trainer pod as the apiserver returns it: the operator's template, then what the apiserver, scheduler and kubelet add. */
function apiPod(name: string, patch: (p: V1Pod) => void = () => {}): V1Pod {
  const swarm = tinySwarm((s) => {
    s.spec.trainer.resources.gpus = 2;
    s.spec.trainer.env = [{ name: 'EXTRA', value: 'x'.repeat(200) }];
  });
  const p = trainerPod(swarm, { placement: { name: 'local', weight: 1, network: { mode: 'PodNetwork' } }, remote: false });
  p.metadata = {
    ...p.metadata, name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '42', creationTimestamp: new Date('2026-01-01T00:00:00Z'),
    labels: { ...p.metadata!.labels, 'pod-template-hash': 'abc' }, annotations: { note: 'y'.repeat(100) }, managedFields,
  };
  p.status = {
    phase: 'Pending', qosClass: 'Burstable', hostIP: '10.0.0.1', podIP: '10.1.0.1',
    conditions: [{ type: 'PodScheduled', status: 'True', reason: 'Scheduled', message: 'bound' }],
  };
  patch(p);
  return p;
}

const running = (p: V1Pod): void => {
  p.spec!.nodeName = 'gpu-1';
  p.status = {
    ...p.status, phase: 'Running', startTime: new Date('2026-01-01T00:00:05Z'),
    containerStatuses: [{ name: 'trainer', image: 'trainer:1', imageID: 'sha256:abc', ready: true, restartCount: 0, state: { running: { startedAt: new Date('2026-01-01T00:00:09Z') } } }],
  };
};

/** Pods in every state the operator tells apart: waiting, bound, running, preempted, deleted, failed, completed, limits only, CPU only. */
const pods: Record<string, V1Pod> = {
  waiting: apiPod('waiting'),
  bound: apiPod('bound', (p) => { p.spec!.nodeName = 'gpu-1'; }),
  running: apiPod('running', running),
  preempted: apiPod('preempted', (p) => {
    running(p);
    p.status!.phase = 'Failed';
    p.status!.conditions = [...p.status!.conditions!, { type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler' }];
  }),
  deleted: apiPod('deleted', (p) => {
    running(p);
    p.metadata!.deletionTimestamp = new Date('2026-01-01T00:01:00Z');
    p.metadata!.finalizers = ['other.example/keep', ACCOUNTING_FINALIZER];
  }),
  failed: apiPod('failed', (p) => { p.spec!.nodeName = 'gpu-1'; p.status!.phase = 'Failed'; }),
  completed: apiPod('completed', (p) => { p.spec!.nodeName = 'gpu-1'; p.status!.phase = 'Succeeded'; }),
  limitsOnly: apiPod('limits-only', (p) => {
    p.spec!.nodeName = 'gpu-2';
    p.spec!.containers = [{ name: 'a', resources: { limits: { [GPU_RESOURCE]: '3', cpu: '1' } } }, { name: 'sidecar', image: 'busybox', resources: { requests: { cpu: '100m' } } }];
  }),
  cpuOnly: { metadata: { name: 'web', namespace: 'kube-system', resourceVersion: '7', labels: { app: 'web' } }, spec: { nodeName: 'gpu-1', containers: [{ name: 'web', image: 'nginx' }] }, status: { phase: 'Running' } },
};

function apiNode(name: string, patch: (n: V1Node) => void = () => {}): V1Node {
  const n: V1Node = {
    metadata: { name, resourceVersion: '9', uid: `uid-${name}`, labels: { pool: 'a', 'kubernetes.io/hostname': name }, annotations: { 'node.alpha.kubernetes.io/ttl': '0' }, managedFields },
    spec: { podCIDR: '10.1.0.0/24', taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule', timeAdded: new Date() }] },
    status: {
      allocatable: { [GPU_RESOURCE]: '8', cpu: '64', memory: '512Gi', pods: '110' },
      capacity: { [GPU_RESOURCE]: '8', cpu: '64', memory: '512Gi', pods: '110' },
      conditions: [
        { type: 'MemoryPressure', status: 'False', reason: 'KubeletHasSufficientMemory', message: 'ok' },
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastHeartbeatTime: new Date() },
      ],
      addresses: [{ type: 'InternalIP', address: '10.0.0.1' }],
      images: [{ names: ['registry.example/trainer@sha256:abc', 'registry.example/trainer:1'], sizeBytes: 4_000_000_000 }],
      nodeInfo: { architecture: 'amd64', bootID: 'b', containerRuntimeVersion: 'c', kernelVersion: 'k', kubeProxyVersion: '', kubeletVersion: 'v1.35.4', machineID: 'm', operatingSystem: 'linux', osImage: 'o', systemUUID: 's' },
    },
  };
  patch(n);
  return n;
}

const nodes: Record<string, V1Node> = {
  ready: apiNode('ready'),
  cordoned: apiNode('cordoned', (n) => { n.spec!.unschedulable = true; }),
  notReady: apiNode('not-ready', (n) => { n.status!.conditions = [{ type: 'Ready', status: 'False' }]; }),
  noGpus: apiNode('no-gpus', (n) => { delete n.status!.allocatable![GPU_RESOURCE]; }),
  untainted: apiNode('untainted', (n) => { delete n.spec!.taints; n.metadata!.labels = { pool: 'b' }; }),
};

describe('pod projection', () => {
  it('keeps what the operator reads and nothing else', () => {
    expect(projectPod(pods['deleted']!)).toEqual({
      metadata: {
        name: 'deleted', namespace: 'default', uid: 'uid-deleted', resourceVersion: '42',
        labels: { [LABEL_ROLE]: pods['deleted']!.metadata!.labels![LABEL_ROLE], [LABEL_SWARM]: 'tiny', [LABEL_SWARM_UID]: 'uid-1' },
        finalizers: ['other.example/keep', ACCOUNTING_FINALIZER],
        creationTimestamp: new Date('2026-01-01T00:00:00Z'), deletionTimestamp: new Date('2026-01-01T00:01:00Z'),
      },
      spec: { nodeName: 'gpu-1', containers: [{ resources: { requests: { [GPU_RESOURCE]: '2' }, limits: { [GPU_RESOURCE]: '2' } } }] },
      status: { phase: 'Running', startTime: new Date('2026-01-01T00:00:05Z'), containerStatuses: [{ state: { running: { startedAt: new Date('2026-01-01T00:00:09Z') } } }] },
    });
  });

  it('drops managedFields, images, env, volumes, annotations, other labels and the status parts the operator never reads', () => {
    const json = JSON.stringify(projectPod(pods['preempted']!));
    for (const dropped of ['managedFields', 'image', 'env', 'EXTRA', 'volumes', 'annotations', 'pod-template-hash', 'ownerReferences', 'qosClass', 'podIP', 'PodScheduled', 'restartCount', 'cpu', 'memory']) {
      expect(json).not.toContain(dropped);
    }
    expect(projectPod(pods['preempted']!).status!.conditions).toEqual([{ type: 'DisruptionTarget', status: 'True' }]);
    // The cached pod is a small fraction of the object the API returns.
    expect(json.length * 5).toBeLessThan(JSON.stringify(pods['preempted']).length);
  });

  it('leaves the reconciler and capacity inputs unchanged, for pods in every state', () => {
    for (const [state, p] of Object.entries(pods)) {
      const cached = projectPod(p);
      expect({ state, view: viewPod(cached), holder: gpuHolder(cached) }).toEqual({ state, view: viewPod(p), holder: gpuHolder(p) });
    }
  });

  it('keeps the termination messages a trainer wrote, so the problem it named (NatsUnreachable) reaches the view', () => {
    const failed: V1Pod = {
      metadata: { name: 'p', uid: 'u' },
      spec: { nodeName: 'n', containers: [{ name: 'trainer', image: 'trainer:1' }] },
      status: {
        phase: 'Running',
        containerStatuses: [{
          name: 'trainer', image: 'trainer:1', imageID: 'x', ready: false, restartCount: 1,
          state: { terminated: { exitCode: 1, reason: 'Error', message: 'NatsUnreachable: nats://x:4222 did not answer within 20 s' } },
          lastState: { terminated: { exitCode: 1, message: 'NatsUnreachable: nats://x:4222 did not answer within 20 s' } },
        }],
      },
    };
    const cached = projectPod(failed);
    expect(cached.status!.containerStatuses).toEqual([{
      state: { terminated: { message: 'NatsUnreachable: nats://x:4222 did not answer within 20 s' } },
      lastState: { terminated: { message: 'NatsUnreachable: nats://x:4222 did not answer within 20 s' } },
    }]);
    expect(viewPod(cached).problem).toEqual(viewPod(failed).problem);
    expect(viewPod(cached).problem?.reason).toBe('NatsUnreachable');
  });

  it('keeps a pod with no spec or status as it is', () => {
    expect(projectPod({ metadata: { name: 'bare', namespace: 'x', resourceVersion: '1' } })).toEqual({ metadata: { name: 'bare', namespace: 'x', resourceVersion: '1' } });
  });
});

describe('node projection', () => {
  it('keeps labels, taints, cordon, GPUs and the Ready condition', () => {
    expect(projectNode(nodes['cordoned']!)).toEqual({
      metadata: { name: 'cordoned', resourceVersion: '9', labels: { pool: 'a', 'kubernetes.io/hostname': 'cordoned' } },
      spec: { unschedulable: true, taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] },
      status: { allocatable: { [GPU_RESOURCE]: '8' }, conditions: [{ type: 'Ready', status: 'True' }] },
    });
  });

  it('drops images, addresses, node info, capacity, annotations and managedFields', () => {
    const json = JSON.stringify(projectNode(nodes['ready']!));
    for (const dropped of ['images', 'sizeBytes', 'addresses', 'nodeInfo', 'capacity', 'annotations', 'managedFields', 'MemoryPressure', 'podCIDR', 'lastHeartbeatTime', 'memory']) {
      expect(json).not.toContain(dropped);
    }
  });

  it('leaves node views and free capacity unchanged', () => {
    const raw = Object.values(nodes);
    const cached = raw.map(projectNode);
    expect(cached.map(viewNode)).toEqual(raw.map(viewNode));
    const holders = Object.values(pods).map(gpuHolder).filter((h) => h !== undefined);
    const tolerant = { gpus: 1, tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' as const }] };
    for (const req of [{ gpus: 1 }, { gpus: 2, nodeSelector: { pool: 'a' } }, tolerant]) {
      expect(capacity(cached.map(viewNode), holders, req)).toEqual(capacity(raw.map(viewNode), holders, req));
    }
  });
});

describe('swarm projection', () => {
  it('drops only managedFields', () => {
    const s = tinySwarm();
    const withFields = { ...s, metadata: { ...s.metadata, managedFields } };
    expect(withoutManagedFields(withFields)).toEqual(s);
    expect(withoutManagedFields(s)).toBe(s);
  });
});

describe('listProjected', () => {
  it('reads every page, projects each object as its page arrives, and keeps the list resourceVersion', async () => {
    const all = Object.values(pods);
    const asked: (string | undefined)[] = [];
    const projected: string[] = [];
    const list = await listProjected(async (cont, limit) => {
      asked.push(cont);
      const from = cont ? Number(cont) : 0;
      const next = from + limit < all.length ? String(from + limit) : undefined;
      return { metadata: { resourceVersion: '100', ...(next ? { _continue: next } : {}) }, items: all.slice(from, from + limit) };
    }, (p: V1Pod) => (projected.push(p.metadata!.name!), projectPod(p)), 4);
    expect(asked).toEqual([undefined, '4', '8']);
    expect(projected).toEqual(all.map((p) => p.metadata!.name));
    expect(list.items).toEqual(all.map(projectPod));
    expect(list.metadata!.resourceVersion).toBe('100');
  });

  it('follows the plain-JSON continue token of custom objects', async () => {
    const pages = [{ metadata: { resourceVersion: '5', continue: 'next' }, items: [{ metadata: { name: 'a' } }] }, { metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'b' } }] }];
    const list = await listProjected(async (cont) => pages[cont === 'next' ? 1 : 0]!, (o) => o, 1);
    expect(list.items.map((o) => o.metadata!.name)).toEqual(['a', 'b']);
  });
});
