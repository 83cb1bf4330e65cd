import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Tokenizer } from '@huggingface/tokenizers';
import { loadTokenizer, tokenizerFromJson, type TokenizerJson, TokenizerLoadError } from './tokenizer.ts';
import { trainWordPiece } from './wordpiece.ts';

const here = new URL('./testdata/', import.meta.url).pathname;
const readJson = (name: string): TokenizerJson => JSON.parse(readFileSync(here + name, 'utf8')) as TokenizerJson;

/** The library's own encoding, without special tokens: our word-aware encoding must agree with it. */
const libraryIds = (json: TokenizerJson, text: string): number[] => new Tokenizer(json, {}).encode(text, { add_special_tokens: false }).ids;

describe('tokenizer.json through Tokenizers.js', () => {
  it('BPE (byte-level): pieces of one word share a word id, ids equal the library’s', () => {
    const json = readJson('bpe-bytelevel.json');
    const tok = tokenizerFromJson(json);
    const e = tok.encodeWords('hello world');
    expect(e.ids.map((i) => tok.idToToken(i))).toEqual(['hello', 'Ġwor', 'l', 'd']);
    expect(e.wordIds).toEqual([0, 1, 1, 1]);
    expect(e.ids).toEqual(libraryIds(json, 'hello world'));
    expect(tok.special).toEqual({ pad: 0, mask: 1, unk: 2, cls: 18, sep: 19 });
    expect(tok.vocabSize).toBe(20);
    expect(tok.decode(e.ids)).toBe('hello world');
  });

  it('Unigram (metaspace): best-scoring segmentation, word ids per ▁-word, ids equal the library’s', () => {
    const json = readJson('unigram-metaspace.json');
    const tok = tokenizerFromJson(json);
    const e = tok.encodeWords('the cats sat');
    // "▁cats": ▁cat + s (−3 − 2 = −5) beats ▁ + cat + s (−5.5).
    expect(e.ids.map((i) => tok.idToToken(i))).toEqual(['▁the', '▁cat', 's', '▁sat']);
    expect(e.wordIds).toEqual([0, 1, 1, 2]);
    expect(e.ids).toEqual(libraryIds(json, 'the cats sat'));
    expect(tok.special.cls).toBeUndefined();
  });

  it('WordPiece (trained here): ##pieces join their word; punctuation is its own word', () => {
    const json = trainWordPiece(['the cat sat on the mat.', 'the cat ate the rat!', 'a cat, a mat, a rat.'], { vocabSize: 40 });
    const tok = tokenizerFromJson(json);
    const text = 'The cat sat, cathat!';
    const e = tok.encodeWords(text);
    const pieces = e.ids.map((i) => tok.idToToken(i)!);
    expect(pieces.filter((p) => p.startsWith('##')).length).toBeGreaterThan(0);
    // Every ## piece continues the word of the piece before it; every other piece starts a new word.
    pieces.forEach((p, i) => {
      if (i === 0) expect(e.wordIds[0]).toBe(0);
      else expect(e.wordIds[i]).toBe(p.startsWith('##') ? e.wordIds[i - 1] : e.wordIds[i - 1]! + 1);
    });
    expect(e.ids).toEqual(libraryIds(json, text));
    expect(e.ids).not.toContain(tok.special.unk);
    expect(tok.decode(e.ids)).toBe('the cat sat, cathat!');
  });

  it('does not turn special-token strings in the text into special tokens', () => {
    const tok = tokenizerFromJson(trainWordPiece(['mask the cat [ ] .', 'mask the cat [ ] .'], { vocabSize: 60 }));
    const e = tok.encodeWords('the [MASK] cat');
    expect(e.ids).not.toContain(tok.special.mask);
    expect(e.ids.map((i) => tok.idToToken(i))).toEqual(['the', '[', 'mask', ']', 'cat']);
  });

  it('rejects a tokenizer without a mask or padding token, naming it', () => {
    const json = readJson('unigram-metaspace.json');
    json.added_tokens = json.added_tokens.filter((t) => t.content !== '<mask>');
    (json.model.vocab as [string, number][])[1]![0] = 'x';
    expect(() => tokenizerFromJson(json)).toThrow(TokenizerLoadError);
    expect(() => tokenizerFromJson(json)).toThrow(/mask token/);
    expect(() => tokenizerFromJson({ model: { vocab: {} } } as unknown as TokenizerJson)).toThrow(/rejected/);
  });

  it('hash identifies the vocabulary', () => {
    const a = tokenizerFromJson(trainWordPiece(['a b c', 'a b'], { vocabSize: 30 }));
    const b = tokenizerFromJson(trainWordPiece(['a b c', 'a b'], { vocabSize: 30 }));
    const c = tokenizerFromJson(trainWordPiece(['a b d', 'a b'], { vocabSize: 30 }));
    expect(a.hash).toBe(b.hash);
    expect(a.hash).not.toBe(c.hash);
    expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('loadTokenizer', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const body = readFileSync(here + 'bpe-bytelevel.json');
    server = createServer((req, res) => {
      if (req.url === '/tokenizer.json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      } else if (req.url === '/garbage.json') {
        res.end('{not json');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('loads from an absolute path, a file:// URL and an http URL', async () => {
    for (const src of [here + 'bpe-bytelevel.json', `file://${here}bpe-bytelevel.json`, `${base}/tokenizer.json`]) {
      const tok = await loadTokenizer(src);
      expect(tok.encodeWords('hello').ids).toEqual([14]);
    }
  });

  it('names the source and the reason when it cannot load', async () => {
    await expect(loadTokenizer(`${base}/nope.json`)).rejects.toThrow(/nope\.json: HTTP 404/);
    await expect(loadTokenizer(`${base}/garbage.json`)).rejects.toThrow(/is not JSON/);
    await expect(loadTokenizer('/nonexistent/tokenizer.json')).rejects.toThrow(TokenizerLoadError);
  });
});
