import { createTokenizer } from './index.ts';

describe('createTokenizer', () => {
  it('without a tokenizer.json, trains the same vocabulary on every peer from the first lines of the data', async () => {
    const a = await createTokenizer({ urls: ['generated:tiny-corpus'] }, { trainLines: 1000, vocabSize: 300 });
    const b = await createTokenizer({ urls: ['generated:tiny-corpus'], tokenizer: '' }, { trainLines: 1000, vocabSize: 300 });
    expect(a.hash).toBe(b.hash);
    expect(a.vocabSize).toBe(300);
    expect(a.special).toEqual({ pad: 0, unk: 1, cls: 2, sep: 3, mask: 4 });
  });

  it('with a tokenizer.json path, loads it instead of training', async () => {
    const path = new URL('./testdata/bpe-bytelevel.json', import.meta.url).pathname;
    const t = await createTokenizer({ urls: ['generated:tiny-corpus'], tokenizer: path });
    expect(t.vocabSize).toBe(20);
    expect(t.encodeWords('hello').ids).toEqual([14]);
  });
});
