/**
 * Data URLs that stand for a list of files, expanded once per swarm (with the
 * corpus, corpus.ts) into the files they list:
 *  - a manifest, a URL or path whose name ends in `.manifest`: one file URL
 *    or path per line, resolved relative to the manifest (blank lines and
 *    lines starting with `#` are skipped);
 *  - a local directory: its files (not hidden ones, not subdirectories), by
 *    name.
 * Either one listing nothing is an error naming it. A manifest may not list
 * another manifest or directory.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { errorMessage } from '../common/index.ts';
import { DataSourceError, type ReadOptions, sourceKind } from './source.ts';

/** Whether `url` names a manifest (a list of data files). */
export function isManifest(url: string): boolean {
  return sourceKind(url) !== 'generated' && url.replace(/[?#].*$/, '').toLowerCase().endsWith('.manifest');
}

const localPath = (url: string): string => (url.startsWith('file://') ? new URL(url).pathname : url);

async function manifestText(url: string, opts: ReadOptions): Promise<string> {
  let bytes: Uint8Array;
  if (sourceKind(url) === 'http') {
    const res = await (opts.fetch ?? fetch)(url, opts.signal ? { signal: opts.signal } : {});
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new Error(`HTTP ${res.status} ${res.statusText}`);
    }
    bytes = new Uint8Array(await res.arrayBuffer());
  } else {
    bytes = await readFile(localPath(url), opts.signal ? { signal: opts.signal } : {});
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('not UTF-8 text');
  }
}

/** The file URLs a manifest lists, resolved relative to it. */
export function parseManifest(url: string, text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let entry: string;
    if (sourceKind(url) === 'http') entry = new URL(line, url).href;
    else if (/^[a-z][a-z0-9+.-]*:/i.test(line) || isAbsolute(line)) entry = line;
    else entry = resolve(dirname(localPath(url)), line);
    let kind: string;
    try {
      kind = sourceKind(entry);
    } catch {
      throw new DataSourceError(url, `line "${line}": expected an absolute path, a path relative to the manifest, file:// or http(s)://`);
    }
    if (kind === 'generated' || isManifest(entry)) throw new DataSourceError(url, `line "${line}": a manifest lists data files only`);
    out.push(entry);
  }
  return out;
}

async function directoryFiles(path: string): Promise<string[] | undefined> {
  try {
    if (!(await stat(path)).isDirectory()) return undefined;
  } catch {
    return undefined; // missing: reading it reports the error against its unit
  }
  const entries = await readdir(path, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => join(path, e.name)).sort();
}

/**
 * `urls` with every manifest and local directory replaced by the files it
 * lists, in order. Throws DataSourceError naming a manifest or directory
 * that cannot be read or lists nothing.
 */
export async function expandUrls(urls: readonly string[], opts: ReadOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const url of urls) {
    const kind = sourceKind(url);
    let listed: string[] | undefined;
    if (isManifest(url)) {
      let text: string;
      try {
        text = await manifestText(url, opts);
      } catch (e) {
        throw new DataSourceError(url, `manifest: ${errorMessage(e)}`);
      }
      listed = parseManifest(url, text);
      if (listed.length === 0) throw new DataSourceError(url, 'the manifest lists no data files');
    } else if (kind === 'file') {
      try {
        listed = await directoryFiles(localPath(url));
      } catch (e) {
        throw new DataSourceError(url, `directory: ${errorMessage(e)}`);
      }
      if (listed?.length === 0) throw new DataSourceError(url, 'the directory holds no data files');
    }
    out.push(...(listed ?? [url]));
  }
  return out;
}
