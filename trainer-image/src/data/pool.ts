/**
 * The swarm's pool of data units for one pass, and its transitions. Pure:
 * no I/O, the clock comes in. The shell (pool-kv.ts) keeps the state in one
 * JetStream KV value and applies a transition with a compare-and-set on the
 * value's revision, so two peers never both take a unit.
 *
 * A unit is, in a pass, either pending, leased (one peer reads it until its
 * lease expires), done or failed:
 *  - claim: a peer takes a pending unit (or a unit whose lease expired: its
 *    reader was preempted or lost) and holds a lease for `leaseMs`; a peer
 *    holds at most one lease;
 *  - renew: the reader extends its lease while it reads;
 *  - complete / fail: the reader's unit is done, or could not be read (it is
 *    not tried again in this pass);
 *  - release: the reader gives its unit back unfinished (SIGTERM);
 *  - next pass: the claim after the last unit is done or failed starts the
 *    next pass with every unit pending. A pass in which no unit could be read
 *    is started again only EMPTY_PASS_RETRY_MS after it began: a corpus that
 *    cannot be read is not spun on.
 */
import { hash32 } from './rng.ts';

export const POOL_VERSION = 1;
/** A pass with no unit read (all failed) is retried at most this often. */
export const EMPTY_PASS_RETRY_MS = 60_000;

export interface Lease {
  unit: number;
  peer: string;
  /** Unix ms (the holder's clock) after which another peer may take the unit. */
  expires: number;
}

export interface PoolState {
  v: typeof POOL_VERSION;
  /** Units in the corpus. */
  units: number;
  /** Passes over the corpus started before this one (0: the first). */
  pass: number;
  passStartedAt: number;
  /** Units read in this pass, ascending. */
  done: number[];
  /** Units that could not be read in this pass, ascending. */
  failed: number[];
  leases: Lease[];
}

/** Where a swarm is in its data: what checkpoints record. */
export interface DataPosition {
  pass: number;
  done: number[];
}

export function initialPool(units: number, now: number): PoolState {
  return { v: POOL_VERSION, units, pass: 0, passStartedAt: now, done: [], failed: [], leases: [] };
}

/** The pool at a checkpoint's position: its pass, its done units, nothing leased. */
export function restorePool(units: number, p: DataPosition, now: number): PoolState {
  return { ...initialPool(units, now), pass: p.pass, done: p.done.filter((u) => u < units) };
}

export function positionOf(s: PoolState): DataPosition {
  return { pass: s.pass, done: s.done };
}

function insertSorted(xs: readonly number[], x: number): number[] {
  const out = xs.filter((y) => y !== x);
  out.push(x);
  return out.sort((a, b) => a - b);
}

function passEnded(s: PoolState): boolean {
  return s.leases.length === 0 && s.done.length + s.failed.length >= s.units;
}

export type Claim =
  | { kind: 'claimed'; unit: number; state: PoolState; newPass: boolean; tookOver: Lease | undefined }
  | { kind: 'held'; unit: number; state: PoolState }
  | { kind: 'wait'; reason: 'all-leased' | 'empty-pass' };

export interface ClaimInput {
  peer: string;
  now: number;
  leaseMs: number;
}

/**
 * A unit for `peer`: the one it holds (its lease renewed), else a pending one
 * (the first from a point that depends on the peer and the pass, so peers
 * spread over the corpus and each pass reads it in another order), else one
 * whose lease expired; at the end of a pass, from the next pass.
 */
export function claim(s0: PoolState, i: ClaimInput): Claim {
  const mine = s0.leases.find((l) => l.peer === i.peer);
  if (mine) return { kind: 'held', unit: mine.unit, state: { ...s0, leases: s0.leases.map((l) => (l === mine ? { ...l, expires: i.now + i.leaseMs } : l)) } };
  let s = s0;
  let newPass = false;
  if (passEnded(s)) {
    if (s.done.length === 0 && i.now - s.passStartedAt < EMPTY_PASS_RETRY_MS) return { kind: 'wait', reason: 'empty-pass' };
    s = { ...s, pass: s.pass + 1, passStartedAt: i.now, done: [], failed: [] };
    newPass = true;
  }
  const taken = new Set<number>([...s.done, ...s.failed]);
  const leased = new Map(s.leases.map((l) => [l.unit, l]));
  const from = hash32(`${i.peer}/${s.pass}`) % s.units;
  let expired: Lease | undefined;
  for (let k = 0; k < s.units; k++) {
    const u = (from + k) % s.units;
    if (taken.has(u)) continue;
    const l = leased.get(u);
    if (l === undefined) return take(s, i, u, newPass, undefined);
    if (l.expires <= i.now && expired === undefined) expired = l;
  }
  if (expired !== undefined) return take(s, i, expired.unit, newPass, expired);
  return { kind: 'wait', reason: 'all-leased' };
}

function take(s: PoolState, i: ClaimInput, unit: number, newPass: boolean, tookOver: Lease | undefined): Claim {
  const leases = s.leases.filter((l) => l.unit !== unit);
  leases.push({ unit, peer: i.peer, expires: i.now + i.leaseMs });
  return { kind: 'claimed', unit, newPass, tookOver, state: { ...s, leases } };
}

export interface UnitRef {
  peer: string;
  unit: number;
  /** The pass the unit was claimed in. */
  pass: number;
}

export type Update = { ok: true; state: PoolState } | { ok: false; reason: 'other-pass' | 'not-held' | 'finished' | 'taken' };

/** Extends the lease `peer` holds on `unit` (also once expired, as long as nobody took the unit). */
export function renew(s: PoolState, r: UnitRef & { now: number; leaseMs: number }): Update {
  if (s.pass !== r.pass) return { ok: false, reason: 'other-pass' };
  const l = s.leases.find((x) => x.unit === r.unit);
  if (l === undefined || l.peer !== r.peer) return { ok: false, reason: 'not-held' };
  return { ok: true, state: { ...s, leases: s.leases.map((x) => (x === l ? { ...x, expires: r.now + r.leaseMs } : x)) } };
}

/**
 * `peer` finished `unit` (read it, or found it unreadable). Accepted while
 * nobody else holds a live lease on it: a reader whose lease expired but
 * was not taken over still counts.
 */
function finish(s: PoolState, r: UnitRef & { now: number }, into: 'done' | 'failed'): Update {
  if (s.pass !== r.pass) return { ok: false, reason: 'other-pass' };
  if (s.done.includes(r.unit) || s.failed.includes(r.unit)) return { ok: false, reason: 'finished' };
  const l = s.leases.find((x) => x.unit === r.unit);
  if (l !== undefined && l.peer !== r.peer && l.expires > r.now) return { ok: false, reason: 'taken' };
  const leases = s.leases.filter((x) => x.unit !== r.unit);
  return { ok: true, state: { ...s, leases, [into]: insertSorted(s[into], r.unit) } };
}

export function complete(s: PoolState, r: UnitRef & { now: number }): Update {
  return finish(s, r, 'done');
}

export function fail(s: PoolState, r: UnitRef & { now: number }): Update {
  return finish(s, r, 'failed');
}

/** `peer` gives back what it holds, unfinished: the unit is pending again. */
export function release(s: PoolState, peer: string): PoolState {
  return { ...s, leases: s.leases.filter((l) => l.peer !== peer) };
}

/** Share of the corpus done in this pass: by bytes when the sizes are known, else by units. */
export function doneShare(s: PoolState, unitBytes: readonly number[]): number {
  const total = unitBytes.reduce((a, b) => a + b, 0);
  if (total === 0) return s.units === 0 ? 0 : s.done.length / s.units;
  return s.done.reduce((a, u) => a + (unitBytes[u] ?? 0), 0) / total;
}

function indexList(v: unknown, field: string, units: number): number[] {
  if (!Array.isArray(v)) throw new Error(`pool.${field}: must be an array`);
  v.forEach((u, k) => {
    if (!Number.isInteger(u) || u < 0 || u >= units) throw new Error(`pool.${field}[${k}]: must be a unit index in [0, ${units})`);
  });
  return v as number[];
}

/** Strict decoder of a stored pool (another process wrote it) for a corpus of `units` units: names the first bad field. */
export function parsePool(raw: unknown, units: number): PoolState {
  const p = raw as Partial<PoolState> | null;
  if (typeof p !== 'object' || p === null) throw new Error('pool: not an object');
  if (p.v !== POOL_VERSION) throw new Error(`pool.v: unsupported version ${String(p.v)}`);
  if (p.units !== units) throw new Error(`pool.units: ${String(p.units)}, the corpus has ${units}`);
  for (const f of ['pass', 'passStartedAt'] as const) if (!Number.isInteger(p[f]) || (p[f] as number) < 0) throw new Error(`pool.${f}: must be an integer >= 0`);
  indexList(p.done, 'done', units);
  indexList(p.failed, 'failed', units);
  if (!Array.isArray(p.leases)) throw new Error('pool.leases: must be an array');
  p.leases.forEach((l: Partial<Lease>, k) => {
    if (!Number.isInteger(l?.unit) || (l.unit as number) < 0 || (l.unit as number) >= units) throw new Error(`pool.leases[${k}].unit: must be a unit index`);
    if (typeof l.peer !== 'string' || l.peer === '') throw new Error(`pool.leases[${k}].peer: must be a non-empty string`);
    if (typeof l.expires !== 'number' || !Number.isFinite(l.expires)) throw new Error(`pool.leases[${k}].expires: must be a number`);
  });
  return p as PoolState;
}

/** A checkpoint's recorded position, or undefined when it records none or a bad one. */
export function parsePosition(text: string | undefined): DataPosition | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    const p = JSON.parse(text) as Partial<DataPosition>;
    if (!Number.isInteger(p.pass) || (p.pass as number) < 0 || !Array.isArray(p.done) || !p.done.every((u) => Number.isInteger(u) && u >= 0)) return undefined;
    return { pass: p.pass as number, done: p.done };
  } catch {
    return undefined;
  }
}
