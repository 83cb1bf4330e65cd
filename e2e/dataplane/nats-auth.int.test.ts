/**
 * Swarm isolation over NATS, against a real nats-server in operator mode
 * (JWT/nkeys, full account resolver), with the credentials the operator
 * issues (operator/natsauth): each swarm its own account, its trainers a user
 * limited to the swarm's subjects and buckets, the operator a reader that may
 * only subscribe to telemetry. Swarm A's credentials cannot publish,
 * subscribe, read KV or object store, or register in swarm B; refusals are
 * counted in the trainer's metrics and logged; B's libp2p gater refuses a
 * peer that could not register. Real trainer processes train with the issued
 * .creds, so the permission list is the one the workload needs.
 */
import { jest } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { createUser, encodeUser, fmtCreds } from '@nats-io/jwt';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { multiaddr } from '@multiformats/multiaddr';
import { Registry } from 'prom-client';
import { Buckets, Env, Protocols, Subjects } from '../../api/index.ts';
import { createAuthBundle, mintSwarmUser, serverAuthConf, swarmAccountKey, type AuthBundle } from '../../operator/natsauth/keys.ts';
import { NatsCredentialIssuer } from '../../operator/natsauth/issuer.ts';
import { createLogger } from '../../operator/log.ts';
import { Fleet, sleep, startNats, type NatsServer, waitFor } from '../../testkit/harness/index.ts';
import {
  connectNats, createHost, createSwarmMetrics, hostMultiaddrs, makePeerIds, makeRecord, Matchmaker, Membership, silentLogger, Swarm, type SwarmLogger, type SwarmMetrics,
} from '../../trainer-image/src/swarm/index.ts';

jest.setTimeout(90_000);

const A = { namespace: 'team-a', name: 'bert', uid: 'uid-a' };
const B = { namespace: 'team-b', name: 'bert', uid: 'uid-b' };
let bundle: AuthBundle;
let nats: NatsServer;
let issuer: NatsCredentialIssuer;
const creds: Record<'a' | 'b' | 'readerA', string> = { a: '', b: '', readerA: '' };
const conns: NatsConnection[] = [];
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const fleet = new Fleet();

const natsAs = async (c: string): Promise<NatsConnection> => {
  const nc = await connect({ servers: nats.url, authenticator: credsAuthenticator(new TextEncoder().encode(c)), maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  conns.push(nc);
  return nc;
};
const counterValue = async (m: SwarmMetrics, labels: Record<string, string>, name: 'natsPermissionDenied' | 'refusedConnections'): Promise<number> =>
  (await m[name].get()).values.filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x)).reduce((a, v) => a + v.value, 0);
/** Resolves once the server has processed everything this connection sent (and told it of any violation). */
const roundTrip = (nc: NatsConnection): Promise<void> => nc.flush().then(() => sleep(100));

beforeAll(async () => {
  bundle = await createAuthBundle();
  nats = await startNats({ authConf: serverAuthConf(bundle) });
  issuer = new NatsCredentialIssuer({ bundle, log: createLogger({ format: 'json', level: 'error' }), registry: new Registry(), ttlSeconds: 3600 });
  await issuer.pushAccount(nats.url, A);
  await issuer.pushAccount(nats.url, B);
  creds.a = await mintSwarmUser(bundle.signingSeed, A, 'trainer', { ttlSeconds: 3600 });
  creds.b = await mintSwarmUser(bundle.signingSeed, B, 'trainer', { ttlSeconds: 3600 });
  creds.readerA = await mintSwarmUser(bundle.signingSeed, A, 'telemetry', { ttlSeconds: 0 });
});
afterEach(async () => {
  await fleet.stopAll();
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await issuer?.stop();
  await nats?.stop();
});

describe('NATS operator mode (real nats-server)', () => {
  it('refuses a client without credentials, and one whose account was never pushed', async () => {
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toThrow(/Authorization Violation/);
    const unknown = await mintSwarmUser(bundle.signingSeed, { namespace: 'x', name: 'y', uid: 'never-pushed' }, 'trainer', { ttlSeconds: 60 });
    await expect(connect({ servers: nats.url, reconnect: false, authenticator: credsAuthenticator(new TextEncoder().encode(unknown)) })).rejects.toThrow(/Authorization Violation/);
    const otherOperator = await createAuthBundle();
    const forged = await mintSwarmUser(otherOperator.signingSeed, A, 'trainer', { ttlSeconds: 60 });
    await expect(connect({ servers: nats.url, reconnect: false, authenticator: credsAuthenticator(new TextEncoder().encode(forged)) })).rejects.toThrow(/Authorization Violation/);
    // The longest names Kubernetes allows still fit the CONNECT line (the JWT lists every subject).
    const long = { namespace: 'n'.repeat(63), name: 's'.repeat(253), uid: 'uid-long' };
    await issuer.pushAccount(nats.url, long);
    const ok = await connect({ servers: nats.url, reconnect: false, authenticator: credsAuthenticator(new TextEncoder().encode(await mintSwarmUser(bundle.signingSeed, long, 'trainer', { ttlSeconds: 60 }))) });
    await ok.close();
  });

  it('lets a trainer of swarm A use its subjects, its membership and rounds KV and its checkpoint object store', async () => {
    const nc = await connectNats({ url: nats.url, credentials: creds.a, log: silentLogger });
    conns.push(nc);
    const metrics = createSwarmMetrics(new Registry());
    const [peer] = (await makePeerIds(1)) as [string];
    const m = await Membership.open(nc, { bucket: Buckets.membership(A), log: silentLogger, metrics });
    cleanups.push(() => m.close());
    await m.publish(makeRecord(peer, { updatedAt: Date.now() }));
    await waitFor(() => m.get(peer) !== undefined, { what: 'own record through the watch' });
    expect(await m.isRegistered(peer)).toBe(true);
    const mm = await Matchmaker.open(nc, { bucket: Buckets.rounds(A), selfPeerId: peer, maxGroupSize: 4, seed: 's', log: silentLogger, metrics });
    cleanups.push(() => mm.close());
    const round = await mm.formRound(0, [{ peerId: peer, weight: 1, multiaddrs: [] }]);
    expect(round?.leader).toBe(true);
    expect(await mm.swarmEpoch()).toBe(0);
    const os = await new Objm(nc).create(Buckets.checkpoints(A), { storage: 'file' });
    await os.putBlob({ name: 'ckpt-1' }, new Uint8Array(200_000).fill(7));
    expect((await os.getBlob('ckpt-1'))?.length).toBe(200_000);
    const got = new Promise<string>((resolve) => nc.subscribe(Subjects.progress(A), { max: 1, callback: (_e, msg) => resolve(msg.string()) }));
    await nc.flush();
    nc.publish(Subjects.progress(A), 'hello');
    expect(await got).toBe('hello');
    expect(await counterValue(metrics, {}, 'natsPermissionDenied')).toBe(0);
  });

  it('refuses a trainer of swarm A publishing or subscribing in swarm B, counts it and logs it; B hears nothing', async () => {
    const metrics = createSwarmMetrics(new Registry());
    const lines: { message: string; meta?: Record<string, unknown> }[] = [];
    const log: SwarmLogger = { ...silentLogger, warn: (message, meta) => lines.push({ message, ...(meta ? { meta } : {}) }) };
    const ncA = await connectNats({ url: nats.url, credentials: creds.a, log, metrics });
    conns.push(ncA);
    const ncB = await natsAs(creds.b);
    const heardByB: string[] = [];
    ncB.subscribe(Subjects.all(B), { callback: (_e, msg) => void heardByB.push(msg.string()) });
    await ncB.flush();

    ncA.publish(Subjects.telemetry(B), 'forged report');
    ncA.publish(Subjects.matchmaking(B), 'forged');
    await roundTrip(ncA);
    const subErr = new Promise<Error | undefined>((resolve) => ncA.subscribe(Subjects.all(B), { callback: (err) => resolve(err ?? undefined) }));
    await roundTrip(ncA);
    expect((await subErr)?.message).toMatch(/Permissions Violation for Subscription to "spotswarm\.team-b\.bert\.>"/);

    await waitFor(async () => (await counterValue(metrics, { operation: 'publish' }, 'natsPermissionDenied')) === 2, { what: 'two refused publishes counted' });
    expect(await counterValue(metrics, { operation: 'subscription' }, 'natsPermissionDenied')).toBe(1);
    expect(lines.filter((l) => l.message === 'NATS permission denied').map((l) => l.meta?.['subject'])).toEqual(
      expect.arrayContaining([Subjects.telemetry(B), Subjects.matchmaking(B), Subjects.all(B)]),
    );
    // B's own traffic still flows, and none of A's arrived.
    ncB.publish(Subjects.progress(B), 'from b');
    await waitFor(() => heardByB.includes('from b'), { what: 'B hears itself' });
    expect(heardByB).toEqual(['from b']);
  });

  it("refuses swarm A reading or writing swarm B's KV buckets and object store", async () => {
    const ncB = await natsAs(creds.b);
    const kvB = await new Kvm(ncB).create(Buckets.membership(B), { history: 1 });
    await kvB.put('secret', 'b-only');
    const osB = await new Objm(ncB).create(Buckets.checkpoints(B));
    await osB.putBlob({ name: 'ckpt' }, new Uint8Array(10));

    const ncA = await natsAs(creds.a);
    await expect(new Kvm(ncA).create(Buckets.membership(B))).rejects.toThrow(/Permissions Violation|permission/i);
    const bound = await new Kvm(ncA).open(Buckets.membership(B)); // binds without asking the server
    await expect(bound.get('secret')).rejects.toThrow(/Permissions Violation|permission/i);
    await expect(bound.put('intruder', 'x')).rejects.toThrow(/Permissions Violation|permission/i);
    await expect(new Objm(ncA).open(Buckets.checkpoints(B))).rejects.toThrow(/Permissions Violation|permission/i);
    await expect(ncA.request(`$JS.API.STREAM.INFO.KV_${Buckets.membership(B)}`, '', { timeout: 2_000 })).rejects.toThrow(/Permissions Violation|permission/i);
    expect((await kvB.get('intruder'))).toBeNull();
    expect((await kvB.get('secret'))?.string()).toBe('b-only');
  });

  it("keeps swarm B out of reach even of a user of A's account with every permission: stream capture and push-consumer injection stay inside A's account", async () => {
    const accountA = swarmAccountKey(bundle.signingSeed, A.uid);
    const u = createUser();
    const superA = await natsAs(new TextDecoder().decode(fmtCreds(await encodeUser('team-a/bert/root', u, accountA, {}), u)));
    const ncB = await natsAs(creds.b);
    const kvB = await new Kvm(ncB).create(Buckets.rounds(B), { history: 1 });
    const heardByB: string[] = [];
    ncB.subscribe(Subjects.all(B), { callback: (_e, msg) => void heardByB.push(msg.string()) });
    await ncB.flush();

    const jsm = await jetstreamManager(superA);
    // In one shared account both of these worked (see operator/natsauth/keys.ts); here they stay in A's account.
    await jsm.streams.add({ name: 'CAPTURE', subjects: [`$KV.${Buckets.rounds(B)}.>`, `${Subjects.all(B)}`] });
    await jsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] });
    superA.publish('evil.1', 'injected');
    await superA.flush();
    await jsm.consumers.add('EVIL', { name: 'to-b', deliver_subject: Subjects.telemetry(B), ack_policy: 'none' as never });
    await jsm.consumers.add('EVIL', { name: 'to-b-kv', deliver_subject: `$KV.${Buckets.rounds(B)}.round.0`, ack_policy: 'none' as never });

    await kvB.put('epoch', '3');
    ncB.publish(Subjects.progress(B), 'from b');
    await waitFor(() => heardByB.includes('from b'), { what: 'B hears itself' });
    await sleep(500);
    expect(heardByB).toEqual(['from b']);
    expect(await kvB.get('round.0')).toBeNull();
    expect((await kvB.get('epoch'))?.string()).toBe('3');
    expect((await jsm.streams.info('CAPTURE')).state.messages).toBe(0);
  });

  it('lets the operator reader subscribe to the telemetry of its swarm and do nothing else', async () => {
    const reader = await natsAs(creds.readerA);
    const ncA = await natsAs(creds.a);
    const reports = new Promise<string>((resolve) => reader.subscribe(Subjects.telemetry(A), { max: 1, callback: (_e, m) => resolve(m.string()) }));
    await reader.flush();
    ncA.publish(Subjects.telemetry(A), '{"v":1}');
    expect(await reports).toBe('{"v":1}');
    const subErr = new Promise<Error | undefined>((resolve) => reader.subscribe(Subjects.progress(A), { callback: (err) => resolve(err ?? undefined) }));
    await roundTrip(reader);
    expect((await subErr)?.message).toMatch(/Permissions Violation for Subscription/);
    const pubErr = new Promise<Error>((resolve) => void (async () => {
      for await (const s of reader.status()) if (s.type === 'error') return resolve(s.error);
    })());
    reader.publish(Subjects.telemetry(A), 'forged');
    await roundTrip(reader);
    expect((await pubErr).message).toMatch(/Permissions Violation for Publish/);
  });

  it("stops a process holding swarm A's credentials from registering in swarm B's membership, so B's libp2p gater refuses it", async () => {
    const metricsB = createSwarmMetrics(new Registry());
    const ncB = await connectNats({ url: nats.url, credentials: creds.b, log: silentLogger, metrics: metricsB });
    conns.push(ncB);
    const b = await Swarm.join({ nc: ncB, swarm: B, seed: 'x', pod: { name: 'b-0', ip: '127.0.0.1' }, p2pPort: 0, maxGroupSize: 4, log: silentLogger, metrics: metricsB });
    cleanups.push(() => b.leave());
    await b.register();
    await b.host.handle(Protocols.allReduce, (stream) => void stream.close().catch(() => undefined));

    // The intruder: a libp2p host of its own and swarm A's NATS credentials.
    const host = await createHost({ ip: '127.0.0.1', port: 0, connectionGater: {} });
    cleanups.push(() => host.stop());
    const intruder = host.peerId.toString();
    const metricsA = createSwarmMetrics(new Registry());
    const ncA = await connectNats({ url: nats.url, credentials: creds.a, log: silentLogger, metrics: metricsA });
    conns.push(ncA);
    await expect(Membership.open(ncA, { bucket: Buckets.membership(B), log: silentLogger, metrics: metricsA })).rejects.toThrow(/Permissions Violation|permission/i);
    ncA.publish(`$KV.${Buckets.membership(B)}.${intruder}`, JSON.stringify(makeRecord(intruder, { multiaddrs: hostMultiaddrs(host), updatedAt: Date.now() })));
    await roundTrip(ncA);
    await waitFor(async () => (await counterValue(metricsA, { operation: 'publish' }, 'natsPermissionDenied')) >= 1, { what: 'the refused write counted' });

    expect(await b.membership.isRegistered(intruder)).toBe(false);
    const dialed = await host.dialProtocol(multiaddr(b.multiaddrs[0]!), Protocols.allReduce, { signal: AbortSignal.timeout(10_000) }).then(() => true, () => false);
    expect(dialed).toBe(false);
    expect(await counterValue(metricsB, { direction: 'inbound' }, 'refusedConnections')).toBe(1);
  });

  it('runs real trainer processes with the issued .creds: two peers of swarm A average together, and nothing is refused', async () => {
    const training = { targetBatchSize: 40, averaging: { maxGroupSize: 4, compression: 'none', matchmakingWindowSeconds: 0, timeoutSeconds: 60 } };
    const env = { [Env.NatsCredentials]: creds.a, [Env.SyntheticVectorMb]: '0.01', [Env.SyntheticSamplesPerSecond]: '100', [Env.SyntheticSamplesPerEpoch]: '20', [Env.StopAfterEpochs]: '2' };
    const ts = ['a-0', 'a-1'].map((name) => fleet.spawn({ name, natsUrl: nats.url, swarm: { ...A, uid: A.uid }, training, env }));
    const finished = await Promise.all(ts.map((t) => t.waitFor('round finished')));
    expect(finished).toHaveLength(2);
    const exits = await Promise.all(ts.map((t) => t.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    for (const t of ts) expect(t.find('NATS permission denied')).toEqual([]);
  });
});
