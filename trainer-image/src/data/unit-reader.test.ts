import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataUnitError, MAX_LINE_BYTES, rangeLines, unitLines } from './unit-reader.ts';
import { corpusKey, parseCorpus, type Unit, unitName, unitsOf } from './units.ts';

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function* chunked(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** The lines of every unit of one in-memory file, read as unitLines reads a range (from start − 1). */
async function linesByUnit(text: string, unitBytes: number, chunk: number): Promise<string[][]> {
  const bytes = new TextEncoder().encode(text);
  const units = unitsOf({ v: 1, unitBytes, files: [{ url: '/f', size: bytes.length }] });
  return Promise.all(units.map((u) => {
    const from = Math.max(0, u.start - 1);
    return collect(rangeLines(chunked(bytes.subarray(from), chunk), from, u));
  }));
}

describe('data units', () => {
  it('a file no larger than unitBytes is one unit; a larger one is cut into ranges; too many units is an error', () => {
    const units = unitsOf({ v: 1, unitBytes: 10, files: [{ url: '/a', size: 10 }, { url: '/b', size: 25 }, { url: 'http://x/c', size: 0 }] });
    expect(units.map((u) => [u.url, u.start, u.end, u.bytes])).toEqual([['/a', 0, undefined, 10], ['/b', 0, 10, 10], ['/b', 10, 20, 10], ['/b', 20, undefined, 5], ['http://x/c', 0, undefined, 0]]);
    expect(units.map(unitName)).toEqual(['/a', '/b[0..10)', '/b[10..20)', '/b[20..end)', 'http://x/c']);
    expect(() => unitsOf({ v: 1, unitBytes: 1, files: [{ url: '/big', size: 30_000 }] })).toThrow('more than 20000 units');
    expect(corpusKey(['/a'], 10)).not.toBe(corpusKey(['/a'], 11));
    expect(() => parseCorpus({ v: 1, unitBytes: 10, files: [{ url: '/a', size: -1 }] })).toThrow('corpus.files[0].size');
  });

  it('property: the byte ranges of a file hold every line exactly once, in order, whatever the unit and chunk sizes', async () => {
    const line = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '€', ' ', '\r'), maxLength: 12 });
    await fc.assert(fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 30 }), fc.boolean(), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 17 }), async (lines, trailingNewline, unitBytes, chunk) => {
      const text = lines.join('\n') + (trailingNewline ? '\n' : '');
      const raw = text.split('\n');
      // What follows the last newline is a line only if it has bytes.
      if (raw.at(-1) === '') raw.pop();
      const want = raw.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
      const got = (await linesByUnit(text, unitBytes, chunk)).flat();
      expect(got).toEqual(want);
    }), { numRuns: 300 });
  });

  it('bad input names the unit and the byte: not UTF-8, a line longer than MAX_LINE_BYTES, a missing file', async () => {
    const u: Unit = { index: 0, url: '/x', start: 0, end: undefined, bytes: 0 };
    const bad = new Uint8Array([0x6f, 0x6b, 0x0a, 0xff, 0xfe, 0x0a]);
    await expect(collect(rangeLines(chunked(bad, 4), 0, u))).rejects.toThrow('data unit /x: not UTF-8 text (the line at byte 3)');
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) yield new Uint8Array(1024 * 1024).fill(0x61);
    }
    const long = collect(rangeLines(endless(), 0, u));
    await expect(long).rejects.toThrow(`data unit /x: the line at byte 0 is longer than ${MAX_LINE_BYTES} bytes`);
    await expect(long).rejects.toBeInstanceOf(DataUnitError);
    await expect(collect(unitLines({ ...u, url: '/nonexistent/spotswarm-data' }))).rejects.toThrow(/^data unit \/nonexistent\/spotswarm-data: ENOENT/);
  });

  it('unitLines reads a local file by path and file://, and a byte range of it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotswarm-units-'));
    try {
      const path = join(dir, 'a.txt');
      writeFileSync(path, 'one\r\ntwo\nthree\nfour\n');
      const whole: Unit = { index: 0, url: path, start: 0, end: undefined, bytes: 20 };
      expect(await collect(unitLines(whole))).toEqual(['one', 'two', 'three', 'four']);
      expect(await collect(unitLines({ ...whole, url: `file://${path}` }))).toEqual(['one', 'two', 'three', 'four']);
      // Bytes [5, 12): "two\n" starts at 5, "three\n" at 9; "four" at 15 is the next range's.
      expect(await collect(unitLines({ ...whole, start: 5, end: 12 }))).toEqual(['two', 'three']);
      expect(await collect(unitLines({ ...whole, start: 12, end: undefined }))).toEqual(['four']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('unitLines reads a byte range over http(s) with a Range request, and from a server that ignores Range; an HTTP error names the unit', async () => {
    const body = Buffer.from('one\ntwo\nthree\nfour\n');
    const ranges: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      ranges.push(req.headers.range);
      if (req.url === '/missing') return void res.writeHead(404).end();
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (req.url === '/ranged' && m) return void res.writeHead(206, { 'content-range': `bytes ${m[1]}-${body.length - 1}/${body.length}` }).end(body.subarray(Number(m[1])));
      res.writeHead(200).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const unit = (path: string): Unit => ({ index: 0, url: base + path, start: 4, end: 14, bytes: 10 });
      expect(await collect(unitLines(unit('/ranged')))).toEqual(['two', 'three']);
      expect(await collect(unitLines(unit('/plain')))).toEqual(['two', 'three']);
      expect(ranges).toEqual(['bytes=3-', 'bytes=3-']);
      await expect(collect(unitLines(unit('/missing')))).rejects.toThrow(`data unit ${base}/missing[4..14): HTTP 404 Not Found`);
    } finally {
      server.close();
    }
  });
});
