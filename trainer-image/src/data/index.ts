/**
 * Data layer: tokenizer, the swarm's pool of data units (files and byte
 * ranges, each read by one peer per pass), the streaming dataset of a
 * generated corpus, whole-word MLM batches.
 *
 *   const tokenizer = await createTokenizer(spec.data);
 *   const pool = await DataPool.open({ kv, urls: spec.data.urls, unitBytes, peerId, … });
 *   const docs = shuffled(pool.documents(), 256, createRng(peerId));
 *   for await (const batch of mlmBatches(docs, tokenizer, { seqLength, batchSize, maskProbability, seed: peerId })) …
 */
import { readPrefix } from './dataset.ts';
import type { ReadOptions } from './source.ts';
import { loadTokenizer, type TextTokenizer, tokenizerFromJson } from './tokenizer.ts';
import { trainWordPiece } from './wordpiece.ts';

export { IGNORE_INDEX, type MlmBatch, batchTensors, maskedCount, validateBatch } from './batch.ts';
export { createDataset, type DatasetSpec, readPrefix, type Shard, shardingMode, shuffled } from './dataset.ts';
export { createDataMetrics, type DataMetrics, DataPool, type DataPoolOptions, type DataProgress, DEFAULT_LEASE_MS } from './pool-kv.ts';
export { type DataPosition, parsePosition } from './pool.ts';
export { DataUnitError } from './unit-reader.ts';
export { DEFAULT_UNIT_BYTES } from './units.ts';
export { GENERATED_CORPORA, generatedLine, UnknownCorpusError } from './generated.ts';
export {
  type BatchOptions, createPacker, MaskActions, type MaskAction, maskBatch, maskSequence, type MaskVocab, mlmBatches, type PackedSequence,
} from './mlm.ts';
export { createRng, hash32, type Rng, shuffleInPlace } from './rng.ts';
export { readLines } from './documents.ts';
export { DataSourceError, type ReadOptions, sourceKind } from './source.ts';
export {
  loadTokenizer, type SpecialIds, type TextTokenizer, tokenizerFromJson, type TokenizerJson, TokenizerLoadError, type WordEncoding,
} from './tokenizer.ts';
export { trainWordPiece, WORDPIECE_SPECIALS, type WordPieceTrainOptions } from './wordpiece.ts';

export interface TokenizerSourceOptions extends ReadOptions {
  /** Vocabulary size when training. @default 2048 */
  vocabSize?: number;
  /** Lines read (from the start of the URLs, in order) when training. @default 20000 */
  trainLines?: number;
}

/**
 * The swarm's tokenizer: the spec's tokenizer.json (path or URL) when given;
 * otherwise a WordPiece vocabulary trained on the first `trainLines` lines
 * of the data, the same lines on every peer, so every peer derives the same
 * vocabulary (compare `tokenizer.hash`).
 */
export async function createTokenizer(
  data: { urls: readonly string[]; tokenizer?: string | undefined },
  opts: TokenizerSourceOptions = {},
): Promise<TextTokenizer> {
  if (data.tokenizer !== undefined && data.tokenizer !== '') return loadTokenizer(data.tokenizer, opts);
  const lines = await readPrefix(data.urls, opts.trainLines ?? 20_000, opts);
  return tokenizerFromJson(trainWordPiece(lines, { vocabSize: opts.vocabSize ?? 2048 }));
}
