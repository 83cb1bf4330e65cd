/**
 * Line readers for the three kinds of data URL the CRD accepts: absolute
 * paths (a mounted volume; `file://` too), http(s) URLs (an object store;
 * the body is streamed, never held whole) and `generated:<name>`.
 * One document per line; `\r\n` endings are handled; blank lines are
 * dropped by the dataset, not here.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { errorMessage } from '../common/index.ts';
import { generatedCorpus } from './generated.ts';

export type SourceKind = 'file' | 'http' | 'generated';

/** Thrown when a data URL is malformed or its source cannot be read. */
export class DataSourceError extends Error {
  readonly code = 'ERR_DATA_SOURCE';
  readonly url: string;
  constructor(url: string, message: string) {
    super(`${url}: ${message}`);
    this.name = 'DataSourceError';
    this.url = url;
  }
}

export function sourceKind(url: string): SourceKind {
  if (url.startsWith('generated:')) return 'generated';
  if (url.startsWith('http://') || url.startsWith('https://')) return 'http';
  if (url.startsWith('/') || url.startsWith('file://')) return 'file';
  throw new DataSourceError(url, 'expected an absolute path, file://, http(s):// or generated:<name>');
}

export interface ReadOptions {
  signal?: AbortSignal;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

async function* fileLines(url: string, opts: ReadOptions): AsyncGenerator<string> {
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const stream = createReadStream(path, { encoding: 'utf8', ...(opts.signal ? { signal: opts.signal } : {}) });
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (e) {
    throw new DataSourceError(url, errorMessage(e));
  }
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    stream.destroy();
  }
}

async function* httpLines(url: string, opts: ReadOptions): AsyncGenerator<string> {
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(url, opts.signal ? { signal: opts.signal } : {});
  } catch (e) {
    throw new DataSourceError(url, errorMessage(e));
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel().catch(() => {});
    throw new DataSourceError(url, `HTTP ${res.status} ${res.statusText}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let rest = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += value;
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        yield line.endsWith('\r') ? line.slice(0, -1) : line;
      }
    }
    if (rest.length > 0) yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function* generatedLines(url: string, start: number, step: number): AsyncGenerator<string> {
  const line = generatedCorpus(url.slice('generated:'.length));
  for (let n = start; ; n += step) yield line(n);
}

/**
 * The lines of one source, from the first. For `generated:` sources, which
 * are endless, `start`/`step` pick lines start, start+step, … without
 * producing the others (used for sharding by line).
 */
export function readLines(url: string, opts: ReadOptions & { start?: number; step?: number } = {}): AsyncGenerator<string> {
  switch (sourceKind(url)) {
    case 'generated':
      return generatedLines(url, opts.start ?? 0, opts.step ?? 1);
    case 'http':
      return httpLines(url, opts);
    case 'file':
      return fileLines(url, opts);
  }
}
