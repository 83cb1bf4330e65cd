import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDataset, type DatasetSpec, readPrefix, type Shard, shardingMode } from './dataset.ts';
import { generatedLine, GENERATED_CORPORA } from './generated.ts';
import { readLines } from './documents.ts';
import { DataSourceError, sourceKind } from './source.ts';

async function take<T>(it: AsyncIterable<T>, n = Infinity): Promise<T[]> {
  const out: T[] = [];
  if (n <= 0) return out;
  for await (const x of it) {
    out.push(x);
    if (out.length >= n) break;
  }
  return out;
}

const dir = mkdtempSync(join(tmpdir(), 'spotswarm-data-'));
const fileA = join(dir, 'a.txt');
const fileB = join(dir, 'b.txt');
const linesA = Array.from({ length: 40 }, (_, i) => `alpha document ${i}`);
const linesB = Array.from({ length: 25 }, (_, i) => `beta document ${i}`);
// Blank lines count as lines for sharding but are never emitted; b.txt uses CRLF.
writeFileSync(fileA, [...linesA.slice(0, 20), '', '   ', ...linesA.slice(20)].join('\n') + '\n');
writeFileSync(fileB, linesB.join('\r\n'));

let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/b.txt') {
      // Stream in small chunks that cut lines (and a CRLF) in the middle.
      const body = Buffer.from(linesB.join('\r\n') + '\r\n');
      res.writeHead(200, { 'content-type': 'text/plain' });
      let off = 0;
      const tick = (): void => {
        if (off >= body.length) {
          res.end();
          return;
        }
        res.write(body.subarray(off, off + 7));
        off += 7;
        setImmediate(tick);
      };
      tick();
    } else {
      res.writeHead(404).end('no');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('sources', () => {
  it('classifies URLs and rejects relative paths', () => {
    expect(sourceKind('/data/x.txt')).toBe('file');
    expect(sourceKind('file:///data/x.txt')).toBe('file');
    expect(sourceKind('https://bucket/x.txt')).toBe('http');
    expect(sourceKind('generated:tiny-corpus')).toBe('generated');
    expect(() => sourceKind('data/x.txt')).toThrow(DataSourceError);
  });

  it('streams an http body line by line, across chunk boundaries and CRLF', async () => {
    expect(await take(readLines(`${base}/b.txt`))).toEqual(linesB);
    expect(await take(readLines(fileB))).toEqual(linesB);
  });

  it('names the URL when a source cannot be read', async () => {
    await expect(take(readLines(`${base}/missing.txt`))).rejects.toThrow(/missing\.txt: HTTP 404/);
    await expect(take(readLines(join(dir, 'nope.txt')))).rejects.toThrow(/nope\.txt: ENOENT/);
  });

  it('generated:tiny-corpus is deterministic, endless and templated', async () => {
    expect(GENERATED_CORPORA).toContain('tiny-corpus');
    const first = await take(readLines('generated:tiny-corpus'), 3);
    expect(first).toEqual([0, 1, 2].map((n) => generatedLine('tiny-corpus', n)));
    expect(generatedLine('tiny-corpus', 123_456)).toBe(generatedLine('tiny-corpus', 123_456));
    const many = Array.from({ length: 500 }, (_, n) => generatedLine('tiny-corpus', n));
    expect(new Set(many).size).toBeGreaterThan(400);
    // The grammar's dependencies hold: an animal eats its own food.
    for (const line of many) for (const m of line.matchAll(/\b(cat|cow) eats (\w+)/g)) expect(m[2]).toBe(m[1] === 'cat' ? 'fish' : 'grass');
    expect(() => generatedLine('nope', 0)).toThrow(/unknown generated corpus 'nope'/);
  });
});

describe('createDataset', () => {
  const all = [...linesA, ...linesB];
  const oneEpoch = (spec: Omit<DatasetSpec, 'loop'>, shard: Shard) => take(createDataset({ ...spec, loop: false }, shard));

  it('line sharding: shards are disjoint, balanced, and together hold every non-blank line once', async () => {
    const spec = { urls: [fileA, `${base}/b.txt`], sharding: 'line' as const, seed: 1 };
    const shards = await Promise.all([0, 1, 2].map((index) => oneEpoch(spec, { index, count: 3 })));
    expect(shards.flat().sort()).toEqual([...all].sort());
    for (const s of shards) expect(Math.abs(s.length - all.length / 3)).toBeLessThanOrEqual(2);
  });

  it('file sharding: each file goes to one peer; auto picks it when files ≥ peers', async () => {
    const spec = { urls: [fileA, fileB], shuffleBuffer: 1 };
    expect(shardingMode(spec, 2)).toBe('file');
    expect(shardingMode(spec, 3)).toBe('line');
    expect(shardingMode({ urls: ['generated:tiny-corpus', fileA] }, 1)).toBe('line');
    expect(await oneEpoch(spec, { index: 0, count: 2 })).toEqual(linesA);
    expect(await oneEpoch(spec, { index: 1, count: 2 })).toEqual(linesB);
  });

  it('shuffles with a seeded buffer: a permutation, repeatable, different per seed and per pass', async () => {
    const spec = { urls: [fileA], shuffleBuffer: 16, seed: 'run-1' };
    const a = await oneEpoch(spec, { index: 0, count: 1 });
    expect([...a].sort()).toEqual([...linesA].sort());
    expect(a).not.toEqual(linesA);
    expect(await oneEpoch(spec, { index: 0, count: 1 })).toEqual(a);
    expect(await oneEpoch({ ...spec, seed: 'run-2' }, { index: 0, count: 1 })).not.toEqual(a);
    const twoPasses = await take(createDataset(spec, { index: 0, count: 1 }), 2 * linesA.length);
    expect(twoPasses.slice(0, linesA.length)).toEqual(a);
    expect([...twoPasses.slice(linesA.length)].sort()).toEqual([...linesA].sort());
    expect(twoPasses.slice(linesA.length)).not.toEqual(a);
  });

  it('generated sources shard by line number without overlap', async () => {
    const spec = { urls: ['generated:tiny-corpus'], shuffleBuffer: 1 };
    const s1 = await take(createDataset(spec, { index: 1, count: 4 }), 5);
    expect(s1).toEqual([1, 5, 9, 13, 17].map((n) => generatedLine('tiny-corpus', n)));
    const shuffled = await take(createDataset({ ...spec, shuffleBuffer: 50 }, { index: 2, count: 4 }), 200);
    const mine = new Set(Array.from({ length: 400 }, (_, k) => generatedLine('tiny-corpus', 2 + 4 * k)));
    expect(shuffled.every((l) => mine.has(l))).toBe(true);
  });

  it('fails early on bad specs and shards', () => {
    expect(() => createDataset({ urls: ['generated:nope'] }, { index: 0, count: 1 })).toThrow(/unknown generated corpus/);
    expect(() => createDataset({ urls: ['relative.txt'] }, { index: 0, count: 1 })).toThrow(DataSourceError);
    expect(() => createDataset({ urls: [] }, { index: 0, count: 1 })).toThrow(/empty/);
    expect(() => createDataset({ urls: [fileA] }, { index: 2, count: 2 })).toThrow(/shard.index/);
  });

  it('stops rather than spinning when a looping shard has no lines', async () => {
    expect(await take(createDataset({ urls: [fileA, fileB], sharding: 'file' }, { index: 2, count: 3 }), 10)).toEqual([]);
  });
});

describe('readPrefix', () => {
  it('reads the first lines over all URLs in order, the same for every peer', async () => {
    expect(await readPrefix([fileB, fileA], 30)).toEqual([...linesB, ...linesA.slice(0, 5)]);
    expect(await readPrefix(['generated:tiny-corpus'], 3)).toEqual([0, 1, 2].map((n) => generatedLine('tiny-corpus', n)));
  });
});
