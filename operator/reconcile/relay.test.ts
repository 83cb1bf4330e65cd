import type { V1Service } from '@kubernetes/client-node';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { DEFAULT_RELAY_METRICS_PORT, DEFAULT_RELAY_PORT, Env, LABEL_ROLE, LABEL_SWARM, LABEL_SWARM_UID, RELAY_KEY_SECRET_KEY, type Placement } from '../../api/index.ts';
import { trainerPod } from './pod-template.ts';
import {
  needsOperatorRelay, ownedBy, placementWithRelay, relayDeployment, relayEndpoint, relayKeyOf, relayMultiaddr, relayName, relayPeerId, relaySecret,
  relayService, relaySettings, specHashOf, tcpMultiaddr,
} from './relay.ts';
import { tinySwarm } from './testing.ts';

const nat = (over: Partial<Placement['network']> = {}): Placement => ({ name: 'nat', weight: 1, network: { mode: 'Relay', ...over } });
const flat: Placement = { name: 'home', weight: 1, network: { mode: 'PodNetwork' } };

let key = '';
let peerId = '';
beforeAll(async () => {
  const k = await generateKeyPair('Ed25519');
  key = Buffer.from(privateKeyToProtobuf(k)).toString('base64');
  peerId = peerIdFromPrivateKey(k).toString();
});

describe('which placements use the operator relay', () => {
  it('a Relay placement without relays does; one with relays, and other modes, do not', () => {
    expect(needsOperatorRelay(nat())).toBe(true);
    expect(needsOperatorRelay(nat({ relays: [] }))).toBe(true);
    expect(needsOperatorRelay(nat({ relays: ['/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWA'] }))).toBe(false);
    expect(needsOperatorRelay(flat)).toBe(false);
    expect(needsOperatorRelay({ name: 'hp', weight: 1, network: { mode: 'HostPort', hostPort: 30400 } })).toBe(false);
  });

  it('takes the settings of the first placement that uses it and sets them, else the defaults', () => {
    expect(relaySettings([flat, nat()])).toEqual({ serviceType: 'ClusterIP', port: DEFAULT_RELAY_PORT, metricsPort: DEFAULT_RELAY_METRICS_PORT });
    const lb = { serviceType: 'LoadBalancer' as const, port: 4100, metricsPort: 0, address: 'relay.example.org' };
    const other = { serviceType: 'NodePort' as const, port: 4200, metricsPort: 1, address: '10.0.0.1' };
    const explicit: Placement = { name: 'x', weight: 1, network: { mode: 'Relay', relays: ['/ip4/1.2.3.4/tcp/1/p2p/12D3KooWA'], relay: other } };
    expect(relaySettings([explicit, nat(), { ...nat({ relay: lb }), name: 'nat2' }, { ...nat({ relay: other }), name: 'nat3' }])).toEqual(lb);
  });

  it('puts the relay into the trainer pods of placements that use it, and leaves the others alone', () => {
    const addr = `/ip4/10.96.0.7/tcp/4001/p2p/${peerId}`;
    const pl = placementWithRelay(nat(), addr)!;
    expect(pl.network.relays).toEqual([addr]);
    expect(placementWithRelay(nat(), undefined)).toBeUndefined();
    expect(placementWithRelay(flat, undefined)).toBe(flat);
    const withRelays = nat({ relays: ['/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWA'] });
    expect(placementWithRelay(withRelays, addr)).toBe(withRelays);
    const env = new Map(trainerPod(tinySwarm(), { placement: pl, remote: true }).spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env.get(Env.NetworkMode)).toBe('Relay');
    expect(env.get(Env.Relays)).toBe(addr);
  });
});

describe('relay objects', () => {
  const swarm = tinySwarm((t) => {
    t.spec.trainer.image = 'registry.example/spotswarm/trainer:1.0';
    t.spec.trainer.imagePullSecrets = [{ name: 'regcred' }];
  });
  const s = relaySettings([nat()]);

  it('are named <swarm>-relay, a DNS-1035 label even for long or digit-led swarm names', () => {
    expect(relayName(swarm)).toBe('tiny-relay');
    for (const n of ['9lives', 'a'.repeat(60), `x${'-y'.repeat(100)}`]) {
      const r = relayName(tinySwarm((t) => (t.metadata.name = n)));
      expect(r).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/);
      expect(r.length).toBeLessThanOrEqual(63);
    }
    expect(relayName(tinySwarm((t) => (t.metadata.name = 'a'.repeat(60))))).not.toBe(relayName(tinySwarm((t) => (t.metadata.name = `${'a'.repeat(59)}b`))));
  });

  it('the Secret holds the key the relay reads, owned by the swarm; its peer id follows from it', () => {
    const sec = relaySecret(swarm, key);
    expect(sec.metadata).toMatchObject({ name: 'tiny-relay', namespace: 'default' });
    expect(ownedBy(sec, swarm)).toBe(true);
    expect(ownedBy(sec, tinySwarm((t) => (t.metadata.uid = 'other')))).toBe(false);
    expect(Object.keys(sec.data!)).toEqual([RELAY_KEY_SECRET_KEY]);
    expect(relayKeyOf(sec)).toBe(key);
    expect(relayPeerId(key)).toBe(peerId);
    expect(() => relayPeerId(Buffer.from('nope').toString('base64'))).toThrow();
  });

  it('the Service selects the relay pod on its port, with the node port only where it means something', () => {
    const svc = relayService(swarm, s);
    expect(svc.spec).toEqual({ type: 'ClusterIP', selector: { [LABEL_SWARM]: 'tiny', [LABEL_ROLE]: 'relay' }, ports: [{ name: 'p2p', protocol: 'TCP', port: 4001, targetPort: 4001 }] });
    expect(ownedBy(svc, swarm)).toBe(true);
    expect(relayService(swarm, { ...s, serviceType: 'NodePort', nodePort: 31001, address: 'n' }).spec!.ports![0]!.nodePort).toBe(31001);
    // The hash changes with what matters, and only then.
    expect(specHashOf(relayService(swarm, s))).toBe(specHashOf(svc));
    expect(specHashOf(relayService(swarm, { ...s, port: 4002 }))).not.toBe(specHashOf(svc));
  });

  it('the Deployment runs the trainer image as the relay workload, one pod at a time, not preemptible', () => {
    const d = relayDeployment(swarm, s, { host: '10.96.0.7', port: 4001 });
    expect(d.spec!.replicas).toBe(1);
    expect(d.spec!.strategy).toEqual({ type: 'Recreate' });
    expect(d.spec!.selector!.matchLabels).toEqual({ [LABEL_SWARM]: 'tiny', [LABEL_ROLE]: 'relay' });
    expect(d.spec!.template.metadata!.labels).toMatchObject({ [LABEL_SWARM]: 'tiny', [LABEL_SWARM_UID]: 'uid-1', [LABEL_ROLE]: 'relay' });
    const pod = d.spec!.template.spec!;
    expect(pod.priorityClassName).toBeUndefined();
    expect(pod.containers[0]!.image).toBe('registry.example/spotswarm/trainer:1.0');
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.containers[0]!.resources!.requests!['nvidia.com/gpu']).toBeUndefined();
    const env = new Map(pod.containers[0]!.env!.map((e) => [e.name, e]));
    expect(env.get(Env.Workload)!.value).toBe('relay');
    expect(env.get(Env.RelayPrivateKey)!.valueFrom!.secretKeyRef).toEqual({ name: 'tiny-relay', key: RELAY_KEY_SECRET_KEY });
    expect(env.get(Env.PodIp)!.valueFrom!.fieldRef!.fieldPath).toBe('status.podIP');
    expect(env.get(Env.P2pPort)!.value).toBe('4001');
    expect(env.get(Env.RelayAnnounce)!.value).toBe('/ip4/10.96.0.7/tcp/4001');
    expect(env.get(Env.MetricsPort)!.value).toBe(String(DEFAULT_RELAY_METRICS_PORT));
    // It admits only the swarm's members: it reads their membership with the swarm's NATS settings.
    expect(env.get(Env.NatsUrl)!.value).toBe(swarm.spec.nats.url);
    expect(env.get(Env.SwarmNamespace)!.value).toBe(swarm.metadata.namespace ?? 'default');
    expect(env.get(Env.SwarmName)!.value).toBe('tiny');
    const withCreds = relayDeployment({ ...swarm, spec: { ...swarm.spec, nats: { ...swarm.spec.nats, credentialsSecretRef: { name: 'tiny-nats', key: 'nats.creds' } } } }, s, { host: '10.96.0.7', port: 4001 });
    expect(withCreds.spec!.template.spec!.containers[0]!.env!.find((e) => e.name === Env.NatsCredentials)!.valueFrom!.secretKeyRef).toEqual({ name: 'tiny-nats', key: 'nats.creds' });
    expect(d.spec!.template.metadata!.annotations!['prometheus.io/port']).toBe(String(DEFAULT_RELAY_METRICS_PORT));
    // A different announced address is a different spec (the Deployment gets updated).
    expect(specHashOf(relayDeployment(swarm, s, { host: '10.96.0.8', port: 4001 }))).not.toBe(specHashOf(d));
    const quiet = relayDeployment(swarm, { ...s, metricsPort: 0 }, { host: 'h', port: 1 }).spec!.template;
    expect(quiet.metadata!.annotations).toBeUndefined();
    expect(quiet.spec!.containers[0]!.readinessProbe).toBeUndefined();
  });
});

describe('where trainers dial the relay', () => {
  const svc = (over: Partial<V1Service['spec']> & { ingress?: { ip?: string; hostname?: string }[] } = {}): V1Service => {
    const { ingress, ...spec } = over;
    return { spec: { clusterIP: '10.96.0.7', ports: [{ name: 'p2p', port: 4001, nodePort: 31555 }], ...spec }, status: { loadBalancer: { ingress } } };
  };
  const base = { serviceType: 'ClusterIP' as const, port: 4001, metricsPort: 0 };

  it.each([
    ['ClusterIP: the cluster IP', base, svc(), { host: '10.96.0.7', port: 4001 }],
    ['an explicit address wins', { ...base, address: 'relay.example.org' }, svc(), { host: 'relay.example.org', port: 4001 }],
    ['NodePort: the address at the node port', { ...base, serviceType: 'NodePort' as const, address: '192.0.2.10' }, svc(), { host: '192.0.2.10', port: 31555 }],
    ['LoadBalancer: the ingress IP', { ...base, serviceType: 'LoadBalancer' as const }, svc({ ingress: [{ ip: '203.0.113.5' }] }), { host: '203.0.113.5', port: 4001 }],
    ['LoadBalancer: the ingress hostname', { ...base, serviceType: 'LoadBalancer' as const }, svc({ ingress: [{ hostname: 'lb.example.org' }] }), { host: 'lb.example.org', port: 4001 }],
  ])('%s', (_n, s, service, want) => {
    expect(relayEndpoint(s, service)).toEqual(want);
  });

  it.each([
    ['a load balancer without an address yet', { ...base, serviceType: 'LoadBalancer' as const }, svc(), /load balancer/],
    ['NodePort without an address', { ...base, serviceType: 'NodePort' as const }, svc(), /needs network\.relay\.address/],
    ['a headless Service', base, svc({ clusterIP: 'None' }), /cluster IP/],
    ['no Service yet', base, undefined, /cluster IP/],
  ])('not known: %s', (_n, s, service, re) => {
    const e = relayEndpoint(s, service);
    expect('problem' in e && e.problem).toMatch(re);
  });

  it('as a multiaddr with the relay peer id', () => {
    expect(relayMultiaddr({ host: '10.96.0.7', port: 4001 }, peerId)).toBe(`/ip4/10.96.0.7/tcp/4001/p2p/${peerId}`);
    expect(relayMultiaddr({ host: 'relay.example.org', port: 4001 }, peerId)).toBe(`/dns/relay.example.org/tcp/4001/p2p/${peerId}`);
    expect(tcpMultiaddr('fd00::7', 1)).toBe('/ip6/fd00::7/tcp/1');
  });
});
