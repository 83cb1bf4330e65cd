/**
 * Shared harness for the averaging tests and bench: real libp2p hosts (TCP,
 * noise, yamux) on 127.0.0.1 that know each other's addresses. Production
 * hosts come from swarm/ (with the membership connection gater); this one
 * has no gater, since tests here exercise only the all-reduce protocol.
 */
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { tcp } from '@libp2p/tcp';
import { createLibp2p } from 'libp2p';

/** `privateKey`: the identity, for an averager on this host (it signs with it); a fresh one when omitted. */
export async function createTestHost(opts: { yamux?: Parameters<typeof yamux>[0]; privateKey?: PrivateKey } = {}): Promise<Libp2p> {
  return createLibp2p({
    ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux(opts.yamux)],
    // libp2p's connection monitor pings every 10 s and, by default, aborts a
    // connection whose ping takes longer than its adaptive timeout (>= 5 s).
    // During a large all-reduce on a loaded machine a ping queues behind
    // megabytes of bulk data and busy event loops: the monitor then kills
    // healthy connections mid-round. The all-reduce has its own deadlines.
    connectionMonitor: { abortConnectionOnPingFailure: false },
  });
}

/** Add every host's listen addresses to every other host's peer store. */
export async function introduce(hosts: Libp2p[]): Promise<void> {
  for (const a of hosts) {
    for (const b of hosts) {
      if (a === b) continue;
      await a.peerStore.merge(b.peerId, { multiaddrs: b.getMultiaddrs() });
    }
  }
}

const imul = Math.imul;

/** Deterministic pseudo-random float32 in [-1, 1) for (seed, index): random access, no state. */
export function valueAt(seed: number, i: number): number {
  let x = (imul(i ^ 0x9e3779b9, 0x85ebca6b) ^ imul(seed + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  x ^= x >>> 16;
  x = imul(x, 0x7feb352d) >>> 0;
  x ^= x >>> 15;
  x = imul(x, 0x846ca68b) >>> 0;
  x ^= x >>> 16;
  return (x >>> 8) / (1 << 23) - 1;
}

export function randomVector(seed: number, length: number): Float32Array {
  const v = new Float32Array(length);
  for (let i = 0; i < length; i++) v[i] = valueAt(seed, i);
  return v;
}
