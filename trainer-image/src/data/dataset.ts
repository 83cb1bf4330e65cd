/**
 * The streaming text dataset: documents (one per line) from the spec's URLs,
 * sharded across peers and shuffled with a seeded buffer.
 *
 * Sharding (peer `index` of `count`):
 *  - 'line': every peer walks the URLs in order and keeps the lines whose
 *    running number n (over all URLs, blank lines included) has
 *    n mod count = index. Disjoint, balanced, any number of peers. For an
 *    endless `generated:` source the other peers' lines are not even made.
 *  - 'file': URL i goes to peer i mod count; each file is read by one peer.
 *  - 'auto' (default): 'file' when there are at least as many URLs as peers
 *    and none is generated, else 'line'.
 * Peers come and go, so the trainer rebuilds its dataset when its index or
 * the peer count changes.
 *
 * Shuffling: a buffer of `shuffleBuffer` lines; each new line replaces a
 * uniformly chosen one, which is emitted (as in tf.data's shuffle). The seed
 * mixes the spec seed, the shard and the pass, so peers and passes differ.
 * A finite dataset starts another pass at its end unless `loop` is false.
 * A `generated:` source is endless: URLs after it are never reached.
 */
import { createRng, type Rng } from './rng.ts';
import { generatedCorpus } from './generated.ts';
import { errorMessage } from '../common/index.ts';
import { readLines } from './documents.ts';
import { DataSourceError, type ReadOptions, sourceKind } from './source.ts';

export interface DatasetSpec {
  /** Absolute paths, file:// or http(s) URLs, or generated:<name>; read in order. */
  urls: readonly string[];
  /** Shuffle seed; peers share it (the shard is mixed in). @default 0 */
  seed?: number | string;
  /** Lines held for shuffling; 1 keeps the order. @default 1024 */
  shuffleBuffer?: number;
  /** Start another pass after the last line. @default true */
  loop?: boolean;
  /** @default 'auto' */
  sharding?: 'auto' | 'line' | 'file';
}

export interface Shard {
  /** This peer's position, 0 ≤ index < count. */
  index: number;
  /** Peers sharing the data. */
  count: number;
}

export function validateShard(s: Shard): void {
  if (!Number.isInteger(s.count) || s.count < 1) throw new Error(`shard.count: ${s.count}`);
  if (!Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) throw new Error(`shard.index: ${s.index} not in [0, ${s.count})`);
}

/** The sharding a spec resolves to for a peer count. */
export function shardingMode(spec: DatasetSpec, count: number): 'line' | 'file' {
  const mode = spec.sharding ?? 'auto';
  if (mode !== 'auto') return mode;
  const anyGenerated = spec.urls.some((u) => sourceKind(u) === 'generated');
  return !anyGenerated && spec.urls.length >= count ? 'file' : 'line';
}

/** This shard's lines in file order, one pass, blank lines dropped. */
async function* shardLines(spec: DatasetSpec, shard: Shard, opts: ReadOptions): AsyncGenerator<string> {
  const mode = shardingMode(spec, shard.count);
  let n = 0; // running line number over all URLs
  for (let u = 0; u < spec.urls.length; u++) {
    const url = spec.urls[u]!;
    if (mode === 'file') {
      if (u % shard.count !== shard.index) continue;
      for await (const line of readLines(url, opts)) if (line.trim() !== '') yield line;
      continue;
    }
    if (sourceKind(url) === 'generated') {
      // Endless: lines n ≡ index (mod count) from here on.
      const first = n + ((((shard.index - n) % shard.count) + shard.count) % shard.count);
      for await (const line of readLines(url, { ...opts, start: first, step: shard.count })) yield line;
      return;
    }
    for await (const line of readLines(url, opts)) {
      if (n % shard.count === shard.index && line.trim() !== '') yield line;
      n++;
    }
  }
}

/** Lines through a shuffle buffer of `size` (1: in order). */
export async function* shuffled(lines: AsyncIterable<string>, size: number, rng: Rng): AsyncGenerator<string> {
  if (size <= 1) {
    yield* lines;
    return;
  }
  const buf: string[] = [];
  for await (const line of lines) {
    if (buf.length < size) {
      buf.push(line);
      continue;
    }
    const j = rng.int(size);
    const out = buf[j]!;
    buf[j] = line;
    yield out;
  }
  for (let i = buf.length - 1; i >= 0; i--) {
    const j = rng.int(i + 1);
    const out = buf[j]!;
    buf[j] = buf[i]!;
    yield out;
  }
}

/**
 * This peer's documents: sharded, shuffled, and (by default) repeated pass
 * after pass. Throws DataSourceError at once for a malformed URL or unknown
 * generated corpus; while iterating, DataSourceError for a manifest or
 * directory and DataUnitError for a file that cannot be read (documents.ts).
 */
export function createDataset(spec: DatasetSpec, shard: Shard, opts: ReadOptions = {}): AsyncIterable<string> {
  validateShard(shard);
  if (spec.urls.length === 0) throw new DataSourceError('(none)', 'data.urls is empty');
  for (const url of spec.urls) {
    if (sourceKind(url) === 'generated') {
      try {
        generatedCorpus(url.slice('generated:'.length));
      } catch (e) {
        throw new DataSourceError(url, errorMessage(e));
      }
    }
  }
  const size = spec.shuffleBuffer ?? 1024;
  if (!Number.isInteger(size) || size < 1) throw new Error(`dataset.shuffleBuffer: ${size}`);
  const loop = spec.loop ?? true;
  const seed = spec.seed ?? 0;
  return {
    async *[Symbol.asyncIterator]() {
      for (let pass = 0; ; pass++) {
        const rng = createRng(`${seed}/shard${shard.index}of${shard.count}/pass${pass}`);
        let any = false;
        for await (const line of shuffled(shardLines(spec, shard, opts), size, rng)) {
          any = true;
          yield line;
        }
        // A shard with no lines would spin forever; stop instead.
        if (!loop || !any) return;
      }
    },
  };
}

/**
 * The first `maxLines` non-blank lines over all URLs in order, unsharded and
 * unshuffled: the same on every peer (used to train a shared vocabulary).
 */
export async function readPrefix(urls: readonly string[], maxLines: number, opts: ReadOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const url of urls) {
    for await (const line of readLines(url, opts)) {
      if (out.length >= maxLines) return out;
      if (line.trim() !== '') out.push(line);
    }
    if (out.length >= maxLines) return out;
  }
  return out;
}
