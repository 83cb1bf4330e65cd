import { circuitMultiaddrs, InvalidRelayAddressError, parseRelay, relayIdsIn } from './relay-client.ts';
import { makePeerIds } from './testing.ts';

let ids: string[] = [];
beforeAll(async () => {
  ids = await makePeerIds(3);
});

describe('relay addresses', () => {
  it('parses a relay multiaddr into its address and peer id', () => {
    const r = parseRelay(`/dns4/relay.example.org/tcp/4001/p2p/${ids[0]}`);
    expect(r.peerId.toString()).toBe(ids[0]);
    expect(r.addr.toString()).toBe(`/dns4/relay.example.org/tcp/4001/p2p/${ids[0]}`);
  });

  it.each([
    ['not a multiaddr', () => 'relay:4001', /not a multiaddr/],
    ['no peer id', () => '/ip4/10.0.0.1/tcp/4001', /must end with \/p2p\//],
    ['a circuit address', () => `/ip4/10.0.0.1/tcp/4001/p2p/${ids[0]}/p2p-circuit`, /not a circuit address/],
    ['two peer ids', () => `/ip4/10.0.0.1/tcp/4001/p2p/${ids[0]}/p2p/${ids[1]}`, /exactly one peer/],
    ['not TCP', () => `/ip4/10.0.0.1/udp/4001/p2p/${ids[0]}`, /TCP/],
  ])('rejects %s', (_n, addr, re) => {
    expect(() => parseRelay(addr())).toThrow(InvalidRelayAddressError);
    expect(() => parseRelay(addr())).toThrow(re);
  });

  it('announces one circuit address per relay, ending in our own id', () => {
    const relays = [`/ip4/10.0.0.1/tcp/4001/p2p/${ids[0]}`, `/ip4/10.0.0.2/tcp/4001/p2p/${ids[1]}`];
    expect(circuitMultiaddrs(relays, ids[2]!)).toEqual([
      `/ip4/10.0.0.1/tcp/4001/p2p/${ids[0]}/p2p-circuit/p2p/${ids[2]}`,
      `/ip4/10.0.0.2/tcp/4001/p2p/${ids[1]}/p2p-circuit/p2p/${ids[2]}`,
    ]);
  });

  it('finds the relays named in circuit addresses, and only those', () => {
    expect(relayIdsIn([
      `/ip4/10.0.0.1/tcp/4001/p2p/${ids[0]}/p2p-circuit/p2p/${ids[2]}`,
      `/ip4/10.0.0.3/tcp/5000/p2p/${ids[2]}`,
      'garbage',
    ])).toEqual([ids[0]]);
  });
});
