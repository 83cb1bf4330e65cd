/**
 * A corpus as units of work: each file is one unit, and a file larger than
 * `unitBytes` is cut into byte ranges of `unitBytes` (a line belongs to the
 * range its first byte is in, so a line is never split between two units),
 * unless it is compressed (formats.ts): that is one unit, read from its start.
 * Pure: the file sizes come in (corpus.ts measures them once per swarm).
 */
import { createHash } from 'node:crypto';
import { isWholeFile } from './formats.ts';

export const CORPUS_VERSION = 1;
/** Default unit size: 64 MiB is a few minutes of reading for the tiny model and under a minute for base. */
export const DEFAULT_UNIT_BYTES = 64 * 1024 * 1024;
/** Most units of one corpus: the pool state (one KV value) must stay well under NATS' 1 MiB payload. */
export const MAX_UNITS = 20_000;

export interface CorpusFile {
  url: string;
  /** Bytes; 0 when unknown (an http server that sends no Content-Length): the file is one unit. */
  size: number;
}

/** What every peer of a swarm agrees on: the files, their sizes, and the unit size. Written once to the swarm's KV. */
export interface Corpus {
  v: typeof CORPUS_VERSION;
  unitBytes: number;
  files: CorpusFile[];
}

export interface Unit {
  /** Position in the corpus' unit list. */
  index: number;
  url: string;
  /** First byte of the range. */
  start: number;
  /** End of the range (exclusive); undefined: to the end of the file. */
  end: number | undefined;
  /** Bytes in the range (0 when unknown). */
  bytes: number;
}

/** The units of a corpus, in file order. Throws when there are more than MAX_UNITS. */
export function unitsOf(c: Corpus): Unit[] {
  const out: Unit[] = [];
  for (const f of c.files) {
    if (f.size <= c.unitBytes || isWholeFile(f.url)) {
      out.push({ index: out.length, url: f.url, start: 0, end: undefined, bytes: f.size });
    } else {
      for (let s = 0; s < f.size; s += c.unitBytes) {
        const end = Math.min(f.size, s + c.unitBytes);
        out.push({ index: out.length, url: f.url, start: s, end: end === f.size ? undefined : end, bytes: end - s });
      }
    }
    if (out.length > MAX_UNITS) throw new Error(`the corpus has more than ${MAX_UNITS} units: raise data.unitBytes or merge small files`);
  }
  return out;
}

/** How a unit is named in logs, metrics and errors: the URL, with the byte range when it is one. */
export function unitName(u: Unit): string {
  return u.start === 0 && u.end === undefined ? u.url : `${u.url}[${u.start}..${u.end ?? 'end'})`;
}

/** Identifies a spec's data: peers with the same URLs and unit size share one pool. */
export function corpusKey(urls: readonly string[], unitBytes: number): string {
  return createHash('sha256').update(JSON.stringify({ urls, unitBytes })).digest('hex').slice(0, 16);
}

/** Strict decoder of a stored corpus (another process wrote it): names the first bad field. */
export function parseCorpus(raw: unknown): Corpus {
  const c = raw as Partial<Corpus> | null;
  if (typeof c !== 'object' || c === null) throw new Error('corpus: not an object');
  if (c.v !== CORPUS_VERSION) throw new Error(`corpus.v: unsupported version ${String(c.v)}`);
  if (!Number.isInteger(c.unitBytes) || (c.unitBytes as number) < 1) throw new Error('corpus.unitBytes: must be a positive integer');
  if (!Array.isArray(c.files) || c.files.length === 0) throw new Error('corpus.files: must be a non-empty array');
  c.files.forEach((f: Partial<CorpusFile>, i) => {
    if (typeof f?.url !== 'string' || f.url === '') throw new Error(`corpus.files[${i}].url: must be a non-empty string`);
    if (!Number.isInteger(f.size) || (f.size as number) < 0) throw new Error(`corpus.files[${i}].size: must be an integer >= 0`);
  });
  return c as Corpus;
}
