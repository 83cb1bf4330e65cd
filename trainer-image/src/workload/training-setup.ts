/**
 * What the training workload builds before it joins: the tokenizer, the
 * model (in the compute worker), the collaborative optimizer over its
 * parameters, the state fingerprint peers compare, this peer's stream of
 * masked-LM batches (from the swarm's data pool, or its shard of a generated
 * corpus) and the held-out batches evaluated after every epoch.
 */
import { createDataset, createRng, createTokenizer, type DataPool, hash32, type MlmBatch, mlmBatches, shuffled, type TextTokenizer } from '../data/index.ts';
import type { Logger } from '../common/index.ts';
import { type ComputeHost, type ModelCompute, modelConfig } from '../model/index.ts';
import { CollaborativeOptimizer, segmentsOf } from '../optim/index.ts';
import { stateFingerprint } from '../state/index.ts';
import type { TrainingSpec } from '../training-spec.ts';

/** Generated corpora are endless: peers read shard hash(peer id) mod this many (disjoint unless two ids collide). */
const GENERATED_SHARDS = 64;
/**
 * Lines held for shuffling what this peer reads from the pool: small enough
 * that a peer holds only a unit or two of read-ahead (a joiner finds units
 * left to take), large enough to mix a unit's neighbouring documents.
 */
const POOL_SHUFFLE_LINES = 256;
/** Lines read to train the shared vocabulary when the spec names no tokenizer.json. */
const TOKENIZER_TRAIN_LINES = 5_000;

export interface TrainingParts {
  tokenizer: TextTokenizer;
  model: ModelCompute;
  opt: CollaborativeOptimizer;
  /** Identifies states this peer can load: same model, tokenizer and mode. */
  fingerprint: string;
  batches: AsyncIterator<MlmBatch>;
  /** Held-out batches (empty: no evaluation). */
  evalSet: MlmBatch[];
}

export interface TrainingSetupOptions {
  spec: TrainingSpec;
  compute: ComputeHost;
  /** The swarm's seed: every peer builds the same initial parameters and vocabulary from it. */
  seed: string;
  peerId: string;
  /** The swarm's pool of data units; undefined for a generated corpus (endless, sharded by peer id). */
  pool: DataPool | undefined;
  evalBatches: number;
  log: Logger;
  now: () => number;
}

export async function setUpTraining(o: TrainingSetupOptions): Promise<TrainingParts> {
  const t = o.spec;
  const t0 = o.now();
  const tokenizer = await createTokenizer(t.data, { trainLines: TOKENIZER_TRAIN_LINES });
  const mc = modelConfig(t.model.size, { vocabSize: tokenizer.vocabSize, maxSeqLength: t.model.seqLength });
  const model = await o.compute.createModel(mc, `${o.seed}/model`);
  const opt = new CollaborativeOptimizer({
    segments: segmentsOf(model.params),
    params: await model.getFlat(),
    mode: t.averaging.mode,
    optimizer: { ...t.optimizer },
  });
  const fingerprint = stateFingerprint({ v: 1, model: mc, tokenizer: tokenizer.hash, mode: t.averaging.mode });
  const shard = { index: hash32(o.peerId) % GENERATED_SHARDS, count: GENERATED_SHARDS };
  const docs = o.pool !== undefined
    ? shuffled(o.pool.documents(), POOL_SHUFFLE_LINES, createRng(`${o.seed}/${o.peerId}`))
    : createDataset({ urls: t.data.urls, seed: `${o.seed}/${o.peerId}` }, shard);
  const batches = mlmBatches(docs, tokenizer, { seqLength: t.model.seqLength, batchSize: t.data.microBatchSize, maskProbability: t.data.maskProbability, seed: o.peerId })[Symbol.asyncIterator]();
  const evalSet = await evalBatches(o, tokenizer);
  o.log.info('model ready', {
    backend: o.compute.backend.kind,
    device: o.compute.backend.device,
    parameters: model.size,
    vocabSize: tokenizer.vocabSize,
    tokenizer: tokenizer.hash.slice(0, 16),
    mode: t.averaging.mode,
    optimizer: t.optimizer.name,
    data: o.pool !== undefined ? { units: o.pool.units.length } : { shard },
    fingerprint: fingerprint.slice(0, 16),
    setupMs: o.now() - t0,
  });
  return { tokenizer, model, opt, fingerprint, batches, evalSet };
}

async function evalBatches(o: TrainingSetupOptions, tokenizer: TextTokenizer): Promise<MlmBatch[]> {
  const out: MlmBatch[] = [];
  if (o.evalBatches <= 0) return out;
  const t = o.spec;
  const docs = createDataset({ urls: t.data.urls, seed: `${o.seed}/eval`, shuffleBuffer: 1 }, { index: 0, count: 1 });
  const it = mlmBatches(docs, tokenizer, { seqLength: t.model.seqLength, batchSize: t.data.microBatchSize, maskProbability: t.data.maskProbability, seed: 'eval' });
  for await (const b of it) {
    out.push(b);
    if (out.length >= o.evalBatches) break;
  }
  return out;
}

/** Mean held-out loss of the parameters the model holds; undefined without an eval set. */
export async function evaluate(p: TrainingParts): Promise<number | undefined> {
  if (p.evalSet.length === 0) return undefined;
  let sum = 0;
  for (const b of p.evalSet) sum += await p.model.evaluate(b);
  return sum / p.evalSet.length;
}
