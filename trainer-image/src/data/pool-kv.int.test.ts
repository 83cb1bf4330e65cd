/**
 * The data pool against a real nats-server: peers reading at once through
 * compare-and-set never take the same unit, every unit is read once per
 * pass, an unreadable unit is marked failed (hook, metric, log line), a
 * released unit goes back to the pool, and a corpus listed by a manifest, of
 * compressed and JSON Lines shards, is read the same way.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync, zstdCompressSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { startNats, type NatsServer } from '../../../testkit/harness/index.ts';
import type { Logger } from '../common/index.ts';
import { createDataMetrics, DataPool } from './pool-kv.ts';
import { DataSourceError } from './source.ts';
import type { DataUnitError } from './unit-reader.ts';

type Line = { message: string; meta: Record<string, unknown> };

function capture(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const push = (message: string, meta: Record<string, unknown> = {}): void => void lines.push({ message, meta });
  return { lines, debug: push, info: push, warn: push, error: push };
}

let nats: NatsServer;
let nc: NatsConnection;
let kv: KV;
let dir: string;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  kv = await new Kvm(nc).create('ks_int_data_rounds', { history: 1 });
  dir = mkdtempSync(join(tmpdir(), 'spotswarm-pool-'));
});

afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('data pool in NATS KV', () => {
  it('three peers read a corpus of files and byte ranges at once: each unit once per pass, the unreadable one failed, the pass moves on', async () => {
    const urls: string[] = [];
    let goodLines = 0;
    for (let f = 0; f < 8; f++) {
      const path = join(dir, `doc${f}.txt`);
      // Files 0-1 are larger than the unit size: several byte ranges each.
      const n = f < 2 ? 60 : 6;
      writeFileSync(path, Array.from({ length: n }, (_, l) => `file ${f} line ${l} of the corpus`).join('\n') + '\n');
      goodLines += n;
      urls.push(path);
    }
    const bad = join(dir, 'latin1.txt');
    writeFileSync(bad, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    urls.push(bad);
    const abort = new AbortController();
    const registry = new Registry();
    const metrics = createDataMetrics(registry);
    const logs = [capture(), capture(), capture()];
    const unreadable: DataUnitError[] = [];
    const pools = await Promise.all(['pa', 'pb', 'pc'].map((peerId, i) => DataPool.open({
      kv, urls, unitBytes: 512, peerId, log: logs[i]!, metrics, now: Date.now, signal: abort.signal, onUnreadable: (e) => unreadable.push(e),
    })));
    const all = (): Line[] => logs.flatMap((l) => l.lines);
    const units = pools[0]!.units.length;
    expect(units).toBeGreaterThan(urls.length);
    expect(pools.every((p) => p.units.length === units)).toBe(true);
    // Each line takes a little time to use, as training on it would: a unit is read for longer than a claim
    // takes, so every peer claims units while the others read (a reader that never yields could take them all).
    const readers = pools.map(async (p) => {
      for await (const _ of p.documents()) await new Promise((r) => setTimeout(r, 10));
    });
    // The pass is over once some peer started the next one.
    await waitFor(async () => all().some((l) => l.message === 'data pass started' && l.meta['pass'] === 1));
    abort.abort();
    await Promise.all(readers);

    const done = all().filter((l) => l.message === 'data unit done' && l.meta['pass'] === 0);
    const indices = done.map((l) => l.meta['index'] as number).sort((a, b) => a - b);
    expect(indices).toEqual([...Array(units - 1).keys()]); // every unit but the last (the bad file), once
    expect(done.reduce((a, l) => a + (l.meta['lines'] as number), 0)).toBe(goodLines);
    expect(unreadable.map((e) => e.message)).toEqual([`data unit ${bad}: not UTF-8 text (the line at byte 0)`]);
    expect(all().filter((l) => l.message === 'data unit unreadable').map((l) => l.meta['unit'])).toEqual([bad]);
    const text = await registry.metrics();
    expect(text).toMatch(/spotswarm_trainer_data_units_total\{outcome="failed"\} 1\n/);
    const doneAllPasses = all().filter((l) => l.message === 'data unit done').length;
    expect(text).toContain(`spotswarm_trainer_data_units_total{outcome="done"} ${doneAllPasses}\n`);
    // Spread over the peers, and nobody took over a lease (none expired).
    for (const l of logs) expect(l.lines.some((x) => x.message === 'data unit done' && x.meta['pass'] === 0)).toBe(true);
    expect(all().filter((l) => l.message === 'data unit claimed').every((l) => l.meta['tookOverFrom'] === undefined)).toBe(true);
  });

  it('a released unit goes back to the pool, and a pool that is gone is restored from a checkpoint position', async () => {
    const path = join(dir, 'one.txt');
    writeFileSync(path, 'a\nb\n');
    const other = join(dir, 'two.txt');
    writeFileSync(other, 'c\n');
    const abort = new AbortController();
    const log = capture();
    const open = (peerId: string): Promise<DataPool> => DataPool.open({ kv, urls: [path, other], unitBytes: 1024, peerId, log, metrics: createDataMetrics(new Registry()), now: Date.now, signal: abort.signal });
    const [a, b] = await Promise.all([open('ra'), open('rb')]);
    const docs = a.documents();
    await docs.next(); // a holds a unit now
    expect(a.progress()?.pass).toBe(0);
    await a.release();
    expect(log.lines.some((l) => l.message === 'data unit released')).toBe(true);
    // b can take both units: nothing is leased any more.
    const bd = b.documents();
    const seen = new Set<string>();
    while (seen.size < 3) seen.add((await bd.next()).value as string);
    expect([...seen].sort()).toEqual(['a', 'b', 'c']);
    abort.abort();
    await Promise.all([docs.return(undefined), bd.return(undefined)]);

    // Restoring onto a pool that exists changes nothing; onto one that is gone, it sets the pass and the done units.
    await b.restore({ pass: 7, done: [0] });
    expect(b.progress()?.pass).toBe(0);
    for await (const k of await kv.keys('data.*.pool')) await kv.purge(k);
    const c = await open('rc');
    await c.restore({ pass: 7, done: [0] });
    expect(c.progress()).toMatchObject({ pass: 7 });
    expect(c.position()).toEqual({ pass: 7, done: [0] });
    expect(log.lines.some((l) => l.message === 'data pool restored from the checkpoint')).toBe(true);
  });
  it('a manifest of gzip, zstd and JSON Lines shards: a compressed shard is one unit, each unit read once per pass, a truncated one failed; an empty manifest is a DataSourceError', async () => {
    const shards = join(dir, 'fmt');
    mkdirSync(shards);
    const lines = (f: string, n: number): string[] => Array.from({ length: n }, (_, l) => `${f} line ${l} of the corpus`);
    writeFileSync(join(shards, 'a.txt.gz'), gzipSync(lines('a', 80).join('\n') + '\n')); // larger than unitBytes: one unit all the same
    writeFileSync(join(shards, 'b.jsonl.zst'), zstdCompressSync(lines('b', 20).map((text) => JSON.stringify({ text })).join('\n') + '\n'));
    writeFileSync(join(shards, 'c.jsonl'), lines('c', 40).map((text) => JSON.stringify({ text, id: 1 })).join('\n') + '\n');
    const full = zstdCompressSync(lines('d', 50).join('\n'));
    writeFileSync(join(shards, 'd.txt.zst'), full.subarray(0, full.length - 8));
    const manifest = join(dir, 'fmt.manifest');
    writeFileSync(manifest, 'fmt/a.txt.gz\nfmt/b.jsonl.zst\nfmt/c.jsonl\nfmt/d.txt.zst\n');
    const abort = new AbortController();
    const logs = [capture(), capture(), capture()];
    const unreadable: DataUnitError[] = [];
    const pools = await Promise.all(['fa', 'fb', 'fc'].map((peerId, i) => DataPool.open({
      kv, urls: [manifest], unitBytes: 256, peerId, log: logs[i]!, metrics: createDataMetrics(new Registry()), now: Date.now, signal: abort.signal, onUnreadable: (e) => unreadable.push(e),
    })));
    const units = pools[0]!.units;
    expect(units.filter((u) => u.url.endsWith('.gz') || u.url.endsWith('.zst')).map((u) => [u.url, u.start, u.end])).toEqual(
      ['a.txt.gz', 'b.jsonl.zst', 'd.txt.zst'].map((f) => [join(shards, f), 0, undefined]),
    );
    expect(units.filter((u) => u.url.endsWith('c.jsonl')).length).toBeGreaterThan(1);
    const docs: string[] = [];
    const readers = pools.map(async (p) => {
      for await (const d of p.documents()) {
        docs.push(d);
        await new Promise((r) => setImmediate(r));
      }
    });
    const all = (): Line[] => logs.flatMap((l) => l.lines);
    await waitFor(async () => all().some((l) => l.message === 'data pass started' && l.meta['pass'] === 1));
    abort.abort();
    await Promise.all(readers);
    const done = all().filter((l) => l.message === 'data unit done' && l.meta['pass'] === 0).map((l) => l.meta['index'] as number).sort((a, b) => a - b);
    const truncated = units.findIndex((u) => u.url.endsWith('d.txt.zst'));
    expect(done).toEqual([...Array(units.length).keys()].filter((i) => i !== truncated));
    for (const text of [...lines('a', 80), ...lines('b', 20), ...lines('c', 40)]) expect(docs).toContain(text);
    // Once in pass 0 (a peer may have read it again in pass 1 before the readers stopped).
    const failed = all().filter((l) => l.message === 'data unit unreadable' && l.meta['pass'] === 0).map((l) => l.meta['error']);
    expect(failed).toEqual([`data unit ${join(shards, 'd.txt.zst')}: unexpected end of file (the zstd stream ends inside a frame)`]);
    expect(unreadable.length).toBeGreaterThanOrEqual(1);

    const empty = join(dir, 'empty.manifest');
    writeFileSync(empty, '# no shards yet\n');
    const opening = DataPool.open({ kv, urls: [empty], unitBytes: 256, peerId: 'fe', log: capture(), metrics: createDataMetrics(new Registry()), now: Date.now, signal: new AbortController().signal });
    await expect(opening).rejects.toBeInstanceOf(DataSourceError);
    await expect(opening).rejects.toThrow(`${empty}: the manifest lists no data files`);
  });
});
