/**
 * Free-GPU autoscaling against the real scheduler: the swarm fills free GPUs
 * plus a small number of waiting pods, and grows within seconds when nodes
 * with free GPUs appear.
 */
import type { V1Pod } from '@kubernetes/client-node';
import type { TrainingSwarm } from '../../api/index.ts';
import { running as runningCount, startSwarmEnv, type SwarmEnv, type TestCluster, waitFor, waiting as waitingCount } from '../../testkit/harness/index.ts';
import { deletePodAsSeen } from '../../operator/kube/delete-pod.ts';

let env: SwarmEnv;
let c: TestCluster;
const pods = (): Promise<V1Pod[]> => env.pods('elastic');

beforeAll(async () => {
  env = await startSwarmEnv({ name: 'autoscale', nodes: [{ name: 'gpu-0', gpus: 2 }], operator: { identity: 'op' } });
  c = env.c;
}, 180_000);

afterAll(() => env?.stop(), 120_000);

describe('autoscaling on free GPUs', () => {
  it('fills the free GPUs and keeps only maxPending pods waiting', async () => {
    const s = env.tinySwarm('elastic');
    s.spec.peers = { min: 1, max: 8, maxPending: 1 };
    await env.apply(s);
    await waitFor(async () => {
      const ps = await pods();
      return runningCount(ps) === 2 && waitingCount(ps) === 1 && ps.length === 3;
    }, { what: '2 running and 1 waiting', timeoutMs: 90_000 });
    const get = await c.kubectl(['get', 'swarm', 'elastic', '-o', 'jsonpath={.status.peers.desired}']);
    expect(get.stdout).toBe('3');
  }, 120_000);

  it("grows into a new node's GPUs, still with one pod waiting", async () => {
    await c.kubelet.addNode({ name: 'gpu-1', gpus: 3 });
    const ps = await waitFor(async () => {
      const p = await pods();
      return runningCount(p) === 5 && waitingCount(p) === 1 ? p : false;
    }, { what: '5 running and 1 waiting after a 3-GPU node joined', timeoutMs: 60_000 });
    expect(ps.filter((p) => p.spec?.nodeName === 'gpu-1' && p.status?.phase === 'Running')).toHaveLength(3);
    const events = await c.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=elastic,reason=ScaledUp', '-o', 'name']);
    expect(events.stdout.trim().split('\n').filter(Boolean).length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('sheds only waiting pods when the ceiling drops below what waits', async () => {
    expect((await c.kubectl(['scale', 'swarm', 'elastic', '--replicas=5'])).code).toBe(0);
    await waitFor(async () => {
      const p = await pods();
      return runningCount(p) === 5 && p.length === 5;
    }, { what: '5 running, none waiting at max 5', timeoutMs: 60_000 });
  }, 90_000);
});

describe('deleting a pod the operator decided about', () => {
  it('is refused once the scheduler has bound the pod, so a GPU just won is kept; the version seen now deletes it', async () => {
    // The operator sheds surplus waiting pods from its cache, which lags the API (the bench:operator fill run lost bound pods this way).
    const created = await c.core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'raced' }, spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } },
    });
    const seenWaiting = created.metadata!.resourceVersion!;
    const bound = await waitFor(async () => {
      const p = await c.core.readNamespacedPod({ namespace: 'default', name: 'raced' });
      return p.spec?.nodeName ? p : false;
    }, { what: 'pod raced bound by the scheduler', timeoutMs: 30_000 });
    expect(await deletePodAsSeen(c.core, 'default', 'raced', seenWaiting)).toBe('changed');
    const kept = await c.core.readNamespacedPod({ namespace: 'default', name: 'raced' });
    expect(kept.metadata?.deletionTimestamp).toBeUndefined();
    expect(kept.spec?.nodeName).toBe(bound.spec?.nodeName);
    // The test kubelet keeps updating the pod's status (starting, running), so the version seen now may
    // be stale by the time the delete lands too: read and delete until a delete meets the version it names.
    await waitFor(async () => {
      const now = await c.core.readNamespacedPod({ namespace: 'default', name: 'raced' });
      return (await deletePodAsSeen(c.core, 'default', 'raced', now.metadata!.resourceVersion)) === 'deleted';
    }, { what: 'a delete naming the current version of pod raced', timeoutMs: 30_000 });
    await waitFor(async () => {
      const ps = await c.core.listNamespacedPod({ namespace: 'default', fieldSelector: 'metadata.name=raced' });
      return ps.items.every((p) => p.metadata?.deletionTimestamp !== undefined);
    }, { what: 'pod raced going away', timeoutMs: 30_000 });
    expect(await deletePodAsSeen(c.core, 'default', 'no-such-pod', undefined)).toBe('gone');
  }, 90_000);
});

describe('preemption while training', () => {
  it('a high-priority job preempts peers; training continues with fewer, status shows it, the swarm grows back; epochs never go backwards', async () => {
    const epochs: number[] = [];
    const st = async (): Promise<NonNullable<TrainingSwarm['status']>> => {
      const s = await env.status('elastic');
      if (s.epoch !== undefined) epochs.push(s.epoch);
      return s;
    };
    // 5 GPUs, 5 peers running (from the tests above).
    await waitFor(async () => (await st()).peers?.active === 5 && (await st()).epoch! >= 1, { what: '5 active peers training', timeoutMs: 120_000 });
    const before = await st();
    await c.scheduling.createPriorityClass({ body: { metadata: { name: 'urgent' }, value: 100_000 } });
    await c.core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'urgent-job' },
        spec: {
          priorityClassName: 'urgent', restartPolicy: 'Never',
          containers: [{ name: 'job', image: 'registry.k8s.io/pause:3.10', resources: { requests: { 'nvidia.com/gpu': '3' }, limits: { 'nvidia.com/gpu': '3' } } }],
        },
      },
    });
    const shrunk = await waitFor(async () => {
      const s = await st();
      return (s.preemptions ?? 0) >= (before.preemptions ?? 0) + 3 && s.peers?.running === 2 ? s : false;
    }, { what: '3 peers preempted, 2 running', timeoutMs: 120_000 });
    expect(shrunk.failures).toBe(before.failures);
    const epochAtShrink = shrunk.epoch ?? 0;
    await waitFor(async () => (await st()).epoch! > epochAtShrink && (await st()).peers?.active === 2, { what: 'training on with 2 peers', timeoutMs: 120_000 });
    await c.core.deleteNamespacedPod({ namespace: 'default', name: 'urgent-job' });
    await waitFor(async () => (await st()).peers?.running === 5, { what: 'the swarm grown back to 5', timeoutMs: 120_000 });
    for (let i = 1; i < epochs.length; i++) expect(epochs[i]!).toBeGreaterThanOrEqual(epochs[i - 1]!);
  }, 400_000);
});
