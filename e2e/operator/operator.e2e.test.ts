/**
 * The operator's first slice, end to end, against a real control plane:
 * real kube-apiserver (the bad-spec table is in validation.e2e.test.ts), real scheduler (binding and
 * preemption), real controller-manager (garbage collection), the test kubelet
 * running trainer pods as processes, and a real nats-server.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { GPU_RESOURCE, type TrainingSwarm } from '../../api/index.ts';
import { withSharedConnections } from '../../operator/kube/connections.ts';
import { startSwarmEnv, type OperatorProcess, type SwarmEnv, type TestCluster, waitFor } from '../../testkit/harness/index.ts';

const NS = 'default';
const SWARM = 'tiny';
let env: SwarmEnv;
let c: TestCluster;
const operators: OperatorProcess[] = [];

const tinySwarm = (): TrainingSwarm => env.tinySwarm(SWARM);
const swarmStatus = (): Promise<TrainingSwarm['status']> => env.status(SWARM);
const swarmPods = async (): Promise<V1Pod[]> => (await c.core.listNamespacedPod({ namespace: NS, labelSelector: `spotswarm.dev/swarm=${SWARM}` })).items;

const live = (pods: V1Pod[]): V1Pod[] => pods.filter((p) => !p.metadata?.deletionTimestamp && p.status?.phase !== 'Failed' && p.status?.phase !== 'Succeeded');
const running = (pods: V1Pod[]): V1Pod[] => live(pods).filter((p) => p.status?.phase === 'Running');

async function waitRunning(n: number, what: string): Promise<V1Pod[]> {
  return waitFor(async () => {
    const pods = await swarmPods();
    const st = await swarmStatus();
    return running(pods).length === n && live(pods).length === n && st?.peers?.running === n ? pods : false;
  }, { what, timeoutMs: 90_000 });
}

beforeAll(async () => {
  env = await startSwarmEnv({ name: 'operator', nodes: [{ name: 'gpu-0', gpus: 1 }, { name: 'gpu-1', gpus: 1 }, { name: 'gpu-2', gpus: 1 }] });
  c = env.c;
  operators.push(env.startOperator('op-a'));
}, 180_000);

afterAll(() => env?.stop(), 120_000);

describe('operator on a real control plane', () => {
  it('places low-priority GPU pods that the real scheduler binds and the kubelet runs; kubectl shows Running', async () => {
    await env.apply(tinySwarm());
    const pods = await waitRunning(3, '3 running trainer pods');
    for (const p of pods) {
      expect(p.spec!.priorityClassName).toBe('spotswarm-preemptible');
      expect(p.spec!.priority).toBe(-100);
      expect(p.spec!.containers[0]!.resources!.requests![GPU_RESOURCE]).toBe('1');
      expect(p.spec!.nodeName).toMatch(/^gpu-[012]$/);
      expect(p.status!.podIP).toBe('127.0.0.1');
    }
    // One GPU per node: the scheduler spread them over all three nodes.
    expect(new Set(pods.map((p) => p.spec!.nodeName)).size).toBe(3);
    const get = await c.kubectl(['get', 'trainingswarms']);
    expect(get.stdout).toMatch(/^tiny\s+Running\s+3\/3\s/m);
    // Ready means training, not merely running: it comes once the epoch advanced.
    const ready = await waitFor(async () => {
      const r = (await swarmStatus())?.conditions?.find((x) => x.type === 'Ready');
      return r?.status === 'True' ? r : false;
    }, { what: 'Ready: the swarm trains', timeoutMs: 180_000 });
    expect(ready).toMatchObject({ reason: 'Training', observedGeneration: 1 });
    expect((await swarmStatus())!.epoch).toBeGreaterThanOrEqual(1);
    // The trainer got its identity and NATS from the operator's env.
    const log = await waitFor(() => c.podLog(pods[0]!.metadata!.name!).includes('NATS') && c.podLog(pods[0]!.metadata!.name!), { what: 'trainer log mentions NATS' });
    expect(log).toContain(SWARM);
  }, 360_000);

  it('replaces a deleted pod without counting a failure or a preemption', async () => {
    const before = running(await swarmPods()).map((p) => p.metadata!.name!);
    await c.kubectl(['delete', 'pod', before[0]!, '--wait=false']);
    const after = await waitFor(async () => {
      const names = running(await swarmPods()).map((p) => p.metadata!.name!);
      return names.length === 3 && !names.includes(before[0]!) ? names : false;
    }, { what: 'a replacement pod running', timeoutMs: 90_000 });
    expect(after.filter((n) => !before.includes(n))).toHaveLength(1);
    const st = await swarmStatus();
    expect(st!.failures).toBe(0);
    expect(st!.preemptions).toBe(0);
  }, 120_000);

  it('is preempted by a high-priority pod: counted as a preemption with an Event; the replacement waits Pending, then runs', async () => {
    await c.scheduling.createPriorityClass({ body: { metadata: { name: 'urgent' }, value: 100_000, preemptionPolicy: 'PreemptLowerPriority' } });
    await c.core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: 'urgent-job' },
        spec: {
          priorityClassName: 'urgent',
          restartPolicy: 'Never',
          containers: [{ name: 'job', image: 'registry.k8s.io/pause:3.10', resources: { requests: { [GPU_RESOURCE]: '1' }, limits: { [GPU_RESOURCE]: '1' } } }],
        },
      },
    });
    await waitFor(async () => (await swarmStatus())?.preemptions === 1, { what: 'status.preemptions = 1', timeoutMs: 90_000 });
    const urgent = await waitFor(async () => {
      const p = await c.core.readNamespacedPod({ namespace: NS, name: 'urgent-job' });
      return p.status?.phase === 'Running' ? p : false;
    }, { what: 'the urgent pod running', timeoutMs: 90_000 });
    expect(urgent.spec!.nodeName).toMatch(/^gpu-/);
    // The replacement exists but cannot be placed while the GPU is taken.
    const pending = await waitFor(async () => {
      const pods = live(await swarmPods());
      const p = pods.find((x) => x.status?.phase === 'Pending' && !x.spec?.nodeName);
      return pods.length === 3 && p ? p : false;
    }, { what: 'an unschedulable replacement', timeoutMs: 60_000 });
    expect(pending.status!.conditions!.find((x) => x.type === 'PodScheduled')!.reason).toBe('Unschedulable');
    const st = await swarmStatus();
    expect(st!.failures).toBe(0);
    expect(st!.peers).toMatchObject({ desired: 3, running: 2 });
    const events = await c.kubectl(['get', 'events', '--field-selector', `involvedObject.name=${SWARM},reason=PodPreempted`, '-o', 'name']);
    expect(events.stdout.trim().split('\n').filter(Boolean)).toHaveLength(1);
    // The job ends; the GPU frees up and the replacement runs there.
    await c.core.deleteNamespacedPod({ namespace: NS, name: 'urgent-job' });
    await waitRunning(3, 'the replacement running after the job ends');
    expect((await swarmStatus())!.preemptions).toBe(1);
  }, 240_000);

  it('restarts without duplicate pods and keeps its status; with two replicas only the leader acts', async () => {
    const before = live(await swarmPods()).map((p) => p.metadata!.name!).sort();
    await operators[0]!.stop();
    operators.push(env.startOperator('op-b'));
    operators.push(env.startOperator('op-c'));
    const holder = await waitFor(async () => {
      const lease = await c.coordination.readNamespacedLease({ namespace: 'spotswarm-system', name: 'spotswarm-operator' });
      const h = lease.spec?.holderIdentity;
      return h === 'op-b' || h === 'op-c' ? h : false;
    }, { what: 'a new leader', timeoutMs: 60_000 });
    const [leader, standby] = holder === 'op-b' ? [operators[1]!, operators[2]!] : [operators[2]!, operators[1]!];
    await waitFor(() => leader.log().includes('reconciling TrainingSwarms'), { what: 'the leader reconciling' });
    // Let the leader reconcile a few times (pod and status events), then compare.
    await c.kubectl(['annotate', 'trainingswarm', SWARM, 'spotswarm.dev/poke=1', '--overwrite']);
    await waitFor(() => leader.log().includes('caches synced'), { what: 'leader caches' });
    const after = live(await swarmPods()).map((p) => p.metadata!.name!).sort();
    expect(after).toEqual(before);
    expect((await swarmStatus())!.preemptions).toBe(1);
    await waitFor(() => standby.log().includes('waiting for the leader lease'), { what: 'the standby waiting for the lease' });
    expect(standby.log()).not.toContain('became leader');
    // The leader crashes: the standby takes over once the lease expires, still without duplicates.
    await leader.kill();
    await waitFor(() => standby.log().includes('became leader'), { what: 'the standby taking over', timeoutMs: 60_000 });
    const victim = running(await swarmPods())[0]!.metadata!.name!;
    await c.kubectl(['delete', 'pod', victim, '--wait=false']);
    const final = await waitRunning(3, 'the new leader replacing a pod');
    expect(live(final).map((p) => p.metadata!.name)).not.toContain(victim);
  }, 240_000);

  it('scales with kubectl scale, which sets spec.peers.max', async () => {
    const r = await c.kubectl(['scale', 'trainingswarm', SWARM, '--replicas=1']);
    expect(r.code).toBe(0);
    await waitRunning(1, 'one pod after scaling to 1');
    const max = await c.kubectl(['get', 'trainingswarm', SWARM, '-o', 'jsonpath={.spec.peers.max}']);
    expect(max.stdout).toBe('1');
  }, 120_000);

  it('removes every pod when the swarm is deleted', async () => {
    await c.kubectl(['delete', 'trainingswarm', SWARM, '--wait=false']);
    await waitFor(async () => (await swarmPods()).length === 0, { what: 'all swarm pods gone', timeoutMs: 90_000 });
  }, 120_000);
});

describe("the operator's API connections (kube/connections.ts)", () => {
  /** Connections undici opens while `work` runs (its diagnostics channel fires once per new connection). */
  async function connectionsOpened(work: () => Promise<unknown>): Promise<number> {
    let n = 0;
    const onConnected = (): void => void n++;
    subscribe('undici:client:connected', onConnected);
    try {
      await work();
    } finally {
      unsubscribe('undici:client:connected', onConnected);
    }
    return n;
  }
  const calls = 20;
  const sequential = (core: CoreV1Api) => async (): Promise<void> => {
    for (let i = 0; i < calls; i++) await core.listNamespace({ limit: 1 });
  };

  it('sequential calls reuse one connection, where client-node alone opens one per call', async () => {
    // client-node 2.0.1 as it ships: a new Agent, so a new TCP + TLS connection, per request.
    expect(await connectionsOpened(sequential(c.kc.makeApiClient(CoreV1Api)))).toBe(calls);
    const shared = withSharedConnections(c.kc).makeApiClient(CoreV1Api);
    expect(await connectionsOpened(sequential(shared))).toBe(1);
    // Concurrent calls: the kept connection serves one, and the pool opens at most one more per other call in flight.
    const concurrent = await connectionsOpened(() => Promise.all(Array.from({ length: 4 }, () => shared.listNamespace({ limit: 1 }))));
    expect(concurrent).toBeLessThanOrEqual(3);
    // A second copy (another cluster cache) has its own pool: the first call connects.
    expect(await connectionsOpened(() => withSharedConnections(c.kc).makeApiClient(CoreV1Api).listNamespace({ limit: 1 }))).toBe(1);
  }, 60_000);
});
