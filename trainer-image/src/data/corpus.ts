/**
 * Measures a spec's files once, so that the swarm can cut them into units
 * (units.ts): the size of a local file from stat, of an http(s) object from
 * a HEAD request's Content-Length (0 when the server sends none, or does not
 * accept byte ranges: the object is then one unit). Manifests and local
 * directories are first expanded into the files they list (manifest.ts), so
 * the listing too is taken once per swarm.
 */
import { stat } from 'node:fs/promises';
import { errorMessage } from '../common/index.ts';
import { expandUrls } from './manifest.ts';
import { DataSourceError, type ReadOptions, sourceKind } from './source.ts';
import { type Corpus, CORPUS_VERSION, type CorpusFile } from './units.ts';

async function sizeOf(url: string, opts: ReadOptions): Promise<number> {
  switch (sourceKind(url)) {
    case 'file':
      return (await stat(url.startsWith('file://') ? new URL(url).pathname : url)).size;
    case 'http': {
      const res = await (opts.fetch ?? fetch)(url, { method: 'HEAD', ...(opts.signal ? { signal: opts.signal } : {}) });
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      const len = Number(res.headers.get('content-length') ?? '');
      return res.headers.get('accept-ranges') === 'bytes' && Number.isInteger(len) && len > 0 ? len : 0;
    }
    case 'generated':
      throw new Error('a generated corpus is endless and has no units');
  }
}

/**
 * The corpus of `urls`. A file that cannot be measured is kept as one unit of unknown size: reading it reports the
 * error against that unit. A manifest or directory that cannot be read or lists nothing throws DataSourceError.
 */
export async function measureCorpus(urls: readonly string[], unitBytes: number, opts: ReadOptions & { warn?: (url: string, error: string) => void } = {}): Promise<Corpus> {
  if (urls.length === 0) throw new DataSourceError('(none)', 'data.urls is empty');
  const files: CorpusFile[] = [];
  for (const url of await expandUrls(urls, opts)) {
    let size = 0;
    try {
      size = await sizeOf(url, opts);
    } catch (e) {
      opts.warn?.(url, errorMessage(e));
    }
    files.push({ url, size });
  }
  return { v: CORPUS_VERSION, unitBytes, files };
}
