/**
 * Tokenizers: a standard Hugging Face `tokenizer.json` (WordPiece, BPE or
 * Unigram) loaded through Tokenizers.js (`@huggingface/tokenizers`, pure JS,
 * no dependencies, no network: we hand it the parsed JSON).
 *
 * For whole-word masking we need to know which tokens form one word. The
 * library's encode() does not say, so `encodeWords` runs the same pipeline
 * the library runs — normalizer, pre-tokenizer, model — one pre-token at a
 * time: every pre-token starts a word (BERT pre-tokenizer: a run of letters
 * or one punctuation mark; ByteLevel: a space-prefixed chunk). SentencePiece
 * style tokenizers mark a word start with "▁" inside one pre-token (the
 * library's Metaspace does not split), so there a token that begins with the
 * marker starts a new word too.
 * Special-token strings inside training text are NOT turned into special
 * tokens (the library's added-token splitting is skipped on purpose): data
 * cannot inject [MASK] or [SEP].
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import { errorMessage } from '../common/index.ts';

/** The parsed tokenizer.json (the subset we read; the library reads the rest). */
export interface TokenizerJson {
  added_tokens: { id: number; content: string; special: boolean; [k: string]: unknown }[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  model: { type?: string; vocab: unknown; [k: string]: unknown };
  [k: string]: unknown;
}

export interface SpecialIds {
  pad: number;
  mask: number;
  unk?: number;
  /** Sequence start ([CLS] or <s>); absent: sequences are not wrapped. */
  cls?: number;
  /** Segment end ([SEP] or </s>). */
  sep?: number;
}

export interface WordEncoding {
  ids: number[];
  /** For each token, the index of its word in the text (0, 1, 2, …). */
  wordIds: number[];
}

export interface TextTokenizer {
  readonly vocabSize: number;
  readonly special: Readonly<SpecialIds>;
  /** Every special token id (never chosen as a random replacement). */
  readonly specialIds: ReadonlySet<number>;
  /** sha256 of the canonical tokenizer.json: peers compare it to be sure they share a vocabulary. */
  readonly hash: string;
  /** Tokens of `text` (no special tokens added) with their word indices. */
  encodeWords(text: string): WordEncoding;
  decode(ids: readonly number[]): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /** The tokenizer.json this tokenizer was built from. */
  toJSON(): TokenizerJson;
}

/** Thrown when a tokenizer.json cannot be loaded or lacks a required special token. */
export class TokenizerLoadError extends Error {
  readonly code = 'ERR_TOKENIZER_LOAD';
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerLoadError';
  }
}

const METASPACE = '\u2581';

const SPECIAL_NAMES: Record<keyof SpecialIds, readonly string[]> = {
  pad: ['[PAD]', '<pad>'],
  mask: ['[MASK]', '<mask>'],
  unk: ['[UNK]', '<unk>'],
  cls: ['[CLS]', '<s>', '<cls>'],
  sep: ['[SEP]', '</s>', '<sep>'],
};

/** Builds a tokenizer from a parsed tokenizer.json. */
export function tokenizerFromJson(json: TokenizerJson): TextTokenizer {
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, {});
  } catch (e) {
    throw new TokenizerLoadError(`tokenizer.json rejected: ${errorMessage(e)}`);
  }
  const vocab = tok.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;
  const find = (names: readonly string[]): number | undefined => {
    for (const n of names) {
      const id = tok.token_to_id(n);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  const pad = find(SPECIAL_NAMES.pad);
  const mask = find(SPECIAL_NAMES.mask);
  if (mask === undefined) throw new TokenizerLoadError(`tokenizer has no mask token (${SPECIAL_NAMES.mask.join(' or ')})`);
  if (pad === undefined) throw new TokenizerLoadError(`tokenizer has no padding token (${SPECIAL_NAMES.pad.join(' or ')})`);
  const special: SpecialIds = { pad, mask };
  for (const k of ['unk', 'cls', 'sep'] as const) {
    const id = find(SPECIAL_NAMES[k]);
    if (id !== undefined) special[k] = id;
  }
  const specialIds = new Set<number>(json.added_tokens.filter((t) => t.special).map((t) => t.id));
  for (const id of Object.values(special)) specialIds.add(id as number);

  const canonical = JSON.stringify(json);
  const hash = createHash('sha256').update(canonical).digest('hex');
  const normalizer = tok.normalizer;
  const preTokenizer = tok.pre_tokenizer;
  const model = tok.model!;
  const unk = model.unk_token_id ?? special.unk;
  // SentencePiece word-start marker, if the pipeline uses one.
  const marker = [json.pre_tokenizer, json.normalizer, json.decoder].some((x) => JSON.stringify(x ?? null).includes(METASPACE))
    ? METASPACE
    : undefined;

  const encodeWords = (text: string): WordEncoding => {
    const normalized = normalizer !== null ? normalizer(text) : text;
    const words = preTokenizer !== null ? preTokenizer(normalized, { section_index: 0 }) : [normalized];
    const ids: number[] = [];
    const wordIds: number[] = [];
    let w = -1;
    for (const word of words) {
      if (word.length === 0) continue;
      let first = true;
      for (const piece of model([word])) {
        const id = model.tokens_to_ids.get(piece) ?? unk;
        if (id === undefined) continue;
        if (first || (marker !== undefined && piece.startsWith(marker))) w++;
        first = false;
        ids.push(id);
        wordIds.push(w);
      }
    }
    return { ids, wordIds };
  };

  return Object.freeze({
    vocabSize,
    special: Object.freeze(special),
    specialIds,
    hash,
    encodeWords,
    decode: (ids: readonly number[]) => (ids.length === 0 ? '' : tok.decode([...ids], { skip_special_tokens: false })),
    idToToken: (id: number) => tok.id_to_token(id),
    tokenToId: (t: string) => tok.token_to_id(t),
    toJSON: () => JSON.parse(canonical) as TokenizerJson,
  });
}

/**
 * Loads a tokenizer.json from an absolute path, a file:// URL or an http(s)
 * URL (an object store). Nothing is downloaded from a model hub by name.
 */
export async function loadTokenizer(
  source: string,
  opts: { fetch?: typeof fetch; signal?: AbortSignal } = {},
): Promise<TextTokenizer> {
  let text: string;
  try {
    if (source.startsWith('http://') || source.startsWith('https://')) {
      const res = await (opts.fetch ?? fetch)(source, opts.signal ? { signal: opts.signal } : {});
      if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
      text = await res.text();
    } else {
      const path = source.startsWith('file://') ? new URL(source).pathname : source;
      text = await readFile(path, 'utf8');
    }
  } catch (e) {
    throw new TokenizerLoadError(`cannot read tokenizer ${source}: ${errorMessage(e)}`);
  }
  let json: TokenizerJson;
  try {
    json = JSON.parse(text) as TokenizerJson;
  } catch (e) {
    throw new TokenizerLoadError(`tokenizer ${source} is not JSON: ${errorMessage(e)}`);
  }
  return tokenizerFromJson(json);
}
