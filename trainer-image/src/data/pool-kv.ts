/**
 * The swarm's data pool in JetStream KV: the shell around pool.ts. Two keys
 * per corpus in the swarm's rounds bucket:
 *  - `data.<key>.corpus`: the files and their sizes (corpus.ts), written once
 *    by the first peer (create), so that every peer cuts the same units;
 *  - `data.<key>.pool`: the pool state (pool.ts), changed only by
 *    compare-and-set on its revision: a transition computed from a stale
 *    value is refused by the server and recomputed from the fresh one.
 * `<key>` hashes the data URLs and the unit size: a spec with other data
 * starts its own pool.
 *
 * documents() is the peer's endless stream of lines: it claims a unit,
 * renews the lease every third of its duration while the lines are read
 * (also while the consumer is busy computing), marks the unit done at its
 * end or failed when it cannot be read, and claims the next; release()
 * gives the unit back on SIGTERM.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KV } from '@nats-io/kv';
import { Counter, Gauge, type Registry } from 'prom-client';
import { errorMessage, type Logger } from '../common/index.ts';
import { measureCorpus } from './corpus.ts';
import {
  claim, type Claim, complete, type DataPosition, doneShare, fail, initialPool, parsePool, type PoolState, positionOf, release, renew, restorePool, type Update,
} from './pool.ts';
import { DataUnitError, unitLines } from './unit-reader.ts';
import { type Corpus, corpusKey, parseCorpus, type Unit, unitName, unitsOf } from './units.ts';

/** A lease lasts this long unless renewed: a preempted peer's unit is free again this long after its last renewal. */
export const DEFAULT_LEASE_MS = 30_000;
/** Wait before claiming again when every unit is leased (or the pass had nothing readable). */
const CLAIM_RETRY_MS = 1_000;
/** Compare-and-set attempts before a transition gives up (many peers writing at once). */
const CAS_ATTEMPTS = 50;

export interface DataMetrics {
  units: Counter<'outcome'>;
  pass: Gauge;
  doneRatio: Gauge;
}

export function createDataMetrics(r: Registry): DataMetrics {
  return {
    units: new Counter({ name: 'spotswarm_trainer_data_units_total', help: 'Data units this peer handled, by outcome (done, failed: unreadable, released: given back on stop, lost: its lease was taken over, tookOver: claimed after another peer\'s lease expired)', labelNames: ['outcome'], registers: [r] }),
    pass: new Gauge({ name: 'spotswarm_trainer_data_pass', help: 'The swarm\'s pass over its corpus (0: the first), as this peer last saw the pool', registers: [r] }),
    doneRatio: new Gauge({ name: 'spotswarm_trainer_data_pass_done_ratio', help: 'Share of the corpus (by bytes) read in the current pass, as this peer last saw the pool', registers: [r] }),
  };
}

export interface DataPoolOptions {
  /** The swarm's rounds bucket. */
  kv: KV;
  urls: readonly string[];
  unitBytes: number;
  peerId: string;
  log: Logger;
  metrics: DataMetrics;
  now: () => number;
  /** @default DEFAULT_LEASE_MS */
  leaseMs?: number;
  /** Aborts reads and waits on stop. */
  signal: AbortSignal;
  /** Called for a unit that cannot be read (after it was marked failed): the hook for a Degraded condition. */
  onUnreadable?: (e: DataUnitError) => void;
}

/** Where the swarm is in its data, for telemetry. */
export interface DataProgress {
  pass: number;
  /** Share of the corpus read in this pass, 0..1. */
  done: number;
}

export class DataPool {
  readonly #o: DataPoolOptions;
  readonly #units: Unit[];
  readonly #unitBytes: number[];
  readonly #poolKey: string;
  readonly #leaseMs: number;
  /** The pool as last read or written. */
  #last: PoolState | undefined;

  private constructor(o: DataPoolOptions, units: Unit[], poolKey: string) {
    this.#o = o;
    this.#units = units;
    this.#unitBytes = units.map((u) => u.bytes);
    this.#poolKey = poolKey;
    this.#leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
  }

  /** Reads (or, first in the swarm, measures and writes) the corpus, and cuts it into units. */
  static async open(o: DataPoolOptions): Promise<DataPool> {
    const key = `data.${corpusKey(o.urls, o.unitBytes)}`;
    let corpus = await readCorpus(o.kv, `${key}.corpus`);
    if (corpus === undefined) {
      const measured = await measureCorpus(o.urls, o.unitBytes, { signal: o.signal, warn: (url, error) => o.log.warn('could not measure a data file; it is one unit', { url, error }) });
      try {
        await o.kv.create(`${key}.corpus`, JSON.stringify(measured));
        corpus = measured;
      } catch (e) {
        corpus = await readCorpus(o.kv, `${key}.corpus`);
        if (corpus === undefined) throw e;
      }
    }
    const units = unitsOf(corpus);
    o.log.info('data units', { units: units.length, files: corpus.files.length, unitBytes: corpus.unitBytes, bytes: corpus.files.reduce((a, f) => a + f.size, 0), key });
    return new DataPool(o, units, `${key}.pool`);
  }

  get units(): readonly Unit[] {
    return this.#units;
  }

  /** The pass and the share done, as this peer last saw the pool (undefined before it first did). */
  progress(): DataProgress | undefined {
    const s = this.#last;
    return s === undefined ? undefined : { pass: s.pass, done: doneShare(s, this.#unitBytes) };
  }

  /** The position a checkpoint records: the pool as last seen (at most a lease renewal old). */
  position(): DataPosition | undefined {
    return this.#last === undefined ? undefined : positionOf(this.#last);
  }

  /** Resuming from a checkpoint: when the swarm has no pool (its NATS state was lost), the checkpoint's position starts it. */
  async restore(p: DataPosition): Promise<void> {
    const restored = await this.#update((s) => (s === undefined ? { result: true, state: restorePool(this.#units.length, p, this.#o.now()) } : { result: false }));
    if (restored) this.#o.log.info('data pool restored from the checkpoint', { pass: p.pass, doneUnits: p.done.length });
  }

  /** SIGTERM: gives the unit this peer reads back to the pool. */
  async release(): Promise<void> {
    const held = this.#last?.leases.find((l) => l.peer === this.#o.peerId);
    await this.#update((s) => (s?.leases.some((l) => l.peer === this.#o.peerId) ? { result: undefined, state: release(s, this.#o.peerId) } : { result: undefined }));
    if (held !== undefined) {
      this.#o.metrics.units.inc({ outcome: 'released' });
      this.#o.log.info('data unit released', { unit: unitName(this.#units[held.unit]!), index: held.unit, pass: this.#last?.pass });
    }
  }

  /** This peer's lines, unit after unit, pass after pass; ends on abort. */
  async *documents(): AsyncGenerator<string> {
    const { log, metrics, signal, peerId } = this.#o;
    while (!signal.aborted) {
      let c: Claim;
      try {
        c = await this.#update((s): { result: Claim; state?: PoolState } => {
          const r = claim(s ?? initialPool(this.#units.length, this.#o.now()), { peer: peerId, now: this.#o.now(), leaseMs: this.#leaseMs });
          return r.kind === 'wait' ? { result: r } : { result: r, state: r.state };
        });
      } catch (e) {
        // NATS away: the stream of documents waits, it does not end.
        log.warn('could not claim a data unit; retrying', { error: errorMessage(e) });
        c = { kind: 'wait', reason: 'all-leased' };
      }
      if (c.kind === 'wait') {
        await sleep(CLAIM_RETRY_MS, undefined, { signal }).catch(() => undefined);
        continue;
      }
      const unit = this.#units[c.unit]!;
      const pass = c.state.pass;
      if (c.kind === 'claimed' && c.newPass) log.info('data pass started', { pass });
      if (c.kind === 'claimed' && c.tookOver) metrics.units.inc({ outcome: 'tookOver' });
      log.info('data unit claimed', { unit: unitName(unit), index: c.unit, pass, tookOverFrom: c.kind === 'claimed' ? c.tookOver?.peer : undefined });
      yield* this.#read(unit, pass);
    }
  }

  async *#read(unit: Unit, pass: number): AsyncGenerator<string> {
    const { log, metrics, peerId } = this.#o;
    const ref = { peer: peerId, unit: unit.index, pass };
    const reading = new AbortController();
    const stop = (): void => reading.abort();
    this.#o.signal.addEventListener('abort', stop);
    let lost = false;
    const timer = setInterval(() => {
      void this.#transition((s) => renew(s, { ...ref, now: this.#o.now(), leaseMs: this.#leaseMs }))
        .then((r) => {
          if (r.ok || lost) return;
          lost = true;
          reading.abort();
          metrics.units.inc({ outcome: 'lost' });
          log.warn('lost the lease on a data unit; leaving it to its new reader', { unit: unitName(unit), pass, reason: r.reason });
        })
        .catch((e: unknown) => log.warn('could not renew a data unit lease', { unit: unitName(unit), error: errorMessage(e) }));
    }, this.#leaseMs / 3);
    let lines = 0;
    try {
      for await (const line of unitLines(unit, { signal: reading.signal })) {
        lines++;
        if (line.trim() !== '') yield line;
      }
    } catch (e) {
      if (lost || this.#o.signal.aborted) return;
      const err = e instanceof DataUnitError ? e : new DataUnitError(unit, errorMessage(e));
      metrics.units.inc({ outcome: 'failed' });
      log.warn('data unit unreadable', { unit: err.unit, index: unit.index, pass, error: err.message });
      const r = await this.#transition((s) => fail(s, { ...ref, now: this.#o.now() })).catch((x: unknown) => ({ ok: false, reason: errorMessage(x) }));
      if (!r.ok) log.warn('could not mark a data unit failed', { unit: err.unit, reason: r.reason });
      this.#o.onUnreadable?.(err);
      return;
    } finally {
      clearInterval(timer);
      this.#o.signal.removeEventListener('abort', stop);
    }
    if (lost) return;
    const r = await this.#transition((s) => complete(s, { ...ref, now: this.#o.now() })).catch((x: unknown) => ({ ok: false as const, reason: errorMessage(x) }));
    if (r.ok) {
      metrics.units.inc({ outcome: 'done' });
      log.info('data unit done', { unit: unitName(unit), index: unit.index, pass, lines });
    } else log.warn('a data unit was read but not counted as done', { unit: unitName(unit), index: unit.index, pass, reason: r.reason });
  }

  /** A transition of an existing pool (one that is gone refuses it as not held). */
  #transition(f: (s: PoolState) => Update): Promise<Update> {
    return this.#update((s) => {
      if (s === undefined) return { result: { ok: false, reason: 'not-held' } as Update };
      const u = f(s);
      return u.ok ? { result: u, state: u.state } : { result: u };
    });
  }

  /** Read, compute, compare-and-set; recomputed when another peer wrote in between. */
  async #update<T>(f: (s: PoolState | undefined) => { result: T; state?: PoolState }): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const e = await this.#o.kv.get(this.#poolKey);
      const present = e !== null && e.operation === 'PUT';
      let cur: PoolState | undefined;
      if (present) {
        try {
          cur = parsePool(e.json(), this.#units.length);
        } catch (err) {
          this.#o.log.warn('the data pool in NATS is unreadable; starting the pass over', { key: this.#poolKey, error: errorMessage(err) });
        }
      }
      const { result, state } = f(cur);
      if (cur !== undefined) this.#seen(cur);
      if (state === undefined) return result;
      try {
        const value = JSON.stringify(state);
        if (present) await this.#o.kv.update(this.#poolKey, value, e.revision);
        else await this.#o.kv.create(this.#poolKey, value);
        this.#seen(state);
        return result;
      } catch (err) {
        if (attempt >= CAS_ATTEMPTS) throw err;
        await sleep(Math.random() * 20 * Math.min(attempt, 10));
      }
    }
  }

  #seen(s: PoolState): void {
    this.#last = s;
    this.#o.metrics.pass.set(s.pass);
    this.#o.metrics.doneRatio.set(doneShare(s, this.#unitBytes));
  }
}

async function readCorpus(kv: KV, key: string): Promise<Corpus | undefined> {
  const e = await kv.get(key);
  if (e === null || e.operation !== 'PUT') return undefined;
  return parseCorpus(e.json());
}
