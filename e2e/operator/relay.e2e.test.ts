/**
 * Relay network mode with the operator: two datacenters (two real control
 * planes); the remote one is "behind NAT" (placement network mode Relay, no
 * relays listed). The operator runs a circuit relay for the swarm in its own
 * cluster (key Secret, Service, Deployment, all owned by the swarm), passes
 * its multiaddr to the Relay placement's pods, and those pods join the swarm
 * through it and average with the pods of the home cluster.
 *
 * The test kubelet has no Service network (every pod is on 127.0.0.1), so the
 * relay is given an explicit address and port, as a user does for a load
 * balancer's DNS name.
 */
import { Env, LABEL_ROLE, ROLE_RELAY, type TrainingSwarm } from '../../api/index.ts';
import { relayKeyOf, relayPeerId } from '../../operator/reconcile/relay.ts';
import { freePort } from '../../testkit/cluster/index.ts';
import { livePods, running, startTwoDatacenters, twoDatacenterPlacements, type SwarmEnv, type TestCluster, type TwoDatacenters, waitFor } from '../../testkit/harness/index.ts';
import { metricValue } from '../../testkit/prometheus/index.ts';

let dcs: TwoDatacenters;
let env: SwarmEnv;
let dc1: TestCluster;
let dc2: TestCluster;

const SWARM = 'natty';

const trainers = (c: TestCluster) => livePods(c, `spotswarm.dev/swarm=${SWARM},spotswarm.dev/role=trainer`);

/** The JSON lines of a pod's log. */
function logLines(c: TestCluster, pod: string): Record<string, unknown>[] {
  return c.podLog(pod).split('\n').flatMap((l) => {
    try {
      const j = JSON.parse(l) as unknown;
      return typeof j === 'object' && j !== null ? [j as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });
}

beforeAll(async () => {
  dcs = await startTwoDatacenters('relay', { dc1: [{ name: 'dc1-gpu-0', gpus: 2 }], dc2: [{ name: 'dc2-gpu-0', gpus: 2 }] });
  ({ env, dc1, dc2 } = dcs);
}, 240_000);

afterAll(async () => {
  await dcs?.stop();
}, 180_000);

describe('an operator-run relay for a placement behind NAT', () => {
  it('runs the relay in its own cluster, and the Relay placement’s peers join the swarm through it and average with everyone', async () => {
    const relayPort = await freePort();
    const relayMetrics = await freePort();
    const s: TrainingSwarm = env.tinySwarm(SWARM);
    s.spec.peers = { min: 1, max: 4, maxPending: 0 };
    delete s.spec.stopAfter;
    s.spec.placements = twoDatacenterPlacements({ mode: 'Relay', relay: { serviceType: 'ClusterIP', address: '127.0.0.1', port: relayPort, metricsPort: relayMetrics } });
    await env.apply(s);

    // The relay's key Secret, Service and Deployment, in the swarm's namespace of the home cluster, owned by the swarm.
    const swarmUid = ((await dc1.custom.getNamespacedCustomObject({ group: 'spotswarm.dev', version: 'v1alpha1', plural: 'trainingswarms', namespace: 'default', name: SWARM })) as TrainingSwarm).metadata.uid;
    const secret = await waitFor(() => dc1.core.readNamespacedSecret({ namespace: 'default', name: `${SWARM}-relay` }), { what: 'the relay key Secret', timeoutMs: 60_000 });
    const svc = await waitFor(() => dc1.core.readNamespacedService({ namespace: 'default', name: `${SWARM}-relay` }), { what: 'the relay Service', timeoutMs: 60_000 });
    const dep = await waitFor(() => dc1.apps.readNamespacedDeployment({ namespace: 'default', name: `${SWARM}-relay` }), { what: 'the relay Deployment', timeoutMs: 60_000 });
    for (const o of [secret, svc, dep]) expect(o.metadata!.ownerReferences).toEqual([expect.objectContaining({ kind: 'TrainingSwarm', uid: swarmUid })]);
    expect(svc.spec!.ports).toEqual([expect.objectContaining({ port: relayPort, targetPort: relayPort })]);
    const relayId = relayPeerId(relayKeyOf(secret)!);
    const relayAddr = `/ip4/127.0.0.1/tcp/${relayPort}/p2p/${relayId}`;

    // The relay pod runs (the Deployment's ReplicaSet made it) with the identity from the Secret.
    const relayPod = await waitFor(async () => (await livePods(dc1, `spotswarm.dev/swarm=${SWARM},${LABEL_ROLE}=${ROLE_RELAY}`)).find((p) => p.status?.phase === 'Running'), { what: 'the relay pod running', timeoutMs: 90_000 });
    expect(relayPod.spec!.priorityClassName).toBeUndefined();
    const started = await waitFor(() => logLines(dc1, relayPod.metadata!.name!).find((l) => l['message'] === 'relay started'), { what: 'the relay log "relay started"', timeoutMs: 60_000 });
    expect(started['peerId']).toBe(relayId);
    // It admits only the swarm's registered members (its membership, read with the swarm's NATS settings).
    expect(started['admits']).toBe(`members of default/${SWARM}`);

    // Two peers in each cluster; the remote ones were told to listen through the relay.
    await waitFor(async () => running(await trainers(dc1)) === 2 && running(await trainers(dc2)) === 2, { what: '2 trainers running in each datacenter', timeoutMs: 120_000 });
    const remote = (await trainers(dc2)).filter((p) => p.status?.phase === 'Running');
    const local = (await trainers(dc1)).filter((p) => p.status?.phase === 'Running');
    for (const p of remote) {
      const env_ = new Map(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
      expect(env_.get(Env.NetworkMode)).toBe('Relay');
      expect(env_.get(Env.Relays)).toBe(relayAddr);
    }
    for (const p of local) expect(p.spec!.containers[0]!.env!.find((e) => e.name === Env.Relays)).toBeUndefined();

    // They announce only their circuit address through the relay, and hold a reservation on it.
    const remoteIds: string[] = [];
    for (const p of remote) {
      const joined = await waitFor(() => logLines(dc2, p.metadata!.name!).find((l) => l['message'] === 'joined swarm'), { what: `${p.metadata!.name} joined`, timeoutMs: 90_000 });
      remoteIds.push(joined['peerId'] as string);
      expect(joined['multiaddrs']).toEqual([`${relayAddr}/p2p-circuit/p2p/${joined['peerId'] as string}`]);
    }
    await waitFor(async () => (await metricValue(relayMetrics, 'spotswarm_relay_reservations')) === 2, { what: 'two reservations on the relay', timeoutMs: 60_000 });

    // All four average together: a round of a remote peer with everyone in it, complete, no one dropped.
    const round = await waitFor(() => logLines(dc2, remote[0]!.metadata!.name!).find((l) =>
      l['message'] === 'round finished' && (l['members'] as string[] | undefined)?.length === 4 && l['fractionAveraged'] === 1 && (l['droppedPeers'] as string[]).length === 0,
    ), { what: 'a complete 4-peer round in a remote peer', timeoutMs: 180_000 });
    for (const id of remoteIds) expect(round['members']).toContain(id);
    const st = await waitFor(async () => {
      const x = await env.status(SWARM);
      return x.peers?.active === 4 && (x.epoch ?? 0) >= 1 ? x : false;
    }, { what: '4 active peers and an epoch done', timeoutMs: 120_000 });
    expect(st.clusters).toEqual([expect.objectContaining({ name: 'dc1', running: 2 }), expect.objectContaining({ name: 'dc2', running: 2 })]);
    const ready = await dc1.kubectl(['get', 'events', '--field-selector', `involvedObject.name=${SWARM},reason=RelayReady`, '-o', 'jsonpath={.items[*].message}']);
    expect(ready.stdout).toContain(relayAddr);
  }, 420_000);
});
