/**
 * The three kinds of data URL the CRD accepts: absolute paths (a mounted
 * volume; `file://` too), http(s) URLs (an object store) and
 * `generated:<name>`. Reading them: documents.ts (whole sources),
 * unit-reader.ts (units of the swarm's pool).
 */

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
