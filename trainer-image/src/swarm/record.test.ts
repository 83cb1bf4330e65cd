import fc from 'fast-check';
import { MAX_RECORD_BYTES } from './constants.ts';
import { decodeRecord, encodeRecord, type MembershipRecord } from './record.ts';
import { makePeerIds, makeRecord } from './testing.ts';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

let ids: string[] = [];
beforeAll(async () => {
  ids = await makePeerIds(3);
});

describe('membership record codec', () => {
  it('round-trips a full record', () => {
    const r = makeRecord(ids[0]!, { epoch: 7, samples: 123, samplesPerSecond: 41.5, cluster: 'dc-1', bandwidth: 1e9 });
    const d = decodeRecord(encodeRecord(r), ids[0]);
    expect(d).toEqual({ ok: true, record: r });
  });

  it('rejects a record stored under another peer id', () => {
    const d = decodeRecord(encodeRecord(makeRecord(ids[0]!)), ids[1]);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(/peerId/);
  });

  it.each([
    ['v', { v: 2 }, /field v/],
    ['peerId', { peerId: 'not-a-peer-id' }, /field peerId/],
    ['epoch', { epoch: -1 }, /field epoch/],
    ['epoch', { epoch: 1.5 }, /field epoch/],
    ['samples', { samples: Number.NaN }, /field samples/],
    ['samplesPerSecond', { samplesPerSecond: -3 }, /field samplesPerSecond/],
    ['updatedAt', { updatedAt: '2026' }, /field updatedAt/],
    ['pod', { pod: '' }, /field pod/],
    ['cluster', { cluster: 5 }, /field cluster/],
    ['bandwidth', { bandwidth: Infinity }, /field bandwidth/],
    ['multiaddrs', { multiaddrs: ['/ip4/1.2.3.4/tcp/not-a-port'] }, /field multiaddrs\[0\]/],
    ['multiaddrs', { multiaddrs: 'x' }, /field multiaddrs/],
    ['unknown', { extra: true }, /unknown field "extra"/],
  ])('names the bad field: %s', (_f, over, re) => {
    const r = { ...makeRecord(ids[0]!), ...over };
    const d = decodeRecord(enc(r));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(re);
    expect(() => encodeRecord(r as MembershipRecord)).toThrow(re);
  });

  it('rejects a multiaddr that names another peer', () => {
    const r = makeRecord(ids[0]!, { multiaddrs: [`/ip4/10.0.0.1/tcp/1/p2p/${ids[1]}`] });
    const d = decodeRecord(enc(r));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(/another peer/);
  });

  it('accepts a circuit address through a relay (the relay’s /p2p/ right before /p2p-circuit)', () => {
    const circuit = `/ip4/10.0.0.9/tcp/4001/p2p/${ids[2]}/p2p-circuit/p2p/${ids[0]}`;
    const r = makeRecord(ids[0]!, { multiaddrs: [circuit, `/dns4/relay.example.org/tcp/4001/p2p/${ids[2]}/p2p-circuit/p2p/${ids[0]}`] });
    expect(decodeRecord(encodeRecord(r), ids[0])).toEqual({ ok: true, record: r });
  });

  it.each([
    ['a circuit to another peer', () => `/ip4/10.0.0.9/tcp/4001/p2p/${ids[2]}/p2p-circuit/p2p/${ids[1]}`, /another peer/],
    ['a circuit without its destination', () => `/ip4/10.0.0.9/tcp/4001/p2p/${ids[2]}/p2p-circuit`, /end with \/p2p\/ of the record/],
    ['a circuit with no relay peer id', () => `/ip4/10.0.0.9/tcp/4001/p2p-circuit/p2p/${ids[0]}`, /must follow the relay/],
    ['another peer’s id not followed by /p2p-circuit', () => `/ip4/10.0.0.9/tcp/4001/p2p/${ids[2]}/p2p/${ids[0]}`, /another peer/],
  ])('rejects %s', (_name, addr, re) => {
    const d = decodeRecord(enc(makeRecord(ids[0]!, { multiaddrs: [addr()] })));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(re);
  });

  it('rejects oversized input before parsing it', () => {
    const d = decodeRecord(new Uint8Array(MAX_RECORD_BYTES + 1).fill(0x20));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(/limit/);
  });

  it('rejects non-objects and invalid UTF-8', () => {
    for (const bytes of [enc([1, 2]), enc(null), enc('x'), new Uint8Array([0xff, 0xfe, 0x7b])]) {
      expect(decodeRecord(bytes).ok).toBe(false);
    }
  });

  it('property: valid records round-trip exactly', () => {
    const arb = fc.record({
      id: fc.constantFrom(...ids),
      epoch: fc.nat(),
      samples: fc.nat(),
      samplesPerSecond: fc.double({ min: 0, max: 1e9, noNaN: true }),
      updatedAt: fc.nat(),
      pod: fc.string({ minLength: 1, maxLength: 63 }),
      port: fc.integer({ min: 0, max: 65535 }),
    });
    fc.assert(
      fc.property(arb, (a) => {
        const r = makeRecord(a.id, { epoch: a.epoch, samples: a.samples, samplesPerSecond: a.samplesPerSecond, updatedAt: a.updatedAt, pod: a.pod, multiaddrs: [`/ip4/127.0.0.1/tcp/${a.port}`] });
        const d = decodeRecord(encodeRecord(r), a.id);
        return d.ok && JSON.stringify(d.record) === JSON.stringify(r);
      }),
    );
  });

  it('property: mutating any field to an arbitrary JSON value never throws, and what decodes is valid', () => {
    const fields = ['v', 'peerId', 'multiaddrs', 'epoch', 'samples', 'samplesPerSecond', 'updatedAt', 'pod', 'cluster', 'bandwidth'];
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
        const r: Record<string, unknown> = { ...makeRecord(ids[0]!), [field]: value };
        const d = decodeRecord(enc(r), ids[0]);
        if (!d.ok) return d.error.length > 0;
        // Accepted: it must re-encode (i.e. it is valid) and hold the mutated value.
        encodeRecord(d.record);
        return JSON.stringify((d.record as unknown as Record<string, unknown>)[field]) === JSON.stringify(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: arbitrary bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        const d = decodeRecord(b);
        return d.ok === false || typeof d.record.peerId === 'string';
      }),
    );
  });
});
