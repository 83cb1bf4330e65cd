/**
 * The documents of whole data sources, in order: a `generated:` corpus, or
 * files and http(s) objects in any format unit-reader.ts reads (plain text,
 * JSON Lines, gzip or zstd compressed), with manifests and directories
 * expanded into the files they list (manifest.ts). Used where every peer
 * reads the same lines: the tokenizer's training text and the eval set.
 * Blank lines are kept; the dataset drops them.
 */
import { generatedCorpus } from './generated.ts';
import { expandUrls } from './manifest.ts';
import { type ReadOptions, sourceKind } from './source.ts';
import { unitLines } from './unit-reader.ts';

async function* generatedLines(url: string, start: number, step: number): AsyncGenerator<string> {
  const line = generatedCorpus(url.slice('generated:'.length));
  for (let n = start; ; n += step) yield line(n);
}

async function* fileDocuments(url: string, opts: ReadOptions): AsyncGenerator<string> {
  for (const file of await expandUrls([url], opts)) {
    yield* unitLines({ index: 0, url: file, start: 0, end: undefined, bytes: 0 }, opts);
  }
}

/**
 * The documents of one source, from the first. For `generated:` sources, which
 * are endless, `start`/`step` pick lines start, start+step, … without
 * producing the others (used for sharding by line). A file that cannot be
 * read throws DataUnitError; a manifest or directory, DataSourceError.
 */
export function readLines(url: string, opts: ReadOptions & { start?: number; step?: number } = {}): AsyncGenerator<string> {
  return sourceKind(url) === 'generated' ? generatedLines(url, opts.start ?? 0, opts.step ?? 1) : fileDocuments(url, opts);
}
