import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Env } from '../../../api/index.ts';
import { errorOf } from '../../../testkit/errors/index.ts';
import { ConfigError } from '../config.ts';
import { DEFAULT_RELAY_MAX_RESERVATIONS, parseRelayConfig } from './config.ts';

let key = '';
let peerId = '';
beforeAll(async () => {
  const k = await generateKeyPair('Ed25519');
  key = Buffer.from(privateKeyToProtobuf(k)).toString('base64');
  peerId = peerIdFromPrivateKey(k).toString();
});

const parse = (over: Record<string, string | undefined>) => parseRelayConfig({ [Env.RelayPrivateKey]: key, [Env.PodIp]: '10.1.2.3', ...over }, { hostname: 'relay-0' });

describe('parseRelayConfig', () => {
  it('reads the key (the peer id follows from it), defaults the rest, and freezes the result', () => {
    const c = parse({});
    expect(peerIdFromPrivateKey(c.privateKey).toString()).toBe(peerId);
    expect(c).toMatchObject({ ip: '10.1.2.3', port: 4001, announce: [], maxReservations: DEFAULT_RELAY_MAX_RESERVATIONS, pod: 'relay-0', metricsPort: 0, log: { format: 'text', level: 'info' } });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.announce)).toBe(true);
  });

  it('reads the announced addresses, port and caps', () => {
    const c = parse({ [Env.RelayAnnounce]: '/dns4/relay.example.org/tcp/30400, /ip4/203.0.113.7/tcp/30400', [Env.P2pPort]: '0', [Env.RelayMaxReservations]: '64', [Env.MetricsPort]: '9090', [Env.PodName]: 'r' });
    expect(c).toMatchObject({ announce: ['/dns4/relay.example.org/tcp/30400', '/ip4/203.0.113.7/tcp/30400'], port: 0, maxReservations: 64, metricsPort: 9090, pod: 'r' });
  });

  it('admits anyone without NATS settings, and only the swarm\'s members with them', () => {
    expect(parse({}).members).toBeUndefined();
    const c = parse({ [Env.NatsUrl]: 'nats://nats:4222', [Env.SwarmNamespace]: 'ml', [Env.SwarmName]: 'lean', [Env.NatsCredentials]: 'tok', [Env.NatsReplicas]: '3', [Env.MembershipTtlSeconds]: '4' });
    expect(c.members).toEqual({ nats: { url: 'nats://nats:4222', credentials: 'tok', replicas: 3 }, swarm: { namespace: 'ml', name: 'lean' }, membershipTtlMs: 4000 });
    expect(parse({ [Env.NatsUrl]: 'nats://nats:4222', [Env.SwarmNamespace]: 'ml', [Env.SwarmName]: 'lean' }).members).toMatchObject({ nats: { credentials: undefined, replicas: 1 }, membershipTtlMs: 10_000 });
  });

  it.each([
    [{ [Env.NatsUrl]: 'nats://nats:4222', [Env.SwarmName]: 'lean' }, Env.SwarmNamespace, /required with SPOTSWARM_NATS_URL/],
    [{ [Env.NatsUrl]: 'nats://nats:4222', [Env.SwarmNamespace]: 'ml' }, Env.SwarmName, /required with SPOTSWARM_NATS_URL/],
    [{ [Env.NatsUrl]: 'nats:4222', [Env.SwarmNamespace]: 'ml', [Env.SwarmName]: 'lean' }, Env.NatsUrl, /nats:\/\//],
    [{ [Env.NatsUrl]: 'nats://nats:4222', [Env.SwarmNamespace]: 'ml', [Env.SwarmName]: 'lean', [Env.NatsReplicas]: '2' }, Env.NatsReplicas, /1, 3 or 5/],
    [{ [Env.RelayPrivateKey]: undefined }, Env.RelayPrivateKey, /required/],
    [{ [Env.RelayPrivateKey]: 'bm90IGEga2V5' }, Env.RelayPrivateKey, /protobuf libp2p private key/],
    [{ [Env.RelayPrivateKey]: '!!!' }, Env.RelayPrivateKey, /protobuf libp2p private key/],
    [{ [Env.PodIp]: undefined }, Env.PodIp, /required/],
    [{ [Env.PodIp]: 'relay.local' }, Env.PodIp, /IPv4/],
    [{ [Env.RelayAnnounce]: '/ip4/1.2.3.4/udp/4001' }, Env.RelayAnnounce, /TCP multiaddr/],
    [{ [Env.RelayAnnounce]: `/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWPR5oGbe4x5bzVvsDsPs8xcFjELPeEMp93eFjiwddi1qZ` }, Env.RelayAnnounce, /without \/p2p\//],
    [{ [Env.RelayAnnounce]: 'relay:4001' }, Env.RelayAnnounce, /TCP multiaddr/],
    [{ [Env.P2pPort]: '65536' }, Env.P2pPort, /integer/],
    [{ [Env.RelayMaxReservations]: '0' }, Env.RelayMaxReservations, /integer/],
    [{ [Env.LogFormat]: 'xml' }, Env.LogFormat, /json/],
  ])('names the variable in errors: %j', (over, variable, re) => {
    const e = errorOf(ConfigError, () => parse(over));
    expect(e.variable).toBe(variable);
    expect(e.message).toMatch(re);
  });
});
