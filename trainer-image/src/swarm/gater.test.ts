import type { MultiaddrConnection } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { Registry } from 'prom-client';
import { membershipGater } from './gater.ts';
import { silentLogger } from './log.ts';
import { createSwarmMetrics } from './metrics.ts';
import { makePeerIds } from './testing.ts';

let member = '';
let stranger = '';
let relay = '';
let otherRelay = '';
beforeAll(async () => {
  [member, stranger, relay, otherRelay] = (await makePeerIds(4)) as [string, string, string, string];
});

const conn = { remoteAddr: multiaddr('/ip4/10.0.0.1/tcp/4001') } as unknown as MultiaddrConnection;

function gater() {
  const registry = new Registry();
  const metrics = createSwarmMetrics(registry);
  const g = membershipGater({ isMember: (id) => id === member, isRelay: (id) => id === relay, metrics, log: silentLogger });
  const refused = async (direction: string): Promise<number> => (await metrics.refusedConnections.get()).values.find((v) => v.labels.direction === direction)?.value ?? 0;
  return { g, refused };
}

describe('membership gater with relays', () => {
  it('dials our relays though they are not members, and still refuses to dial strangers', async () => {
    const { g, refused } = gater();
    expect(await g.denyDialPeer!(peerIdFromString(relay))).toBe(false);
    expect(await g.denyOutboundEncryptedConnection!(peerIdFromString(relay), conn)).toBe(false);
    expect(await g.denyDialPeer!(peerIdFromString(member))).toBe(false);
    expect(await g.denyDialPeer!(peerIdFromString(stranger))).toBe(true);
    expect(await g.denyDialPeer!(peerIdFromString(otherRelay))).toBe(true);
    expect(await refused('outbound')).toBe(2);
  });

  it('never accepts a connection that a relay opens to us', async () => {
    const { g, refused } = gater();
    expect(await g.denyInboundEncryptedConnection!(peerIdFromString(relay), conn)).toBe(true);
    expect(await refused('inbound')).toBe(1);
  });

  it('accepts a relayed connection only from a member, through one of our relays', async () => {
    const { g, refused } = gater();
    expect(await g.denyInboundRelayedConnection!(peerIdFromString(relay), peerIdFromString(member))).toBe(false);
    expect(await g.denyInboundRelayedConnection!(peerIdFromString(relay), peerIdFromString(stranger))).toBe(true);
    expect(await g.denyInboundRelayedConnection!(peerIdFromString(otherRelay), peerIdFromString(member))).toBe(true);
    expect(await refused('inbound')).toBe(2);
  });

  it('treats a throwing relay check as "not a relay"', async () => {
    const metrics = createSwarmMetrics(new Registry());
    const g = membershipGater({ isMember: () => false, isRelay: () => { throw new Error('boom'); }, metrics, log: silentLogger });
    expect(await g.denyDialPeer!(peerIdFromString(relay))).toBe(true);
  });
});
