import { Tokenizer } from '@huggingface/tokenizers';
import { generatedLine } from './generated.ts';
import { tokenizerFromJson } from './tokenizer.ts';
import { trainWordPiece, WORDPIECE_SPECIALS } from './wordpiece.ts';

const corpus = Array.from({ length: 2000 }, (_, n) => generatedLine('tiny-corpus', n));

describe('trainWordPiece', () => {
  it('emits a BERT-style tokenizer.json: specials first, then the alphabet, then merges', () => {
    const json = trainWordPiece(['low lower lowest', 'low lower', 'newer newest'], { vocabSize: 30 });
    const vocab = json.model.vocab as Record<string, number>;
    expect(WORDPIECE_SPECIALS.map((t) => vocab[t])).toEqual([0, 1, 2, 3, 4]);
    expect(json.model).toMatchObject({ type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##' });
    // 'l' starts words; 'e' only continues them, so only '##e' exists.
    expect(vocab['l']).toBeDefined();
    expect(vocab['##e']).toBeDefined();
    expect(vocab['e']).toBeUndefined();
    // (l,##o), (##o,##w) and (##w,##e) all occur 5 times, more than any other
    // pair; the tie goes to the smallest text, "##o ##w", merged right after the alphabet.
    const alphabetEnd = Math.max(...Object.entries(vocab).filter(([t]) => [...t.replace(/^##/, '')].length === 1 && !t.startsWith('[')).map(([, i]) => i));
    expect(vocab['##ow']).toBe(alphabetEnd + 1);
    expect(Object.keys(vocab).length).toBeLessThanOrEqual(30);
  });

  it('is deterministic, and stops at vocabSize or when no pair repeats', () => {
    const a = trainWordPiece(corpus, { vocabSize: 200 });
    expect(JSON.stringify(trainWordPiece(corpus, { vocabSize: 200 }))).toBe(JSON.stringify(a));
    expect(Object.keys(a.model.vocab as object).length).toBe(200);
    const big = trainWordPiece(['abc abc', 'xyz'], { vocabSize: 1000 });
    // Alphabet a ##b ##c x ##y ##z, then merges of the repeated "abc" only
    // ((a,##b) and (##b,##c) tie at 2; "##b ##c" is the smaller text).
    expect(Object.keys(big.model.vocab as object).sort()).toEqual([...WORDPIECE_SPECIALS, '##b', '##c', 'a', '##bc', 'abc', 'x', '##y', '##z'].sort());
  });

  it('learns whole words of the tiny corpus with a big enough vocabulary, and splits words with a small one', () => {
    const big = tokenizerFromJson(trainWordPiece(corpus, { vocabSize: 2048 }));
    expect(big.encodeWords('the capital of iceland is reykjavik .').ids).toHaveLength(7);
    const small = tokenizerFromJson(trainWordPiece(corpus, { vocabSize: 80 }));
    const e = small.encodeWords('reykjavik');
    expect(e.ids.length).toBeGreaterThan(2);
    expect(new Set(e.wordIds)).toEqual(new Set([0]));
    expect(e.ids).not.toContain(small.special.unk);
  });

  it('produces JSON that the library encodes like our word-aware encoder', () => {
    const json = trainWordPiece(corpus, { vocabSize: 120 });
    const lib = new Tokenizer(json, {});
    const ours = tokenizerFromJson(json);
    for (const line of corpus.slice(0, 50)) expect(ours.encodeWords(line).ids).toEqual(lib.encode(line, { add_special_tokens: false }).ids);
    expect(lib.encode('the cat').ids[0]).toBe(ours.special.cls);
  });

  it('rejects a vocabulary too small for the specials', () => {
    expect(() => trainWordPiece(['a'], { vocabSize: 5 })).toThrow(/too small/);
  });
});
