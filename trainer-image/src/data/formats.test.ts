import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gzipSync, zstdCompressSync } from 'node:zlib';
import { measureCorpus } from './corpus.ts';
import { readLines } from './documents.ts';
import { decompressed, fileFormat, jsonlText } from './formats.ts';
import { expandUrls, parseManifest } from './manifest.ts';
import { DataSourceError } from './source.ts';
import { DataUnitError, MAX_LINE_BYTES, unitLines } from './unit-reader.ts';
import { type Unit, unitsOf } from './units.ts';
import { ZstdFrameTracker } from './zstd-frames.ts';

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const whole = (url: string): Unit => ({ index: 0, url, start: 0, end: undefined, bytes: 0 });

function withDir(f: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotswarm-formats-'));
    try {
      await f(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Serves `files`; those in `encoded` are sent as their gzip with `Content-Encoding`, as object stores send objects stored with that metadata. */
async function serve(files: Record<string, Uint8Array | string>, encoded: Record<string, string> = {}): Promise<{ base: string; server: Server }> {
  const server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    if (body === undefined) return void res.writeHead(404).end();
    const encoding = encoded[req.url ?? ''];
    res.writeHead(200, { 'content-length': String(Buffer.byteLength(body)), 'accept-ranges': 'bytes', ...(encoding ? { 'content-encoding': encoding } : {}) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const text = 'one\r\ntwo\n\nthree é\n';
const jsonl = ['{"text":"first doc","id":1}', '', '{"text":"second\\ndoc","meta":{}}', ''].join('\n');

describe('data formats', () => {
  it('tells the format from the name; a compressed file is one unit whatever its size', () => {
    expect(fileFormat('/d/a.txt')).toEqual({ compression: undefined, jsonl: false });
    expect(fileFormat('/d/a.txt.gz')).toEqual({ compression: 'gzip', jsonl: false });
    expect(fileFormat('http://h/a.JSONL.zst?sig=1')).toEqual({ compression: 'zstd', jsonl: true });
    expect(fileFormat('/d/a.ndjson')).toEqual({ compression: undefined, jsonl: true });
    const units = unitsOf({ v: 1, unitBytes: 10, files: [{ url: '/a.gz', size: 100 }, { url: '/b.jsonl', size: 15 }] });
    expect(units.map((u) => [u.url, u.start, u.end, u.bytes])).toEqual([['/a.gz', 0, undefined, 100], ['/b.jsonl', 0, 10, 10], ['/b.jsonl', 10, undefined, 5]]);
  });

  it('property: the zstd frame walk finds every frame end (with or without checksum) and rejects every cut stream, whatever the chunking; each frame is decoded', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.string({ maxLength: 3000 }), { minLength: 1, maxLength: 3 }), fc.boolean(), fc.integer({ min: 1, max: 64 }), fc.nat(), async (texts, checksum, chunk, cutSeed) => {
      const frames = texts.map((t) => zstdCompressSync(t, { params: { [constants.ZSTD_c_checksumFlag]: checksum ? 1 : 0 } }));
      const whole = Buffer.concat(frames);
      const walk = (bytes: Uint8Array): { ends: number[]; complete: boolean } => {
        const t = new ZstdFrameTracker();
        const ends: number[] = [];
        for (let i = 0; i < bytes.length; i += chunk) ends.push(...t.feed(bytes.subarray(i, i + chunk)).map((e) => i + e));
        return { ends, complete: t.complete() };
      };
      const boundaries = frames.map((_, i) => frames.slice(0, i + 1).reduce((a, f) => a + f.length, 0));
      expect(walk(whole)).toEqual({ ends: boundaries, complete: true });
      const cut = cutSeed % whole.length;
      if (!boundaries.includes(cut)) expect(walk(whole.subarray(0, cut)).complete).toBe(false);
      async function* chunked(): AsyncGenerator<Uint8Array> {
        for (let i = 0; i < whole.length; i += chunk) yield whole.subarray(i, i + chunk);
      }
      const out: Uint8Array[] = [];
      for await (const c of decompressed(chunked(), 'zstd')) out.push(c);
      expect(Buffer.concat(out).toString()).toBe(texts.join(''));
    }), { numRuns: 100 });
  });

  it('jsonlText takes the text field and says what is wrong with a line', () => {
    expect(jsonlText('{"text":"a b"}')).toBe('a b');
    expect(jsonlText('  ')).toBe('');
    expect(() => jsonlText('[1]')).toThrow('not a JSON object');
    expect(() => jsonlText('"text"')).toThrow('not a JSON object');
    expect(() => jsonlText('{"body":"x"}')).toThrow('no string field "text"');
    expect(() => jsonlText('{"text":3}')).toThrow('no string field "text"');
    expect(() => jsonlText('{"text":')).toThrow(/^not JSON/);
  });

  it('reads gzip (also concatenated members), zstd, JSON Lines and compressed JSON Lines from local files', withDir(async (dir) => {
    const put = (name: string, bytes: Uint8Array | string): string => {
      writeFileSync(join(dir, name), bytes);
      return join(dir, name);
    };
    const want = ['one', 'two', '', 'three é'];
    expect(await collect(unitLines(whole(put('a.txt.gz', gzipSync(text)))))).toEqual(want);
    expect(await collect(unitLines(whole(put('m.txt.gz', Buffer.concat([gzipSync('one\ntwo\n'), gzipSync('three\n')])))))).toEqual(['one', 'two', 'three']);
    expect(await collect(unitLines(whole(`file://${put('a.txt.zst', zstdCompressSync(text))}`)))).toEqual(want);
    expect(await collect(unitLines(whole(put('m.txt.zst', Buffer.concat([zstdCompressSync('one\n'), zstdCompressSync('two\n')])))))).toEqual(['one', 'two']);
    const docs = ['first doc', '', 'second\ndoc'];
    expect(await collect(unitLines(whole(put('a.jsonl', jsonl))))).toEqual(docs);
    expect(await collect(unitLines(whole(put('a.jsonl.gz', gzipSync(jsonl)))))).toEqual(docs);
    expect(await collect(unitLines(whole(put('a.jsonl.zst', zstdCompressSync(jsonl)))))).toEqual(docs);
    // An uncompressed JSON Lines file is still cut into byte ranges by line.
    const path = put('r.jsonl', jsonl);
    const parts = unitsOf({ v: 1, unitBytes: 20, files: [{ url: path, size: Buffer.byteLength(jsonl) }] });
    expect(parts.length).toBeGreaterThan(1);
    expect((await Promise.all(parts.map((u) => collect(unitLines(u))))).flat()).toEqual(docs);
  }));

  it('bad input names the unit and the line or byte: truncated gzip and zstd, not UTF-8, bad JSON Lines, an endless line; never a byte range of a compressed file', withDir(async (dir) => {
    const put = (name: string, bytes: Uint8Array | string): Unit => {
      writeFileSync(join(dir, name), bytes);
      return whole(join(dir, name));
    };
    const big = 'a long line of text\n'.repeat(5000);
    const gz = gzipSync(big);
    const zst = zstdCompressSync(big);
    const cut = (b: Uint8Array): Uint8Array => b.subarray(0, Math.floor(b.length / 2));
    for (const [name, bytes] of [['t.txt.gz', cut(gz)], ['t.txt.zst', cut(zst)]] as const) {
      const u = put(name, bytes);
      const read = collect(unitLines(u));
      await expect(read).rejects.toBeInstanceOf(DataUnitError);
      await expect(read).rejects.toThrow(new RegExp(`^data unit ${u.url}: .*(unexpected end of file|truncated|incomplete)`, 'i'));
    }
    await expect(collect(unitLines(put('garbage.gz', 'not gzip at all\n')))).rejects.toThrow(/^data unit .*garbage\.gz: incorrect header check/);
    const latin1 = put('l.txt.gz', gzipSync(Buffer.from([0x6f, 0x6b, 0x0a, 0xe9, 0x0a])));
    await expect(collect(unitLines(latin1))).rejects.toThrow(`data unit ${latin1.url}: not UTF-8 text (the line at byte 3)`);
    const notObject = put('n.jsonl', '{"text":"ok"}\n[1,2]\n');
    await expect(collect(unitLines(notObject))).rejects.toThrow(`data unit ${notObject.url}: JSON Lines line 2: not a JSON object`);
    const noField = put('f.jsonl.zst', zstdCompressSync('{"text":"ok"}\n\n{"content":"x"}\n'));
    await expect(collect(unitLines(noField))).rejects.toThrow(`data unit ${noField.url}: JSON Lines line 3: no string field "text"`);
    const ranged = put('r.jsonl', '{"text":"a"}\n{"text":"b"}\n{oops\n');
    await expect(collect(unitLines({ ...ranged, start: 13, end: undefined }))).rejects.toThrow(/JSON Lines line 2 of the range: not JSON/);
    // A single line longer than MAX_LINE_BYTES inside a small compressed file: stopped at the limit, not read to the end.
    const long = put('long.txt.gz', gzipSync(Buffer.alloc(MAX_LINE_BYTES + 1024, 0x61)));
    await expect(collect(unitLines(long))).rejects.toThrow(`data unit ${long.url}: the line at byte 0 is longer than ${MAX_LINE_BYTES} bytes`);
    await expect(collect(unitLines({ ...put('x.gz', gz), start: 10, end: 20 }))).rejects.toThrow('a compressed file cannot be read from a byte range');
  }));

  it('a manifest lists shards relative to itself; a directory lists its files; either listing nothing is a DataSourceError naming it', withDir(async (dir) => {
    mkdirSync(join(dir, 'shards'));
    writeFileSync(join(dir, 'shards', 'b.txt'), 'b1\nb2\n');
    writeFileSync(join(dir, 'shards', 'a.txt.gz'), gzipSync('a1\n'));
    writeFileSync(join(dir, 'shards', '.hidden'), 'x\n');
    writeFileSync(join(dir, 'corpus.manifest'), '# shards\nshards/a.txt.gz\n\n  shards/b.txt  \n/abs/c.txt\nhttp://h/d.txt\n');
    writeFileSync(join(dir, 'empty.manifest'), '# nothing yet\n\n');
    mkdirSync(join(dir, 'none'));
    const a = join(dir, 'shards', 'a.txt.gz');
    const b = join(dir, 'shards', 'b.txt');
    expect(await expandUrls([join(dir, 'corpus.manifest'), join(dir, 'shards'), 'generated:tiny-corpus', '/missing/x.txt'])).toEqual([a, b, '/abs/c.txt', 'http://h/d.txt', a, b, 'generated:tiny-corpus', '/missing/x.txt']);
    expect(await collect(readLines(join(dir, 'shards')))).toEqual(['a1', 'b1', 'b2']);
    for (const bad of [join(dir, 'empty.manifest'), join(dir, 'none')]) {
      const e = expandUrls([bad]);
      await expect(e).rejects.toBeInstanceOf(DataSourceError);
      await expect(e).rejects.toThrow(new RegExp(`^${bad}: the (manifest|directory) lists? no data files|^${bad}: the directory holds no data files`));
    }
    await expect(measureCorpus([join(dir, 'empty.manifest')], 10)).rejects.toThrow(`${join(dir, 'empty.manifest')}: the manifest lists no data files`);
    await expect(expandUrls([join(dir, 'gone.manifest')])).rejects.toThrow(/gone\.manifest: manifest: ENOENT/);
    expect(() => parseManifest('/m.manifest', 'generated:tiny-corpus\n')).toThrow('/m.manifest: line "generated:tiny-corpus": a manifest lists data files only');
    expect(() => parseManifest('/m.manifest', 's3://b/k\n')).toThrow(/line "s3:\/\/b\/k": expected an absolute path/);
  }));

  it('over http: a manifest resolves relative URLs, the corpus holds the listed files, compressed ones are read whole, also when sent with Content-Encoding', async () => {
    const { base, server } = await serve({
      '/c/list.manifest': 'part-0.txt.zst\nsub/part-1.jsonl.gz\n',
      '/c/empty.manifest': '\n',
      '/c/encoded.txt.gz': gzipSync('e1\ne2\n'),
      '/c/part-0.txt.zst': zstdCompressSync('z1\nz2\n'),
      '/c/sub/part-1.jsonl.gz': gzipSync('{"text":"g1"}\n'),
    }, { '/c/encoded.txt.gz': 'gzip' });
    try {
      const corpus = await measureCorpus([`${base}/c/list.manifest`], 4);
      expect(corpus.files.map((f) => f.url)).toEqual([`${base}/c/part-0.txt.zst`, `${base}/c/sub/part-1.jsonl.gz`]);
      const units = unitsOf(corpus);
      expect(units.map((u) => [u.start, u.end])).toEqual([[0, undefined], [0, undefined]]);
      expect((await Promise.all(units.map((u) => collect(unitLines(u))))).flat()).toEqual(['z1', 'z2', 'g1']);
      expect(await collect(readLines(`${base}/c/list.manifest`))).toEqual(['z1', 'z2', 'g1']);
      expect(await collect(unitLines(whole(`${base}/c/encoded.txt.gz`)))).toEqual(['e1', 'e2']);
      await expect(measureCorpus([`${base}/c/empty.manifest`], 4)).rejects.toThrow(`${base}/c/empty.manifest: the manifest lists no data files`);
      await expect(expandUrls([`${base}/c/nope.manifest`])).rejects.toThrow(`${base}/c/nope.manifest: manifest: HTTP 404 Not Found`);
    } finally {
      server.close();
    }
  });
});
