/**
 * A small WordPiece vocabulary trainer, for swarms whose spec names no
 * tokenizer (the CRD: "Empty trains a small WordPiece vocabulary from the
 * data"). Tokenizers.js only encodes; the Rust `tokenizers` trainer is not
 * available to Node without a native addon, so this is ours. It emits a
 * standard BERT-style tokenizer.json that the library then loads like any
 * other, so training and encoding share one code path.
 *
 * Algorithm: the one Hugging Face's WordPieceTrainer uses — BPE merges over
 * a word-frequency table, with non-initial pieces written "##piece". Words
 * are found with the same normalizer (BertNormalizer, lowercase) and
 * pre-tokenizer (BertPreTokenizer) the emitted tokenizer runs. Merges go by
 * pair frequency, ties broken by the pair's text, so every peer that trains
 * on the same lines gets the same vocabulary. Cost is O(merges × distinct
 * words): meant for small vocabularies (thousands); ship a tokenizer.json for
 * a real run.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { TokenizerJson } from './tokenizer.ts';

export interface WordPieceTrainOptions {
  /** Target vocabulary size, specials and alphabet included. @default 2048 */
  vocabSize?: number;
  /** Pairs seen fewer times are never merged. @default 2 */
  minFrequency?: number;
  /** Characters seen fewer times are left out (they encode as [UNK]). @default 1 */
  minCharFrequency?: number;
  /** @default true */
  lowercase?: boolean;
}

export const WORDPIECE_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const PREFIX = '##';

function skeleton(vocab: Record<string, number>, lowercase: boolean): TokenizerJson {
  const id = (t: string): number => vocab[t]!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: WORDPIECE_SPECIALS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: PREFIX,
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Trains a WordPiece vocabulary on `lines` and returns the tokenizer.json. */
export function trainWordPiece(lines: Iterable<string>, opts: WordPieceTrainOptions = {}): TokenizerJson {
  const vocabSize = opts.vocabSize ?? 2048;
  const minFrequency = opts.minFrequency ?? 2;
  const minCharFrequency = opts.minCharFrequency ?? 1;
  const lowercase = opts.lowercase ?? true;
  if (!Number.isInteger(vocabSize) || vocabSize < WORDPIECE_SPECIALS.length + 1) {
    throw new Error(`wordpiece.vocabSize: ${vocabSize} is too small`);
  }

  // The emitted tokenizer's own normalizer and pre-tokenizer find the words.
  const words = new Map<string, number>();
  const splitter = wordSplitter(lowercase);
  for (const line of lines) for (const w of splitter(line)) words.set(w, (words.get(w) ?? 0) + 1);

  // Alphabet: initial characters and ##continuations, by frequency then text.
  const charFreq = new Map<string, number>();
  for (const [w, n] of words) {
    [...w].forEach((ch, i) => {
      const sym = i === 0 ? ch : PREFIX + ch;
      charFreq.set(sym, (charFreq.get(sym) ?? 0) + n);
    });
  }
  const alphabet = [...charFreq.entries()]
    .filter(([, n]) => n >= minCharFrequency)
    .sort((a, b) => b[1] - a[1] || cmp(a[0], b[0]))
    .map(([s]) => s);
  const vocab: string[] = [...WORDPIECE_SPECIALS];
  const inVocab = new Set<string>(vocab);
  for (const s of alphabet) {
    if (vocab.length >= vocabSize) break;
    if (!inVocab.has(s)) {
      vocab.push(s);
      inVocab.add(s);
    }
  }

  // Each distinct word as its current symbols; words with an unknown char are skipped.
  const entries: { syms: string[]; n: number }[] = [];
  for (const [w, n] of [...words.entries()].sort((a, b) => cmp(a[0], b[0]))) {
    const syms = [...w].map((ch, i) => (i === 0 ? ch : PREFIX + ch));
    if (syms.every((s) => inVocab.has(s))) entries.push({ syms, n });
  }

  while (vocab.length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of entries) {
      for (let i = 0; i + 1 < syms.length; i++) {
        const key = `${syms[i]}\u0000${syms[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best: string | undefined;
    let bestN = 0;
    for (const [k, n] of pairs) {
      if (n > bestN || (n === bestN && best !== undefined && cmp(k, best) < 0)) {
        best = k;
        bestN = n;
      }
    }
    if (best === undefined || bestN < minFrequency) break;
    const [a, b] = best.split('\u0000') as [string, string];
    const merged = a + b.slice(PREFIX.length);
    for (const e of entries) {
      const out: string[] = [];
      for (let i = 0; i < e.syms.length; i++) {
        if (i + 1 < e.syms.length && e.syms[i] === a && e.syms[i + 1] === b) {
          out.push(merged);
          i++;
        } else {
          out.push(e.syms[i]!);
        }
      }
      e.syms = out;
    }
    if (!inVocab.has(merged)) {
      vocab.push(merged);
      inVocab.add(merged);
    }
  }
  return skeleton(Object.fromEntries(vocab.map((t, i) => [t, i])), lowercase);
}

/**
 * Words as the emitted tokenizer sees them (BertNormalizer, then
 * BertPreTokenizer), through the library itself so that the trainer and the
 * encoder cannot disagree.
 */
function wordSplitter(lowercase: boolean): (line: string) => string[] {
  const t = new Tokenizer(skeleton(Object.fromEntries(WORDPIECE_SPECIALS.map((s, i) => [s, i])), lowercase), {});
  return (line) => {
    const norm = t.normalizer !== null ? t.normalizer(line) : line;
    return t.pre_tokenizer !== null ? t.pre_tokenizer(norm, { section_index: 0 }) : [norm];
  };
}
