/**
 * The tiny LeanALBERT learns: one process, no network, the real data path
 * (generated corpus → trained WordPiece → sharded stream → whole-word MLM
 * batches) and the path the collaborative optimizer uses (flat gradients →
 * tensors → optimizer). Adam stands in for LAMB here.
 *
 * Budget: 100 steps of 16 × 32 tokens. The held-out MLM loss (another shard)
 * must fall by at least 40% (from ≈ ln V ≈ 6.1; it ends near 2).
 */
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../backend/index.ts';
import { createDataset, createTokenizer, type MlmBatch, mlmBatches } from '../data/index.ts';
import { createModel, modelConfig, unflatten } from './index.ts';

const STEPS = 100;
const BATCH = 16;
const SEQ = 32;
const REQUIRED_DROP = 0.4;

it(`tiny LeanALBERT: ${STEPS} Adam steps on generated:tiny-corpus cut the held-out MLM loss by ≥ ${REQUIRED_DROP * 100}%`, async () => {
  const backend = await loadBackend({ order: ['wasm', 'cpu'] });
  const urls = ['generated:tiny-corpus'];
  const tokenizer = await createTokenizer({ urls }, { trainLines: 5000 });
  const model = createModel(modelConfig('tiny', { vocabSize: tokenizer.vocabSize, maxSeqLength: SEQ }), { seed: 'train-test' });
  const train = mlmBatches(createDataset({ urls, seed: 1 }, { index: 0, count: 2 }), tokenizer, { seqLength: SEQ, batchSize: BATCH, seed: 'train' })[Symbol.asyncIterator]();
  const heldOut: MlmBatch[] = [];
  for await (const b of mlmBatches(createDataset({ urls, seed: 2 }, { index: 1, count: 2 }), tokenizer, { seqLength: SEQ, batchSize: 32, seed: 'eval' })) {
    heldOut.push(b);
    if (heldOut.length === 2) break;
  }
  const evaluate = async (): Promise<number> => {
    let s = 0;
    for (const b of heldOut) s += await model.evaluate(b);
    return s / heldOut.length;
  };

  const before = await evaluate();
  const checksumBefore = await model.checksum();
  const optimizer = tf.train.adam(3e-3);
  const losses: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const { value: batch } = await train.next();
    const { loss, grads } = await model.lossAndGradients(batch!);
    losses.push(loss);
    const parts = unflatten(grads, model.params);
    optimizer.applyGradients(model.params.map((p, i) => ({ name: p.variable.name, tensor: parts[i]! })));
    tf.dispose(parts);
  }
  const after = await evaluate();
  console.log(`backend ${backend.kind}: held-out MLM loss ${before.toFixed(3)} → ${after.toFixed(3)} (${(100 * (1 - after / before)).toFixed(0)}% lower); first/last train loss ${losses[0]!.toFixed(3)}/${losses.at(-1)!.toFixed(3)}`);

  expect(before).toBeGreaterThan(0.8 * Math.log(tokenizer.vocabSize));
  expect(losses.every(Number.isFinite)).toBe(true);
  expect(after).toBeLessThan((1 - REQUIRED_DROP) * before);
  expect(await model.checksum()).not.toBe(checksumBefore);
  optimizer.dispose();
  model.dispose();
}, 300_000);
