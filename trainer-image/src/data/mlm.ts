/**
 * From documents to masked-LM batches: pack tokenized documents into
 * fixed-length sequences without splitting a word, then mask whole words.
 *
 * Packing: [CLS] doc₁ [SEP] doc₂ [SEP] … [PAD]… A document that does not fit
 * continues in the next sequence, cut between two words; a single word longer
 * than a sequence is truncated. Without [CLS]/[SEP] in the vocabulary the
 * sequence is not wrapped.
 *
 * Whole-word masking (BERT's wwm, RoBERTa-style counts): in each sequence,
 * round(maskProbability · words) words (at least one) are chosen uniformly
 * without replacement; every token of a chosen word is predicted. Each chosen
 * word, as a whole, is then replaced by [MASK] tokens (80%), by random
 * non-special tokens (10%), or left as it is (10%). A word is masked whole
 * or not at all.
 */
import { IGNORE_INDEX, type MlmBatch } from './batch.ts';
import { createRng, type Rng } from './rng.ts';
import type { SpecialIds, TextTokenizer, WordEncoding } from './tokenizer.ts';

/** A packed sequence before masking; wordIds are -1 on special tokens. */
export interface PackedSequence {
  ids: number[];
  wordIds: number[];
}

/** Packs tokenized documents into sequences of at most seqLength tokens. */
export function createPacker(seqLength: number, special: Pick<SpecialIds, 'cls' | 'sep'>): {
  /** Adds one document; returns the sequences it completed. */
  push(doc: WordEncoding): PackedSequence[];
  /** Returns the sequence in progress, if it holds any token of a document. */
  flush(): PackedSequence | undefined;
} {
  const head = special.cls !== undefined ? 1 : 0;
  const tail = special.sep !== undefined ? 1 : 0;
  const capacity = seqLength - head - tail;
  if (capacity < 1) throw new Error(`seqLength ${seqLength} leaves no room for tokens`);
  let cur: PackedSequence | undefined;
  let words = 0; // word counter within cur
  let open = false; // a document segment is open in cur (needs a [SEP])

  const start = (): PackedSequence => {
    const s: PackedSequence = { ids: [], wordIds: [] };
    if (special.cls !== undefined) {
      s.ids.push(special.cls);
      s.wordIds.push(-1);
    }
    words = 0;
    return s;
  };
  const close = (): void => {
    if (cur !== undefined && open && special.sep !== undefined) {
      cur.ids.push(special.sep);
      cur.wordIds.push(-1);
    }
    open = false;
  };

  return {
    push(doc) {
      const done: PackedSequence[] = [];
      let i = 0;
      while (i < doc.ids.length) {
        let j = i;
        while (j < doc.ids.length && doc.wordIds[j] === doc.wordIds[i]) j++;
        let piece = doc.ids.slice(i, j);
        if (piece.length > capacity) piece = piece.slice(0, capacity);
        if (cur === undefined) cur = start();
        if (cur.ids.length + piece.length + tail > seqLength) {
          close();
          done.push(cur);
          cur = start();
        }
        for (const id of piece) {
          cur.ids.push(id);
          cur.wordIds.push(words);
        }
        words++;
        open = true;
        i = j;
      }
      close();
      // A sequence with no room for one more token and its [SEP] is complete.
      if (cur !== undefined && cur.ids.length + 1 + tail > seqLength) {
        done.push(cur);
        cur = undefined;
      }
      return done;
    },
    flush() {
      close();
      const s = cur;
      cur = undefined;
      return s !== undefined && s.wordIds.some((w) => w >= 0) ? s : undefined;
    },
  };
}

export interface MaskOptions {
  /** Fraction of words to predict. @default 0.15 */
  maskProbability?: number;
  rng: Rng;
}

/** Vocabulary facts masking needs (a TextTokenizer has them all). */
export interface MaskVocab {
  vocabSize: number;
  special: Pick<SpecialIds, 'pad' | 'mask'>;
  specialIds: ReadonlySet<number>;
}

/** What happened to one chosen word (exported for tests and debugging). */
export const MaskActions = { Mask: 'mask', Random: 'random', Keep: 'keep' } as const;
export type MaskAction = (typeof MaskActions)[keyof typeof MaskActions];

const replacementCache = new WeakMap<ReadonlySet<number>, Map<number, Int32Array>>();

function replacementIds(vocab: MaskVocab): Int32Array {
  let byVocab = replacementCache.get(vocab.specialIds);
  if (byVocab === undefined) replacementCache.set(vocab.specialIds, (byVocab = new Map()));
  let ids = byVocab.get(vocab.vocabSize);
  if (ids === undefined) {
    const xs: number[] = [];
    for (let i = 0; i < vocab.vocabSize; i++) if (!vocab.specialIds.has(i)) xs.push(i);
    ids = Int32Array.from(xs);
    byVocab.set(vocab.vocabSize, ids);
  }
  return ids;
}

/**
 * Masks one packed sequence into row `row` of the batch arrays and returns
 * the chosen words with their action.
 */
export function maskSequence(
  seq: PackedSequence,
  vocab: MaskVocab,
  opts: MaskOptions,
  out: { inputIds: Int32Array; labels: Int32Array; attentionMask: Int32Array; offset: number; seqLength: number },
): { word: number; action: MaskAction }[] {
  const p = opts.maskProbability ?? 0.15;
  if (!(p > 0 && p <= 1)) throw new Error(`maskProbability: ${p} not in (0, 1]`);
  if (seq.ids.length > out.seqLength) throw new Error(`sequence of ${seq.ids.length} tokens exceeds seqLength ${out.seqLength}`);
  const { offset, seqLength } = out;
  for (let t = 0; t < seqLength; t++) {
    const real = t < seq.ids.length;
    out.inputIds[offset + t] = real ? seq.ids[t]! : vocab.special.pad;
    out.attentionMask[offset + t] = real ? 1 : 0;
    out.labels[offset + t] = IGNORE_INDEX;
  }
  // Positions of each word.
  const positions = new Map<number, number[]>();
  seq.wordIds.forEach((w, t) => {
    if (w < 0) return;
    let ps = positions.get(w);
    if (ps === undefined) positions.set(w, (ps = []));
    ps.push(t);
  });
  const words = [...positions.keys()];
  if (words.length === 0) return [];
  const k = Math.min(words.length, Math.max(1, Math.round(p * words.length)));
  // Partial Fisher–Yates: the first k entries are a uniform k-subset.
  for (let i = 0; i < k; i++) {
    const j = i + opts.rng.int(words.length - i);
    const t = words[i]!;
    words[i] = words[j]!;
    words[j] = t;
  }
  const replacements = replacementIds(vocab);
  const chosen: { word: number; action: MaskAction }[] = [];
  for (const w of words.slice(0, k).sort((a, b) => a - b)) {
    const r = opts.rng.float();
    const action: MaskAction = r < 0.8 ? MaskActions.Mask : r < 0.9 ? MaskActions.Random : MaskActions.Keep;
    for (const t of positions.get(w)!) {
      out.labels[offset + t] = seq.ids[t]!;
      if (action === MaskActions.Mask) out.inputIds[offset + t] = vocab.special.mask;
      else if (action === MaskActions.Random) out.inputIds[offset + t] = replacements[opts.rng.int(replacements.length)]!;
    }
    chosen.push({ word: w, action });
  }
  return chosen;
}

/** Masks packed sequences into one batch of B = seqs.length rows of seqLength. */
export function maskBatch(seqs: readonly PackedSequence[], seqLength: number, vocab: MaskVocab, opts: MaskOptions): MlmBatch {
  const B = seqs.length;
  if (B === 0) throw new Error('maskBatch: no sequences');
  const inputIds = new Int32Array(B * seqLength);
  const attentionMask = new Int32Array(B * seqLength);
  const labels = new Int32Array(B * seqLength);
  seqs.forEach((s, b) => maskSequence(s, vocab, opts, { inputIds, labels, attentionMask, offset: b * seqLength, seqLength }));
  return { batchSize: B, seqLength, inputIds, attentionMask, labels };
}

export interface BatchOptions {
  seqLength: number;
  /** Sequences per batch (the spec's microBatchSize). */
  batchSize: number;
  /** @default 0.15 */
  maskProbability?: number;
  /** Masking seed (mix in the peer id so peers mask differently). @default 0 */
  seed?: number | string;
}

/**
 * Masked-LM batches from a stream of documents. Ends (after a last, possibly
 * smaller batch) when the documents end.
 */
export async function* mlmBatches(docs: AsyncIterable<string>, tokenizer: TextTokenizer, opts: BatchOptions): AsyncGenerator<MlmBatch> {
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`batchSize: ${opts.batchSize}`);
  const rng = createRng(`mlm/${opts.seed ?? 0}`);
  const maskOpts: MaskOptions = { rng, maskProbability: opts.maskProbability ?? 0.15 };
  const packer = createPacker(opts.seqLength, tokenizer.special);
  let pending: PackedSequence[] = [];
  for await (const doc of docs) {
    pending.push(...packer.push(tokenizer.encodeWords(doc)));
    while (pending.length >= opts.batchSize) {
      yield maskBatch(pending.slice(0, opts.batchSize), opts.seqLength, tokenizer, maskOpts);
      pending = pending.slice(opts.batchSize);
    }
  }
  const last = packer.flush();
  if (last !== undefined) pending.push(last);
  while (pending.length > 0) {
    yield maskBatch(pending.slice(0, opts.batchSize), opts.seqLength, tokenizer, maskOpts);
    pending = pending.slice(opts.batchSize);
  }
}
