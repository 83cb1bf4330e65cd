/**
 * Two datacenters, each a real control plane with its own scheduler and fake
 * GPU nodes. One swarm places peers in both; they train together through one
 * NATS. When one datacenter's API becomes unreachable, status says which and
 * since when, its pods count as unknown (no duplicates elsewhere), and the
 * swarm keeps training in the other.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { REMOTE_PODS_FINALIZER, type TrainingSwarm } from '../../api/index.ts';
import { livePods, running, startTwoDatacenters, twoDatacenterPlacements, type SwarmEnv, type TestCluster, type TwoDatacenters, waitFor } from '../../testkit/harness/index.ts';

let dcs: TwoDatacenters;
let env: SwarmEnv;
let dc1: TestCluster;
let dc2: TestCluster;

function swarmSpec(name: string, placements: TrainingSwarm['spec']['placements'], max: number): TrainingSwarm {
  const s = env.tinySwarm(name);
  s.spec.peers = { min: 1, max, maxPending: 0 };
  s.spec.placements = placements;
  delete s.spec.stopAfter;
  return s;
}

const status = (name: string) => env.status(name);

const podsIn = (c: TestCluster, swarm: string): Promise<V1Pod[]> => livePods(c, `spotswarm.dev/swarm=${swarm}`);

const placements = twoDatacenterPlacements();

beforeAll(async () => {
  dcs = await startTwoDatacenters('multi', { dc1: [{ name: 'dc1-gpu-0', gpus: 2 }, { name: 'dc1-gpu-1', gpus: 2 }], dc2: [{ name: 'dc2-gpu-0', gpus: 1 }, { name: 'dc2-gpu-1', gpus: 1 }] });
  ({ env, dc1, dc2 } = dcs);
}, 240_000);

afterAll(async () => {
  await dcs?.stop();
}, 180_000);

describe('two datacenters', () => {
  it('places peers in both clusters, and they train together through one NATS', async () => {
    await env.apply(swarmSpec('wide', placements, 4));
    await waitFor(async () => running(await podsIn(dc1, 'wide')) === 2 && running(await podsIn(dc2, 'wide')) === 2, { what: '2 peers running in each datacenter', timeoutMs: 120_000 });
    const remote = (await podsIn(dc2, 'wide'))[0]!;
    expect(remote.metadata!.ownerReferences).toBeUndefined();
    expect(remote.metadata!.labels!['spotswarm.dev/placement']).toBe('dc2');
    expect(remote.spec!.priority).toBe(-100);
    const sw = (await dc1.custom.getNamespacedCustomObject({ group: 'spotswarm.dev', version: 'v1alpha1', plural: 'trainingswarms', namespace: 'default', name: 'wide' })) as TrainingSwarm;
    expect(sw.metadata.finalizers).toContain(REMOTE_PODS_FINALIZER);
    const st = await waitFor(async () => {
      const s = await status('wide');
      return s.peers?.active === 4 && (s.epoch ?? 0) >= 1 ? s : false;
    }, { what: 'all 4 peers alive in the swarm and an epoch done', timeoutMs: 180_000 });
    expect(st.clusters).toEqual([
      expect.objectContaining({ name: 'dc1', running: 2, reachable: true }),
      expect.objectContaining({ name: 'dc2', running: 2, reachable: true }),
    ]);
    const dc2Log = dc2.podLog(remote.metadata!.name!);
    expect(dc2Log).toMatch(/round|epoch/i);
  }, 300_000);

  it('replaces a pod lost in the remote cluster wherever GPUs are free', async () => {
    const victim = (await podsIn(dc2, 'wide'))[0]!.metadata!.name!;
    await dc2.kubectl(['delete', 'pod', victim, '--wait=false']);
    await waitFor(async () => {
      const [a, b] = [await podsIn(dc1, 'wide'), await podsIn(dc2, 'wide')];
      return running(a) + running(b) === 4 && a.length + b.length === 4 && !b.some((p) => p.metadata!.name === victim);
    }, { what: '4 peers running again across both datacenters', timeoutMs: 90_000 });
    // The lost pod's GPU is held until its object is gone, while dc1 has free GPUs: the replacement goes there.
    expect(running(await podsIn(dc1, 'wide'))).toBe(3);
    const st = await status('wide');
    expect(st.failures).toBe(0);
  }, 120_000);

  it('removes remote pods and the copies of its image pull Secrets when a swarm is deleted (finalizer), then lets the swarm go', async () => {
    const pullSecret = { '.dockerconfigjson': Buffer.from('{"auths":{"registry.example":{"auth":"dXNlcjpwYXNz"}}}').toString('base64') };
    await dc1.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'regcred' }, type: 'kubernetes.io/dockerconfigjson', data: pullSecret } });
    const only2 = swarmSpec('remote-only', [placements[1]!], 1);
    only2.spec.trainer.imagePullSecrets = [{ name: 'regcred' }];
    await env.apply(only2);
    await waitFor(async () => (await podsIn(dc2, 'remote-only')).length === 1, { what: 'a remote-only pod in dc2', timeoutMs: 60_000 });
    expect((await podsIn(dc2, 'remote-only'))[0]!.spec!.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    const copy = await dc2.core.readNamespacedSecret({ namespace: 'default', name: 'regcred' });
    expect({ type: copy.type, data: copy.data, component: copy.metadata!.labels!['app.kubernetes.io/component'] }).toEqual({ type: 'kubernetes.io/dockerconfigjson', data: pullSecret, component: 'image-pull-secret' });
    await dc1.kubectl(['delete', 'trainingswarm', 'remote-only', '--wait=false']);
    await waitFor(async () => (await dc2.core.listNamespacedPod({ namespace: 'default', labelSelector: 'spotswarm.dev/swarm=remote-only' })).items.length === 0, { what: 'dc2 pods removed', timeoutMs: 90_000 });
    await waitFor(async () => (await dc1.kubectl(['get', 'trainingswarm', 'remote-only'])).code !== 0, { what: 'the swarm gone', timeoutMs: 60_000 });
    expect((await dc2.kubectl(['get', 'secret', 'regcred'])).code).not.toBe(0);
    // The home cluster's own Secret stays.
    expect((await dc1.core.readNamespacedSecret({ namespace: 'default', name: 'regcred' })).data).toEqual(pullSecret);
  }, 180_000);

  it('when dc2 becomes unreachable: condition names it and since when, no duplicates in dc1, training goes on', async () => {
    const before = (await status('wide')).epoch!;
    const inDc1 = (await podsIn(dc1, 'wide')).length;
    const inDc2 = (await podsIn(dc2, 'wide')).length;
    expect(inDc1 + inDc2).toBe(4);
    process.kill(dc2.cp.pids['kube-apiserver'], 'SIGKILL');
    const st = await waitFor(async () => {
      const s = await status('wide');
      const c = s.clusters?.find((x) => x.name === 'dc2');
      return c && !c.reachable ? s : false;
    }, { what: 'dc2 marked unreachable', timeoutMs: 90_000 });
    const dc2Status = st.clusters!.find((x) => x.name === 'dc2')!;
    expect(dc2Status.unknown).toBe(inDc2);
    expect(dc2Status.unreachableSince).toMatch(/^\d{4}-\d\d-\d\dT/);
    const degraded = st.conditions!.find((c) => c.type === 'Degraded')!;
    expect(degraded).toMatchObject({ status: 'True', reason: 'ClusterUnreachable' });
    expect(degraded.message).toContain('cluster dc2 unreachable since');
    expect(st.peers!.desired).toBe(4);
    // dc1 has a free GPU, but the unknown pods in dc2 still count toward max 4.
    const events = await dc1.kubectl(['get', 'events', '--field-selector', 'involvedObject.name=wide,reason=ClusterUnreachable', '-o', 'name']);
    expect(events.stdout.trim()).not.toBe('');
    await waitFor(async () => ((await status('wide')).epoch ?? 0) > before, { what: 'the epoch advancing with dc2 cut off', timeoutMs: 120_000 });
    expect((await podsIn(dc1, 'wide')).length).toBe(inDc1);
  }, 300_000);
});
