/**
 * Child process of bench/allreduce.ts (IPC messages in, IPC messages out).
 *
 * Modes (argv[2]):
 *   tcp-sink     listen on 127.0.0.1, count bytes, report when `total` arrived
 *   p2p-sink     libp2p host; count bytes on one stream, answer one byte when `total` arrived
 *   peer         one all-reduce peer: host + averager, runs the rounds it is told to
 */
import { createServer } from 'node:net';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { Registry } from 'prom-client';
import { averageVerified, createAverager, createTestHost, robustReduceInto, type RoundSpec, valueAt } from '../trainer-image/src/averaging/index.ts';

const P2P_BENCH_PROTOCOL = '/spotswarm/bench-throughput/1.0.0';

type Msg = Record<string, unknown> & { type: string };
const send = (m: Msg): void => void process.send!(m);
const onMessage = (fn: (m: Msg) => void | Promise<void>): void => {
  process.on('message', (m: Msg) => {
    Promise.resolve(fn(m)).catch((e: unknown) => {
      send({ type: 'error', error: e instanceof Error ? e.stack ?? e.message : String(e) });
      process.exit(1);
    });
  });
};
process.on('disconnect', () => process.exit(0));

async function tcpSink(): Promise<void> {
  let expected = Infinity;
  let got = 0;
  const server = createServer((sock) => {
    sock.on('data', (b: Buffer) => {
      got += b.byteLength;
      if (got >= expected) {
        sock.end('k');
        send({ type: 'received', bytes: got });
      }
    });
  });
  onMessage((m) => {
    if (m.type === 'expect') {
      expected = m.bytes as number;
      got = 0;
      send({ type: 'ready' });
    }
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    send({ type: 'listening', port: typeof a === 'object' && a ? a.port : 0 });
  });
}

async function p2pSink(): Promise<void> {
  const host = await createTestHost();
  let expected = Infinity;
  await host.handle(P2P_BENCH_PROTOCOL, (stream: Stream) => {
    let got = 0;
    stream.maxReadBufferLength = 64 * 1024 * 1024;
    stream.addEventListener('message', (evt) => {
      got += evt.data.byteLength;
      if (got >= expected) {
        stream.send(new Uint8Array([1]));
        void stream.close().catch(() => undefined);
      }
    });
  });
  let cpu0 = process.cpuUsage();
  onMessage((m) => {
    if (m.type === 'expect') {
      expected = m.bytes as number;
      cpu0 = process.cpuUsage();
      send({ type: 'ready' });
    } else if (m.type === 'cpu') {
      const c = process.cpuUsage(cpu0);
      send({ type: 'cpu', cpuMs: (c.user + c.system) / 1000 });
    }
  });
  send({ type: 'listening', peerId: host.peerId.toString(), addrs: host.getMultiaddrs().map(String) });
}

async function peer(): Promise<void> {
  const privateKey = await generateKeyPair('Ed25519');
  const host = await createTestHost({ privateKey });
  const registry = new Registry();
  // BENCH_LOG=1: the averager's warnings on stderr (why a round dropped someone)
  const warn = (m: string, meta?: Record<string, unknown>): void => void process.stderr.write(`[peer ${process.argv[3]}] ${m} ${JSON.stringify(meta)}\n`);
  const logger = process.env.BENCH_LOG ? { debug: process.env.BENCH_LOG === "debug" ? warn : () => undefined, info: warn, warn, error: warn } : undefined;
  const averager = createAverager(host, { privateKey, registry, ...(logger ? { logger } : {}) });
  const index = Number(process.argv[3]);
  let vector = new Float32Array(0);
  onMessage(async (m) => {
    if (m.type === 'peers') {
      const peers = m.peers as Array<{ peerId: string; addrs: string[] }>;
      for (const p of peers) {
        if (p.peerId === host.peerId.toString()) continue;
        await host.peerStore.merge(peerIdFromString(p.peerId), { multiaddrs: p.addrs.map((a) => multiaddr(a)) });
      }
      // connect up front (each pair once: the lower index dials), so the timed
      // rounds do not include dials and noise handshakes
      await Promise.all(peers.slice(index + 1).map(async (p) => {
        for (let attempt = 0; ; attempt++) {
          try {
            await host.dial(peerIdFromString(p.peerId));
            return;
          } catch (e) {
            if (attempt >= 4) throw e;
            await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
          }
        }
      }));
      send({ type: 'connected' });
    } else if (m.type === 'vector') {
      const length = m.length as number;
      vector = new Float32Array(length);
      for (let i = 0; i < length; i++) vector[i] = valueAt(index, i);
      send({ type: 'vector-ready' });
    } else if (m.type === 'run') {
      const spec = m.spec as RoundSpec;
      const rssBeforeKiB = process.memoryUsage().rss / 1024;
      const t = performance.now();
      const cpu0 = process.cpuUsage();
      const r = m.verify === true ? (await averageVerified(averager, spec, vector)).result : await averager.run(spec, vector);
      const ms = performance.now() - t;
      const cpu = process.cpuUsage(cpu0);
      // spot-check at sampled indices against the exact weighted mean, or the coordinate-wise
      // trimmed mean (members' values in peer-id order, as reducers see them)
      const weights = spec.members.map((x) => x.weight);
      const W = weights.reduce((a, b) => a + b, 0);
      const order = [...weights.keys()].sort((a, b) => (spec.members[a]!.peerId < spec.members[b]!.peerId ? -1 : 1));
      const one = new Float32Array(1);
      const expectedAt = (k: number): number => {
        if (spec.robust?.method === 'trimmed-mean') {
          robustReduceInto(spec.robust, order.map((j) => Float32Array.of(valueAt(j, k))), order.map((j) => weights[j]!), one);
          return one[0]!;
        }
        let sum = 0;
        for (let j = 0; j < weights.length; j++) sum += weights[j]! * valueAt(j, k);
        return sum / W;
      };
      let maxErr = 0;
      const samples = Math.min(2000, vector.length);
      for (let s = 0; s < samples; s++) {
        const k = Math.floor((s * vector.length) / samples);
        maxErr = Math.max(maxErr, Math.abs(r.vector[k]! - expectedAt(k)));
      }
      send({
        type: 'result', ms, cpuMs: (cpu.user + cpu.system) / 1000, maxErr, fractionAveraged: r.fractionAveraged, bytesSent: r.bytesSent, bytesReceived: r.bytesReceived,
        compression: r.compression, maxRssKiB: process.resourceUsage().maxRSS, rssBeforeKiB,
      });
    } else if (m.type === 'stop') {
      await averager.stop();
      await host.stop();
      process.exit(0);
    }
  });
  send({ type: 'listening', peerId: host.peerId.toString(), addrs: host.getMultiaddrs().map(String) });
}

const mode = process.argv[2];
if (mode === 'tcp-sink') await tcpSink();
else if (mode === 'p2p-sink') await p2pSink();
else if (mode === 'peer') await peer();
else throw new Error(`unknown mode ${mode}`);
