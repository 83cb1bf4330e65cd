/**
 * State transfer between real libp2p hosts (TCP, noise, yamux on 127.0.0.1)
 * in this process, and checkpoints in a real nats-server's object store.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Libp2p, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { startNats, type NatsServer } from '../../../testkit/harness/index.ts';
import { createTestHost, introduce, randomVector } from '../averaging/index.ts';
import {
  CheckpointStore, createStateMetrics, decodeFrame, decodeState, downloadState, encodeFrame, encodeState, makeSnapshot, NoDonorError,
  sha256Hex, type Snapshot, StateConstants, StateServer, stateFingerprint, type StateMetrics,
} from './index.ts';

const FP = stateFingerprint({ test: 'state' });
const N = 30_000; // 3 arrays of 30k floats: ~360 KB, 23 chunks of 16 KiB
const CHUNK = 16 * 1024;

function state(epoch: number, seed = 1): Snapshot {
  const blob = encodeState({ epoch, mode: 'gradient', params: randomVector(seed, N), moments: { step: epoch, m: randomVector(seed + 1, N), v: randomVector(seed + 2, N) } }, FP);
  return makeSnapshot(blob, { epoch, mode: 'gradient', fingerprint: FP });
}

interface Logged {
  lines: { level: string; message: string; meta?: Record<string, unknown> }[];
  log: { debug: (m: string, meta?: Record<string, unknown>) => void; info: (m: string, meta?: Record<string, unknown>) => void; warn: (m: string, meta?: Record<string, unknown>) => void };
}
function logger(): Logged {
  const lines: Logged['lines'] = [];
  const at = (level: string) => (message: string, meta?: Record<string, unknown>): void => void lines.push({ level, message, ...(meta ? { meta } : {}) });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn') } };
}

async function counter(m: StateMetrics, key: keyof StateMetrics, labels: Record<string, string>): Promise<number> {
  const v = (await m[key].get()).values.find((x) => Object.entries(labels).every(([k, l]) => (x.labels as Record<string, unknown>)[k] === l));
  return v?.value ?? 0;
}

let hosts: Libp2p[] = [];
let servers: StateServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await Promise.all(hosts.map((h) => h.stop()));
  hosts = [];
  servers = [];
});

async function makeHosts(n: number): Promise<Libp2p[]> {
  const hs = await Promise.all(Array.from({ length: n }, () => createTestHost()));
  await introduce(hs);
  hosts.push(...hs);
  return hs;
}

async function serve(host: Libp2p, snap: () => Snapshot | undefined, metrics = createStateMetrics(new Registry()), log = logger().log): Promise<StateServer> {
  const s = new StateServer(host, { snapshot: snap, workloadEpoch: () => snap()?.epoch ?? 0, log, metrics, chunkBytes: CHUNK });
  await s.start();
  servers.push(s);
  return s;
}

/** A hostile donor: answers every request with `reply(request bytes)`. */
async function rawDonor(host: Libp2p, reply: (req: Uint8Array) => Uint8Array): Promise<void> {
  await host.handle(StateConstants.PROTOCOL, async (stream: Stream) => {
    const parts: Uint8Array[] = [];
    for await (const c of stream) parts.push(c instanceof Uint8Array ? c : c.subarray());
    stream.send(reply(Buffer.concat(parts)));
    await stream.close().catch(() => undefined);
  });
}

describe('state transfer', () => {
  it('downloads one state from two donors in parallel, checks it, and logs progress', async () => {
    const [d1, d2, joiner] = await makeHosts(3);
    const snap = state(7);
    await serve(d1!, () => snap);
    await serve(d2!, () => snap);
    const metrics = createStateMetrics(new Registry());
    const l = logger();
    const r = await downloadState({ host: joiner!, donors: [d1!.peerId.toString(), d2!.peerId.toString()], fingerprint: FP, log: l.log, metrics });
    expect(Buffer.from(r.blob).equals(Buffer.from(snap.blob))).toBe(true);
    expect(r.meta.epoch).toBe(7);
    expect(r.meta.chunks).toBe(Math.ceil(snap.blob.byteLength / CHUNK));
    expect(r.donors).toEqual([d1!.peerId.toString(), d2!.peerId.toString()].sort());
    expect(decodeState(r.blob, FP).state.epoch).toBe(7);
    expect(await counter(metrics, 'downloadedBytes', {})).toBe(snap.blob.byteLength);
    expect(l.lines.some((x) => x.message === 'state download progress' && x.meta?.['percent'] === 100)).toBe(true);
  });

  it('takes the newest state when donors disagree, and ignores donors of another model', async () => {
    const [old, fresh, other, joiner] = await makeHosts(4);
    await serve(old!, () => state(3));
    await serve(fresh!, () => state(4, 9));
    const foreign = encodeState({ epoch: 99, mode: 'diloco', params: new Float32Array(10), outerMomentum: new Float32Array(10) }, stateFingerprint('other'));
    await serve(other!, () => makeSnapshot(foreign, { epoch: 99, mode: 'diloco', fingerprint: stateFingerprint('other') }));
    const r = await downloadState({ host: joiner!, donors: [old, fresh, other].map((h) => h!.peerId.toString()), fingerprint: FP, log: logger().log, metrics: createStateMetrics(new Registry()) });
    expect(r.meta.epoch).toBe(4);
    expect(r.donors).toEqual([fresh!.peerId.toString()]);
  });

  it('drops a donor that sends corrupt chunks and bad frames (log line + metric), and completes from the honest one', async () => {
    const [honest, liar, joiner] = await makeHosts(3);
    const snap = state(5);
    await serve(honest!, () => snap);
    let lies = 0;
    await rawDonor(liar!, (req) => {
      const f = decodeFrame(req, StateConstants.MAX_REQUEST_BODY);
      if (f.type === 'getMeta') {
        return encodeFrame({ type: 'meta', epoch: 5, workloadEpoch: 5, totalBytes: snap.blob.byteLength, chunkBytes: CHUNK, chunks: Math.ceil(snap.blob.byteLength / CHUNK), mode: 'gradient', sha256: snap.sha256, fingerprint: FP });
      }
      lies++;
      if (lies % 2 === 1) {
        // a chunk whose digest does not match its data
        const data = new Uint8Array(16);
        return encodeFrame({ type: 'chunk', index: f.type === 'getChunk' ? f.index : 0, sha256: sha256Hex(Uint8Array.from([1])), data });
      }
      const bad = encodeFrame({ type: 'getMeta' });
      bad[0] = 9; // another frame version
      return bad;
    });
    const metrics = createStateMetrics(new Registry());
    const l = logger();
    const r = await downloadState({ host: joiner!, donors: [honest!.peerId.toString(), liar!.peerId.toString()], fingerprint: FP, log: l.log, metrics, perDonorParallel: 1 });
    expect(Buffer.from(r.blob).equals(Buffer.from(snap.blob))).toBe(true);
    expect(r.donors).toEqual([honest!.peerId.toString()]);
    expect(lies).toBeGreaterThanOrEqual(2);
    expect(await counter(metrics, 'badFrames', { side: 'client', reason: 'version' })).toBeGreaterThanOrEqual(1);
    expect(l.lines.some((x) => x.level === 'warn' && x.message === 'state: rejected a bad frame from a donor')).toBe(true);
    expect(l.lines.some((x) => x.message === 'state: dropping a donor' && x.meta?.['peer'] === liar!.peerId.toString())).toBe(true);
  });

  it('the donor rejects a malformed request with an ERROR frame, a log line and a metric', async () => {
    const [donor, client] = await makeHosts(2);
    const metrics = createStateMetrics(new Registry());
    const l = logger();
    await serve(donor!, () => state(1), metrics, l.log);
    const stream = await client!.dialProtocol(peerIdFromString(donor!.peerId.toString()), StateConstants.PROTOCOL);
    stream.send(Uint8Array.from([1, 3, 0, 0, 200, 0, 0, 0])); // GET_CHUNK announcing a 200-byte body: over the request limit
    await stream.close();
    const parts: Uint8Array[] = [];
    for await (const c of stream) parts.push(c instanceof Uint8Array ? c : c.subarray());
    const reply = decodeFrame(Buffer.concat(parts), StateConstants.MAX_RESPONSE_BODY);
    expect(reply).toMatchObject({ type: 'error', code: 'badRequest' });
    expect(await counter(metrics, 'badFrames', { side: 'server', reason: 'too_large' })).toBe(1);
    expect(l.lines.some((x) => x.message === 'state: rejected a bad request frame')).toBe(true);
  });

  it('keeps serving the previous snapshot after the donor moved on, and says when it has nothing', async () => {
    const [donor, joiner] = await makeHosts(2);
    let current: Snapshot | undefined;
    await serve(donor!, () => current);
    const o = { host: joiner!, donors: [donor!.peerId.toString()], fingerprint: FP, log: logger().log, metrics: createStateMetrics(new Registry()), attempts: 2, backoffMs: 10 };
    await expect(downloadState(o)).rejects.toThrow(NoDonorError);
    current = state(10);
    const first = current;
    // Move on after the first META: chunks of the old snapshot must still be served.
    let served = 0;
    const r = await downloadState({
      ...o,
      metrics: createStateMetrics(new Registry()),
      log: { ...o.log, info: (m: string) => { if (m === 'state download started' && served++ === 0) current = state(11, 5); } },
    });
    expect(r.meta.epoch).toBe(10);
    expect(Buffer.from(r.blob).equals(Buffer.from(first.blob))).toBe(true);
  });
});

describe('checkpoints in the NATS object store', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    // as the matchmaker creates the rounds bucket (marker TTL on: per-key TTLs allowed)
    await new Kvm(nc).create('ks_int_ckpt_rounds', { history: 1, markerTTL: 60_000 });
  });
  afterAll(async () => {
    await nc.close();
    await nats.stop();
  });

  const open = (metrics = createStateMetrics(new Registry()), l = logger()): Promise<CheckpointStore> =>
    CheckpointStore.open(nc, { bucket: 'ks_int_ckpt', electionBucket: 'ks_int_ckpt_rounds', log: l.log, metrics, kept: 3 });

  it('elects exactly one writer per epoch', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const won = await Promise.all([a.elect(5, 'peer-a'), b.elect(5, 'peer-b')]);
    expect(won.filter(Boolean)).toHaveLength(1);
    // Asking again tells the winner it won, and the loser it lost.
    expect(await a.elect(5, won[0] ? 'peer-a' : 'peer-b')).toBe(true);
    expect(await b.elect(5, won[0] ? 'peer-b' : 'peer-a')).toBe(false);
  });

  it('writes checkpoints, keeps the newest three, and loads the newest usable one', async () => {
    const metrics = createStateMetrics(new Registry());
    const l = logger();
    const store = await open(metrics, l);
    for (const e of [2, 4, 6, 8]) await store.write(e, state(e).blob, 'peer-a');
    expect((await store.list()).map((c) => c.name)).toEqual(['ckpt-e0000000008', 'ckpt-e0000000006', 'ckpt-e0000000004']);
    const latest = await store.latest(FP);
    expect(latest?.info).toMatchObject({ name: 'ckpt-e0000000008', epoch: 8, writer: 'peer-a' });
    expect(latest?.state.epoch).toBe(8);
    // A corrupt newest object is skipped (log line + metric), the previous one loads.
    const os = await new Objm(nc).open('ks_int_ckpt');
    await os.putBlob({ name: 'ckpt-e0000000010', metadata: { epoch: '10' } }, Uint8Array.from([1, 2, 3]));
    const fallback = await store.latest(FP);
    expect(fallback?.info.epoch).toBe(8);
    expect(await counter(metrics, 'checkpoints', { op: 'load', outcome: 'bad' })).toBe(1);
    expect(l.lines.some((x) => x.message === 'skipping an unusable checkpoint' && x.meta?.['name'] === 'ckpt-e0000000010')).toBe(true);
    expect(await store.latest(stateFingerprint('another model'))).toBeUndefined();
  });
});
