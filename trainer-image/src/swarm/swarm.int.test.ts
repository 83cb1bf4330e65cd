/**
 * The swarm layer against a real nats-server and real libp2p hosts, in this
 * process: membership TTL and leave, bad records, a NATS restart, the
 * compare-and-set leader, the cap on claimed samples, and the membership gater.
 */
import { jest } from '@jest/globals';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { multiaddr } from '@multiformats/multiaddr';
import { Registry } from 'prom-client';
import { Buckets } from '../../../api/index.ts';
import { freePort } from '../../../testkit/cluster/index.ts';
import { startNats, type NatsServer, waitFor } from '../../../testkit/harness/index.ts';
import { Protocols } from '../../../api/protocols.ts';
import { createSwarmMetrics, type SwarmMetrics } from './metrics.ts';
import { Matchmaker } from './matchmaking.ts';
import { Membership } from './membership.ts';
import { silentLogger } from './log.ts';
import { Swarm } from './swarm.ts';
import { connectNats, isCredsFile } from './nats.ts';
import { createHost, hostMultiaddrs } from './host.ts';
import type { Libp2p } from '@libp2p/interface';
import { makePeerIds, makeRecord } from './testing.ts';
import type { Candidate } from './groups.ts';

jest.setTimeout(60_000);

let nats: NatsServer;
const conns: NatsConnection[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

async function nc(): Promise<NatsConnection> {
  const c = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  conns.push(c);
  return c;
}
const counter = async (m: SwarmMetrics, name: 'refusedConnections' | 'badRecords' | 'cappedClaims', labels: Record<string, string>): Promise<number> => {
  const v = (await m[name].get()).values.find((x) => Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val));
  return v?.value ?? 0;
};

beforeAll(async () => {
  nats = await startNats();
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await nats?.stop();
});

describe('membership (real nats-server)', () => {
  it('sees a peer register, refresh, leave at once on deregister, and expire when it stops refreshing', async () => {
    const [a, b] = await makePeerIds(2);
    const metrics = createSwarmMetrics(new Registry());
    const bucket = 'ks_t1_members';
    const ma = await Membership.open(await nc(), { bucket, ttlMs: 2_000, log: silentLogger, metrics });
    const mb = await Membership.open(await nc(), { bucket, ttlMs: 2_000, log: silentLogger, metrics });
    cleanups.push(() => ma.close(), () => mb.close());

    await ma.publish(makeRecord(a!, { epoch: 2, samples: 10, updatedAt: Date.now() }));
    await ma.publish(makeRecord(b!, { epoch: 2, samples: 11, updatedAt: Date.now() }));
    await waitFor(() => mb.live().length === 2, { what: 'both records in the other view' });
    expect(mb.get(a!)?.samples).toBe(10);
    expect(await mb.isRegistered(a!)).toBe(true);

    await ma.publish(makeRecord(a!, { epoch: 3, samples: 1, updatedAt: Date.now() }));
    await waitFor(() => mb.get(a!)?.epoch === 3, { what: 'the refresh' });

    await ma.deregister(b!);
    await waitFor(() => mb.get(b!) === undefined, { what: 'b gone after deregister' });
    expect(await mb.isRegistered(b!)).toBe(false);

    // a stops refreshing: the server expires it and the marker reaches the watch.
    const removed = new Promise<string>((resolve) => mb.onChange((id, r) => r === undefined && resolve(id)));
    expect(await removed).toBe(a);
    expect(await mb.isRegistered(a!)).toBe(false);
    expect(mb.live()).toEqual([]);
  });

  it('logs, counts and ignores bad records without crashing', async () => {
    const [a] = await makePeerIds(1);
    const metrics = createSwarmMetrics(new Registry());
    const bucket = 'ks_t2_members';
    const m = await Membership.open(await nc(), { bucket, ttlMs: 10_000, log: silentLogger, metrics });
    cleanups.push(() => m.close());
    const raw = await new Kvm(await nc()).open(bucket);
    await raw.put('garbage', 'not json');
    await raw.put(a!, JSON.stringify({ ...makeRecord(a!), epoch: -5 }));
    await raw.put('12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo', JSON.stringify(makeRecord(a!)));
    await waitFor(async () => (await counter(metrics, 'badRecords', { kind: 'membership' })) >= 3, { what: 'three bad records counted' });
    expect(m.live()).toEqual([]);
    // A good record afterwards still gets through.
    await m.publish(makeRecord(a!, { updatedAt: Date.now() }));
    await waitFor(() => m.get(a!) !== undefined, { what: 'the good record' });
  });

  it('survives a nats-server restart: state persists, the watch resumes, writes work again', async () => {
    const [a, b] = await makePeerIds(2);
    const metrics = createSwarmMetrics(new Registry());
    const bucket = 'ks_t3_members';
    const writer = await Membership.open(await nc(), { bucket, ttlMs: 30_000, log: silentLogger, metrics });
    const reader = await Membership.open(await nc(), { bucket, ttlMs: 30_000, log: silentLogger, metrics });
    cleanups.push(() => writer.close(), () => reader.close());
    await writer.publish(makeRecord(a!, { updatedAt: Date.now() }));
    await waitFor(() => reader.get(a!) !== undefined, { what: 'a before restart' });
    await nats.restart();
    await waitFor(async () => writer.publish(makeRecord(b!, { updatedAt: Date.now() })).then(() => true, () => false), { what: 'a write after restart', intervalMs: 200 });
    await waitFor(() => reader.get(b!) !== undefined, { what: 'b through the resumed watch' });
    expect(reader.get(a!)).toBeDefined();
    // A fresh reader sees both from the persisted bucket.
    const fresh = await Membership.open(await nc(), { bucket, ttlMs: 30_000, log: silentLogger, metrics });
    cleanups.push(() => fresh.close());
    await waitFor(() => fresh.live().length === 2, { what: 'both in a fresh view' });
  });
});

describe('matchmaking (real nats-server)', () => {
  it('elects exactly one leader per round by compare-and-set; every peer gets the same groups', async () => {
    const ids = await makePeerIds(8);
    const metrics = createSwarmMetrics(new Registry());
    const mms = await Promise.all(ids.map(async (id) => Matchmaker.open(await nc(), { bucket: 'ks_t4_rounds', selfPeerId: id, maxGroupSize: 3, seed: 's', log: silentLogger, metrics })));
    cleanups.push(() => mms.forEach((m) => m.close()));
    for (let epoch = 0; epoch < 3; epoch++) {
      // Each peer has a different (partial, stale) view of who is there.
      const results = await Promise.all(
        mms.map((m, i) => {
          const view: Candidate[] = ids.filter((_, j) => j !== (i + 1) % ids.length).map((peerId, j) => ({ peerId, weight: 10 + j + i, multiaddrs: [] }));
          return m.formRound(epoch, view);
        }),
      );
      expect(results.every((r) => r !== undefined)).toBe(true);
      expect(results.filter((r) => r!.leader)).toHaveLength(1);
      const first = JSON.stringify(results[0]!.assignment);
      for (const r of results) expect(JSON.stringify(r!.assignment)).toBe(first);
      expect(results[0]!.assignment.groups.length).toBeGreaterThan(1);
    }
    expect(await mms[0]!.swarmEpoch()).toBe(2);
    // Late readers get the same value, both by get() and through their watch.
    const late = await Matchmaker.open(await nc(), { bucket: 'ks_t4_rounds', selfPeerId: ids[0]!, maxGroupSize: 3, seed: 's', log: silentLogger, metrics });
    cleanups.push(() => late.close());
    expect(JSON.stringify(await late.get(1))).toBe(JSON.stringify(mms[3]!.known(1)));
  });

  it('ignores (and counts) a corrupted assignment: the peer waits instead of using it', async () => {
    const [id] = await makePeerIds(1);
    const metrics = createSwarmMetrics(new Registry());
    const m = await Matchmaker.open(await nc(), { bucket: 'ks_t5_rounds', selfPeerId: id!, maxGroupSize: 3, seed: 's', log: silentLogger, metrics });
    cleanups.push(() => m.close());
    const raw = await new Kvm(await nc()).open('ks_t5_rounds');
    await raw.create('round.0', '{"v":1,"epoch":0}');
    expect(await m.get(0)).toBeUndefined();
    expect(await m.formRound(0, [{ peerId: id!, weight: 1, multiaddrs: [] }])).toBeUndefined();
    expect(await counter(metrics, 'badRecords', { kind: 'assignment' })).toBeGreaterThanOrEqual(2);
  });

  it('settles a round\'s result: the first member to finish writes its digest, the others compare with it; a bad stored digest is unconfirmed and counted', async () => {
    const ids = await makePeerIds(3);
    const metrics = createSwarmMetrics(new Registry());
    const mms = await Promise.all(ids.map(async (id) => Matchmaker.open(await nc(), { bucket: 'ks_t6_rounds', selfPeerId: id, maxGroupSize: 3, seed: 's', log: silentLogger, metrics })));
    cleanups.push(() => mms.forEach((m) => m.close()));
    const x = 'a'.repeat(64);
    const y = 'b'.repeat(64);
    // Concurrently: exactly one writer, and everyone names the same one.
    const first = await Promise.all(mms.map((m, i) => m.agree('e4g0', i === 2 ? y : x)));
    const writers = new Set(first.map((a) => ('writer' in a ? a.writer : undefined)));
    expect(writers.size).toBe(1);
    const writer = [...writers][0]!;
    const wrote = ids.indexOf(writer);
    expect(first[wrote]).toEqual({ state: 'canonical', writer });
    for (const [i, a] of first.entries()) {
      const sameAsWriter = (i === 2) === (wrote === 2);
      expect(a).toEqual({ state: sameAsWriter ? 'canonical' : 'diverged', writer });
    }
    // Rounds are independent keys.
    expect(await mms[1]!.agree('e4g1', y)).toEqual({ state: 'canonical', writer: ids[1] });
    // A peer that skipped a round learns whether someone finished it (and so stepped).
    expect(await mms[2]!.hasResult('e4g1')).toBe(true);
    expect(await mms[2]!.hasResult('e4g2')).toBe(false);
    // A value that does not validate is never trusted.
    const raw = await new Kvm(await nc()).open('ks_t6_rounds');
    await raw.create('result.e5g0', JSON.stringify({ v: 1, roundId: 'e5g0', peerId: ids[0], sha256: 'not-hex' }));
    const bad = await mms[2]!.agree('e5g0', x);
    expect(bad.state).toBe('unconfirmed');
    expect(bad.state === 'unconfirmed' && bad.error).toMatch(/field sha256/);
    expect(await counter(metrics, 'badRecords', { kind: 'result' })).toBe(1);
  });
});

describe('claimed samples (real nats-server)', () => {
  it('counts a peer that claims 1e9 samples only up to its measured throughput: progress stays short of the target, and the peer is counted once', async () => {
    const ref = { namespace: 'cap', name: 'a' };
    const join = async (capped: boolean): Promise<{ s: Swarm; metrics: SwarmMetrics }> => {
      const metrics = createSwarmMetrics(new Registry());
      const s = await Swarm.join({
        nc: await nc(), swarm: ref, seed: 'x', pod: { name: 'p', ip: '127.0.0.1' }, p2pPort: 0, maxGroupSize: 4, log: silentLogger, metrics,
        ...(capped ? { claimCap: { maxSamplesRatio: 4, floorSamples: 8 } } : {}),
      });
      cleanups.push(() => s.leave());
      return { s, metrics };
    };
    const { s, metrics } = await join(true);
    const { s: uncapped } = await join(false);
    // The honest peer reports 10 samples 200 ms after entering epoch 1: a measured rate of at most 50/s.
    s.setLocal({ epoch: 1, samples: 0, samplesPerSecond: 0 });
    await s.register();
    await new Promise((r) => setTimeout(r, 200));
    s.setLocal({ epoch: 1, samples: 10, samplesPerSecond: 10 });
    expect(await s.publish()).toBe(true);

    const [liar] = await makePeerIds(1);
    const m = await Membership.open(await nc(), { bucket: Buckets.membership(ref), log: silentLogger, metrics: createSwarmMetrics(new Registry()) });
    cleanups.push(() => m.close());
    await m.publish(makeRecord(liar!, { epoch: 1, samples: 0, updatedAt: Date.now() }));
    await waitFor(() => s.membership.get(liar!) !== undefined, { what: 'the liar registered' });
    await m.publish(makeRecord(liar!, { epoch: 1, samples: 1e9, samplesPerSecond: 1e9, updatedAt: Date.now() }));
    await waitFor(() => s.membership.get(liar!)?.samples === 1e9 && uncapped.membership.get(liar!)?.samples === 1e9, { what: 'the claim in both views' });

    const target = { highWaterEpoch: 1, targetBatchSize: 100_000, matchmakingWindowMs: 5_000 };
    // The attack is real: counted as claimed, the claim ends the epoch at once.
    expect(uncapped.progress(target)).toMatchObject({ epoch: 1, targetReached: true, ready: true });
    const p = s.progress(target);
    expect(p).toMatchObject({ epoch: 1, peers: 2, targetReached: false, ready: false });
    expect(p.samples).toBeLessThan(100_000);
    const weight = s.candidates(1).find((c) => c.peerId === liar)?.weight;
    expect(weight).toBe(p.samples - 10);
    s.progress(target);
    expect(await counter(metrics, 'cappedClaims', { measured: 'true' })).toBe(1);
    expect(await counter(metrics, 'cappedClaims', { measured: 'false' })).toBe(0);
  });
});

describe('record writes (real nats-server)', () => {
  it('sends each update without waiting for the previous ack, lands them in call order, and coalesces a burst into one more write', async () => {
    const ref = { namespace: 'writes', name: 'a' };
    // A long TTL: no periodic refresh lands among the writes counted below.
    const s = await Swarm.join({ nc: await nc(), swarm: ref, seed: 'x', pod: { name: 'p', ip: '127.0.0.1' }, p2pPort: 0, maxGroupSize: 4, membershipTtlMs: 120_000, log: silentLogger, metrics: createSwarmMetrics(new Registry()) });
    cleanups.push(() => s.leave());
    const kv = await new Kvm(await nc()).open(Buckets.membership(ref));
    const stored = async (): Promise<{ samples: number; revision: number }> => {
      const e = await kv.get(s.peerId);
      return { samples: (e!.json() as { samples: number }).samples, revision: e!.revision };
    };
    s.setLocal({ epoch: 0, samples: 0, samplesPerSecond: 1 });
    await s.register();
    const before = (await stored()).revision;
    // A busy trainer (no I/O between its calls): 20 updates in one synchronous burst.
    const writes: Promise<boolean>[] = [];
    for (let i = 1; i <= 20; i++) {
      s.setLocal({ epoch: 0, samples: i, samplesPerSecond: 1 });
      writes.push(s.publish());
    }
    expect(await Promise.all(writes)).toEqual(Array(20).fill(true));
    await waitFor(async () => (await stored()).samples === 20, { what: 'the last update stored' });
    const after = await stored();
    // The first four went out at once, the other sixteen coalesced into one write of the newest record.
    expect(after.revision - before).toBe(5);
    expect(after.samples).toBe(20);
  });
});

describe('membership gater (real libp2p hosts)', () => {
  const ref = { namespace: 'gate', name: 'a' };
  const other = { namespace: 'gate', name: 'b' };

  async function member(swarm: { namespace: string; name: string }, register: boolean): Promise<{ s: Swarm; metrics: SwarmMetrics }> {
    const metrics = createSwarmMetrics(new Registry());
    const s = await Swarm.join({ nc: await nc(), swarm, seed: 'x', pod: { name: 'p', ip: '127.0.0.1' }, p2pPort: 0, maxGroupSize: 4, log: silentLogger, metrics });
    cleanups.push(() => s.leave());
    if (register) await s.register();
    return { s, metrics };
  }

  /** A host with no gating of its own, as an intruder would run. */
  async function intruder(registerIn?: { namespace: string; name: string }): Promise<{ host: Libp2p; peerId: string; addr: string }> {
    const host = await createHost({ ip: '127.0.0.1', port: 0, connectionGater: {} });
    cleanups.push(() => host.stop());
    const peerId = host.peerId.toString();
    if (registerIn) {
      const m = await Membership.open(await nc(), { bucket: Buckets.membership(registerIn), log: silentLogger, metrics: createSwarmMetrics(new Registry()) });
      cleanups.push(() => m.close());
      await m.publish(makeRecord(peerId, { multiaddrs: hostMultiaddrs(host), updatedAt: Date.now() }));
    }
    return { host, peerId, addr: hostMultiaddrs(host)[0]! };
  }

  it('connects registered peers of the swarm and refuses (and counts) the unregistered and the other swarm’s', async () => {
    const a = await member(ref, true);
    const b = await member(ref, true);
    const stranger = await intruder(); // registered nowhere
    const foreign = await intruder(other); // registered, but in another swarm
    expect(Buckets.membership(ref)).not.toBe(Buckets.membership(other));

    const dial = (from: Libp2p, to: string): Promise<boolean> =>
      from.dialProtocol(multiaddr(to), Protocols.allReduce, { signal: AbortSignal.timeout(10_000) }).then(
        async (stream) => {
          await stream.close().catch(() => undefined);
          return true;
        },
        () => false,
      );
    const dialTo = (from: Swarm, to: Swarm): Promise<boolean> => dial(from.host, to.multiaddrs[0]!);
    // a needs a handler for the protocol so that an accepted connection yields a stream.
    await a.s.host.handle(Protocols.allReduce, (stream) => void stream.close().catch(() => undefined));
    expect(await dialTo(b.s, a.s)).toBe(true);

    expect(await dial(stranger.host, a.s.multiaddrs[0]!)).toBe(false);
    expect(await dial(foreign.host, a.s.multiaddrs[0]!)).toBe(false);
    expect(await counter(a.metrics, 'refusedConnections', { direction: 'inbound' })).toBe(2);
    expect(a.s.host.getConnections().map((c) => c.remotePeer.toString())).toEqual([b.s.peerId]);

    // Outbound too: a refuses to dial the foreign peer.
    expect(await dial(a.s.host, foreign.addr)).toBe(false);
    expect(await counter(a.metrics, 'refusedConnections', { direction: 'outbound' })).toBeGreaterThanOrEqual(1);

    // Once b leaves (deregisters), a refuses it again.
    await a.s.host.hangUp(b.s.host.peerId);
    await b.s.membership.deregister(b.s.peerId);
    await waitFor(() => a.s.membership.get(b.s.peerId) === undefined, { what: 'b gone from a’s view' });
    expect(await dialTo(b.s, a.s)).toBe(false);
  });
});

describe('NATS credentials', () => {
  it('connects with the swarm token and fails fast, naming the cause, with a wrong one', async () => {
    const secured = await startNats({ args: ['--auth', 's3cret-token'] });
    try {
      const ok = await connectNats({ url: secured.url, credentials: 's3cret-token', log: silentLogger });
      const m = await Membership.open(ok, { bucket: 'ks_auth_members', log: silentLogger, metrics: createSwarmMetrics(new Registry()) });
      m.close();
      await ok.close();
      await expect(connectNats({ url: secured.url, credentials: 'wrong', log: silentLogger })).rejects.toThrow(/Authorization Violation/);
    } finally {
      await secured.stop();
    }
  });

  it('recognises a .creds file by its JWT header', () => {
    expect(isCredsFile('-----BEGIN NATS USER JWT-----\neyJ0...\n------END NATS USER JWT------')).toBe(true);
    expect(isCredsFile('s3cret-token')).toBe(false);
  });
});

describe('libp2p host addresses', () => {
  it('announces the pod IP, or the node address in HostPort mode', async () => {
    const plain = await createHost({ ip: '127.0.0.1', port: 0, connectionGater: {} });
    cleanups.push(() => plain.stop());
    expect(hostMultiaddrs(plain)).toHaveLength(1);
    expect(hostMultiaddrs(plain)[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${plain.peerId.toString()}$`));
    const port = await freePort();
    const hostPort = await createHost({ ip: '127.0.0.1', port, announceIp: '10.9.9.9', connectionGater: {} });
    cleanups.push(() => hostPort.stop());
    expect(hostMultiaddrs(hostPort)).toEqual([`/ip4/10.9.9.9/tcp/${port}/p2p/${hostPort.peerId.toString()}`]);
  });
});
