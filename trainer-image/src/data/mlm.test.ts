import { IGNORE_INDEX, maskedCount, validateBatch } from './batch.ts';
import { createDataset } from './dataset.ts';
import { generatedLine } from './generated.ts';
import { createPacker, MaskActions, maskBatch, maskSequence, type MaskAction, mlmBatches, type PackedSequence } from './mlm.ts';
import { createRng } from './rng.ts';
import { tokenizerFromJson } from './tokenizer.ts';
import { trainWordPiece } from './wordpiece.ts';

const CLS = 98;
const SEP = 99;
const doc = (...words: number[][]) => ({ ids: words.flat(), wordIds: words.flatMap((w, i) => w.map(() => i)) });

describe('createPacker', () => {
  it('packs documents as [CLS] doc [SEP] doc [SEP], numbering words per sequence', () => {
    const p = createPacker(12, { cls: CLS, sep: SEP });
    expect(p.push(doc([10, 11], [12], [13, 14, 15]))).toEqual([]);
    const [s] = p.push(doc([20], [21, 22]));
    expect(s).toEqual({ ids: [CLS, 10, 11, 12, 13, 14, 15, SEP, 20, 21, 22, SEP], wordIds: [-1, 0, 0, 1, 2, 2, 2, -1, 3, 4, 4, -1] });
    expect(p.flush()).toBeUndefined();
  });

  it('continues a long document in the next sequence without splitting a word', () => {
    const p = createPacker(6, { cls: CLS, sep: SEP });
    const done = p.push(doc([1, 2], [3, 4, 5], [6]));
    // [3,4,5] does not fit after [CLS] 1 2 with its [SEP]; the second sequence is full.
    expect(done).toEqual([
      { ids: [CLS, 1, 2, SEP], wordIds: [-1, 0, 0, -1] },
      { ids: [CLS, 3, 4, 5, 6, SEP], wordIds: [-1, 0, 0, 0, 1, -1] },
    ]);
    expect(p.push(doc([7]))).toEqual([]);
    expect(p.flush()).toEqual({ ids: [CLS, 7, SEP], wordIds: [-1, 0, -1] });
  });

  it('truncates a word longer than a sequence, and does not wrap without [CLS]/[SEP]', () => {
    const p = createPacker(5, { cls: CLS, sep: SEP });
    expect(p.push(doc([1, 2, 3, 4, 5]))).toEqual([{ ids: [CLS, 1, 2, 3, SEP], wordIds: [-1, 0, 0, 0, -1] }]);
    const bare = createPacker(4, {});
    expect(bare.push(doc([1], [2, 3]))).toEqual([]);
    expect(bare.push(doc([4], [5]))).toEqual([{ ids: [1, 2, 3, 4], wordIds: [0, 1, 1, 2] }]);
    expect(() => createPacker(2, { cls: CLS, sep: SEP })).toThrow(/no room/);
  });
});

describe('whole-word masking', () => {
  // A small vocabulary, so that most words split into several WordPiece tokens.
  const tok = tokenizerFromJson(trainWordPiece(Array.from({ length: 1000 }, (_, n) => generatedLine('tiny-corpus', n)), { vocabSize: 90 }));
  const seqLength = 64;
  const sequences: PackedSequence[] = [];
  {
    const p = createPacker(seqLength, tok.special);
    for (let n = 0; sequences.length < 40; n++) sequences.push(...p.push(tok.encodeWords(generatedLine('tiny-corpus', 5000 + n))));
  }
  const wordsOf = (s: PackedSequence): Map<number, number[]> => {
    const m = new Map<number, number[]>();
    s.wordIds.forEach((w, t) => {
      if (w >= 0) m.set(w, [...(m.get(w) ?? []), t]);
    });
    return m;
  };

  it('the test data has words of several tokens', () => {
    const multi = sequences.flatMap((s) => [...wordsOf(s).values()]).filter((ps) => ps.length >= 3);
    expect(multi.length).toBeGreaterThan(100);
  });

  it('predicts every token of a chosen word and none of the others; round(p·words) words per sequence', () => {
    for (const p of [0.15, 0.5]) {
      const rng = createRng(`wwm-${p}`);
      for (const s of sequences) {
        const out = { inputIds: new Int32Array(seqLength), labels: new Int32Array(seqLength), attentionMask: new Int32Array(seqLength), offset: 0, seqLength };
        const chosen = maskSequence(s, tok, { rng, maskProbability: p }, out);
        const words = wordsOf(s);
        expect(chosen.length).toBe(Math.max(1, Math.round(p * words.size)));
        const chosenSet = new Set(chosen.map((c) => c.word));
        for (const [w, ps] of words) {
          for (const t of ps) expect(out.labels[t]).toBe(chosenSet.has(w) ? s.ids[t] : IGNORE_INDEX);
        }
        for (const { word, action } of chosen) {
          const ids = words.get(word)!.map((t) => out.inputIds[t]!);
          if (action === MaskActions.Mask) expect(ids.every((id) => id === tok.special.mask)).toBe(true);
          if (action === MaskActions.Keep) expect(ids).toEqual(words.get(word)!.map((t) => s.ids[t]));
          if (action === MaskActions.Random) expect(ids.every((id) => !tok.specialIds.has(id))).toBe(true);
        }
        // Specials and padding: never predicted; padding is [PAD] with attention 0.
        s.wordIds.forEach((w, t) => {
          if (w < 0) {
            expect(out.labels[t]).toBe(IGNORE_INDEX);
            expect(out.inputIds[t]).toBe(s.ids[t]);
          }
        });
        for (let t = s.ids.length; t < seqLength; t++) {
          expect([out.inputIds[t], out.attentionMask[t], out.labels[t]]).toEqual([tok.special.pad, 0, IGNORE_INDEX]);
        }
      }
    }
  });

  it('splits chosen words 80% [MASK] / 10% random / 10% unchanged', () => {
    const counts: Record<MaskAction, number> = { mask: 0, random: 0, keep: 0 };
    const rng = createRng('split');
    const out = { inputIds: new Int32Array(seqLength), labels: new Int32Array(seqLength), attentionMask: new Int32Array(seqLength), offset: 0, seqLength };
    for (let i = 0; i < 600; i++) for (const s of sequences) for (const c of maskSequence(s, tok, { rng, maskProbability: 0.15 }, out)) counts[c.action]++;
    const n = counts.mask + counts.random + counts.keep;
    expect(n).toBeGreaterThan(60_000);
    // Binomial σ ≤ 0.2% at this n; allow ±1%.
    expect(Math.abs(counts.mask / n - 0.8)).toBeLessThan(0.01);
    expect(Math.abs(counts.random / n - 0.1)).toBeLessThan(0.01);
    expect(Math.abs(counts.keep / n - 0.1)).toBeLessThan(0.01);
  });

  it('maskBatch lays rows out [b·T + t] and is repeatable for a seed', () => {
    const a = maskBatch(sequences.slice(0, 4), seqLength, tok, { rng: createRng(9) });
    const b = maskBatch(sequences.slice(0, 4), seqLength, tok, { rng: createRng(9) });
    expect(a).toEqual(b);
    expect(a.inputIds.length).toBe(4 * seqLength);
    expect(a.inputIds[2 * seqLength]).toBe(tok.special.cls);
    validateBatch(a, tok.vocabSize);
    expect(() => maskBatch(sequences.slice(0, 1), seqLength, tok, { rng: createRng(1), maskProbability: 0 })).toThrow(/maskProbability/);
  });
});

describe('mlmBatches', () => {
  it('turns a sharded generated stream into valid [B, T] batches with predictions in every row', async () => {
    const tok = tokenizerFromJson(trainWordPiece(Array.from({ length: 2000 }, (_, n) => generatedLine('tiny-corpus', n)), { vocabSize: 512 }));
    const docs = createDataset({ urls: ['generated:tiny-corpus'], seed: 3 }, { index: 0, count: 2 });
    let n = 0;
    for await (const b of mlmBatches(docs, tok, { seqLength: 32, batchSize: 8, maskProbability: 0.15, seed: 'peer-a' })) {
      expect([b.batchSize, b.seqLength]).toEqual([8, 32]);
      validateBatch(b, tok.vocabSize);
      for (let r = 0; r < 8; r++) {
        const row = b.labels.subarray(r * 32, r * 32 + 32);
        expect(row.some((l) => l !== IGNORE_INDEX)).toBe(true);
        expect(b.inputIds[r * 32]).toBe(tok.special.cls);
        const mask = Array.from(b.attentionMask.subarray(r * 32, r * 32 + 32));
        expect(mask.join('')).toMatch(/^1+0*$/);
      }
      expect(maskedCount(b)).toBeGreaterThanOrEqual(8);
      if (++n === 20) break;
    }
    expect(n).toBe(20);
  });

  it('ends with a smaller last batch when the documents end', async () => {
    const tok = tokenizerFromJson(trainWordPiece(['a b c d e f g', 'a b c'], { vocabSize: 40 }));
    async function* docs() {
      for (let i = 0; i < 5; i++) yield 'a b c d e f g';
    }
    const sizes: number[] = [];
    for await (const b of mlmBatches(docs(), tok, { seqLength: 9, batchSize: 2 })) sizes.push(b.batchSize);
    expect(sizes).toEqual([2, 2, 1]);
  });
});
