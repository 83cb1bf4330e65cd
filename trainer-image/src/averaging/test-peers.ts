/**
 * Averagers on in-process libp2p hosts, and the exact arithmetic the
 * averaging integration tests check their rounds against.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Libp2p, PrivateKey } from '@libp2p/interface';
import { Registry } from 'prom-client';
import { createAverager, type Averager, type AveragerOptions, type GroupMember, type RoundSpec } from './index.ts';
import { createTestHost, introduce, valueAt } from './testing.ts';

export interface Peer {
  host: Libp2p;
  privateKey: PrivateKey;
  averager: Averager;
  registry: Registry;
  id: string;
  /** warn/error log lines of this peer's averager */
  warnings: string[];
}

let peers: Peer[] = [];

/**
 * Deadlines for tests that are not about deadlines: generous enough that a
 * loaded 2-core machine never drops a live peer, so these tests check only
 * the data path. Real failures (disconnects, LEAVE, bad frames) do not wait
 * for deadlines anyway.
 */
const PATIENT: Omit<AveragerOptions, 'privateKey'> = { deadlines: { slackMs: 30_000, stallMs: 60_000 } };

export async function startPeers(n: number, opts: Omit<AveragerOptions, 'privateKey'> = PATIENT): Promise<Peer[]> {
  const keys = await Promise.all(Array.from({ length: n }, () => generateKeyPair('Ed25519')));
  const hosts = await Promise.all(keys.map((privateKey) => createTestHost({ privateKey })));
  await introduce(hosts);
  const started = hosts.map((host, i) => {
    const registry = new Registry();
    const warnings: string[] = [];
    const keep = (m: string, meta?: Record<string, unknown>): void => void warnings.push(`${m} ${JSON.stringify(meta)}`);
    const logger = { debug: () => undefined, info: () => undefined, warn: keep, error: keep };
    return { host, privateKey: keys[i]!, registry, averager: createAverager(host, { ...opts, privateKey: keys[i]!, registry, logger }), id: host.peerId.toString(), warnings };
  });
  peers.push(...started);
  return started;
}

/** Stop every peer `startPeers` started (call it after each test). */
export async function stopPeers(): Promise<void> {
  const ps = peers;
  peers = [];
  await Promise.all(ps.map((p) => p.averager.stop()));
  await Promise.all(ps.map((p) => p.host.stop()));
}

/** Dyadic values k/1024, |k| < 2^13: weighted sums of them are exact in float64, so the mean is exact after one rounding. */
const { round } = Math;
export function dyadic(seed: number, length: number): Float32Array {
  const v = new Float32Array(length);
  for (let i = 0; i < length; i++) v[i] = round(valueAt(seed, i) * 8000) / 1024;
  return v;
}

/** The exact sample-weighted mean over `who`, rounded once to float32. */
export function weightedMean(vectors: Float32Array[], weights: number[], who: number[]): Float32Array {
  const out = new Float32Array(vectors[0]!.length);
  const W = who.reduce((a, i) => a + weights[i]!, 0);
  for (let k = 0; k < out.length; k++) {
    let s = 0;
    for (const i of who) s += weights[i]! * vectors[i]![k]!;
    out[k] = s / W;
  }
  return out;
}

/** First element whose bits differ (so -0 ≠ 0 and NaN = NaN), or -1. */
export function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return k;
  return -1;
}

export async function metric(p: Peer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = p.registry.getSingleMetric(name);
  if (!m) return 0;
  const v = await m.get();
  return v.values.filter((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val)).reduce((a, x) => a + x.value, 0);
}

export function members(ps: Peer[], weights: number[], bandwidths?: number[]): GroupMember[] {
  return ps.map((p, i) => ({ peerId: p.id, weight: weights[i]!, ...(bandwidths ? { bandwidth: bandwidths[i]! } : {}) }));
}

/** Member indices `idx` in peer-id order: the order robust rules see parts in. */
export function byPeerId(ps: Peer[], idx: number[]): number[] {
  return [...idx].sort((a, b) => (ps[a]!.id < ps[b]!.id ? -1 : 1));
}

export function spec(roundId: string, group: GroupMember[], over: Partial<RoundSpec> = {}): RoundSpec {
  return { roundId, members: group, compression: 'none', timeoutMs: 60_000, ...over };
}

export const MiB = 1 << 20;
