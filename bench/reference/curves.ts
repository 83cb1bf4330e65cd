/**
 * Same data, same samples: held-out masked-LM loss curves of PyTorch (one
 * process) and the project (1 peer; 3 peers in gradient mode; 3 peers in
 * DiLoCo mode), all from the same initial parameters (the swarm's seeded
 * SmallInit), the same tokenizer and the same held-out batches.
 *
 * PyTorch trains on exactly the micro-batches the 1-peer project run
 * trained on: the bench rebuilds that peer's batch stream with the
 * trainer's own data functions from its logged peer id (the stream's seed),
 * and checks it by comparing the per-epoch training losses both report.
 * The 3-peer runs read the same files with their own peers' seeds.
 * The learning rate warms up, then stays constant, so that runs are
 * compared at equal samples: a project run's final held-out loss against
 * PyTorch's, interpolated at the same sample count (PyTorch trains
 * further than the 1-peer run to cover the 3-peer runs' counts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createDataset, type MlmBatch, mlmBatches, type TextTokenizer } from '../../trainer-image/src/data/index.ts';
import { createModel, type ModelConfig } from '../../trainer-image/src/model/index.ts';
import type { NatsServer } from '../../testkit/harness/index.ts';
import { relDiff } from './compare.ts';
import { encodeBatches, encodeParams } from './exchange.ts';
import { type PythonRun, runReference } from './python.ts';
import { type CurvePoint, lossAt, samplesAt } from './curve-maths.ts';
import { runSwarm, type SwarmRunResult } from './swarm-run.ts';

export interface CurveSettings {
  seqLength: number;
  microBatch: number;
  targetBatch: number;
  /** Global steps of the 1-peer and 3-peer gradient-mode runs. */
  epochs: number;
  evalEvery: number;
  /** DiLoCo inner steps per outer epoch. */
  innerSteps: number;
  uid: string;
  trainPath: string;
  /** The bench's tokenizer.json: trainers load it instead of training their own WordPiece. */
  tokenizerPath: string;
}

export interface RunCurve { name: string; curve: CurvePoint[]; finalSamples: number; finalLoss: number; seconds?: number; ratioToPytorch?: number }

const gradientOptimizer = { name: 'lamb', learningRate: 0.02, warmupEpochs: 5, weightDecay: 0.01, clipGradNorm: 1 };
const dilocoOptimizer = { name: 'adam', learningRate: 0.003, warmupEpochs: 1, weightDecay: 0.01, clipGradNorm: 1 };

function trainingSpec(s: CurveSettings, mode: 'gradient' | 'diloco', checkpointEvery: number): Record<string, unknown> & { targetBatchSize: number } {
  return {
    model: { size: 'tiny', seqLength: s.seqLength },
    data: { urls: [s.trainPath], tokenizer: s.tokenizerPath, microBatchSize: s.microBatch, maskProbability: 0.15 },
    optimizer: mode === 'gradient' ? gradientOptimizer : dilocoOptimizer,
    targetBatchSize: s.targetBatch,
    averaging: mode === 'gradient' ? { mode, maxGroupSize: 4, timeoutSeconds: 60 } : { mode, innerSteps: s.innerSteps, maxGroupSize: 4, timeoutSeconds: 60 },
    checkpointEvery,
  };
}

async function evaluateParams(mc: ModelConfig, params: Float32Array, heldOut: readonly MlmBatch[]): Promise<number> {
  const m = createModel(mc, { seed: 0 });
  try {
    m.setFlat(params);
    let sum = 0;
    for (const b of heldOut) sum += await m.evaluate(b);
    return sum / heldOut.length;
  } finally {
    m.dispose();
  }
}

async function projectCurve(name: string, r: SwarmRunResult, mc: ModelConfig, heldOut: readonly MlmBatch[], initialLoss: number): Promise<RunCurve> {
  const curve: CurvePoint[] = [{ epoch: 0, samples: 0, evalLoss: initialLoss }];
  for (const c of r.checkpoints) curve.push({ epoch: c.epoch, samples: samplesAt(r.stepSamples, c.epoch), evalLoss: await evaluateParams(mc, c.params, heldOut) });
  const last = curve[curve.length - 1]!;
  return { name, curve, finalSamples: last.samples, finalLoss: last.evalLoss, seconds: Math.round(r.seconds) };
}

/** The micro-batches a lone trainer with this peer id trains on, in order (workload/training-setup.ts's stream). */
async function peerStream(s: CurveSettings, tokenizer: TextTokenizer, peerId: string, count: number): Promise<MlmBatch[]> {
  const docs = createDataset({ urls: [s.trainPath], seed: `${s.uid}/${peerId}` }, { index: 0, count: 1 });
  const out: MlmBatch[] = [];
  for await (const b of mlmBatches(docs, tokenizer, { seqLength: s.seqLength, batchSize: s.microBatch, maskProbability: 0.15, seed: peerId })) {
    out.push(b);
    if (out.length >= count) break;
  }
  return out;
}

export interface CurvesResult {
  runs: RunCurve[];
  /** Max relative difference of the per-epoch training losses, PyTorch vs the 1-peer run, over its first epochs. */
  sameBatchesTrainLossRelDiff: number;
  tokenizerMatches: boolean;
  initialParamsMatch: boolean;
  plot: string;
}

export async function compareCurves(py: PythonRun, nats: NatsServer, s: CurveSettings, o: { tokenizer: TextTokenizer; mc: ModelConfig; heldOut: readonly MlmBatch[]; plotPath: string }): Promise<CurvesResult> {
  const log = py.log;
  const evalEpochs = Array.from({ length: Math.floor(s.epochs / s.evalEvery) }, (_, i) => (i + 1) * s.evalEvery);
  const initial = createModel(o.mc, { seed: `${s.uid}/model` });
  const flat0 = await initial.getFlat();
  const initialChecksum = await initial.checksum();
  const specs = initial.params.map((p) => ({ name: p.name, shape: p.shape, size: p.size }));
  initial.dispose();
  const initialLoss = await evaluateParams(o.mc, flat0, o.heldOut);

  log(`curves: project, 1 peer, gradient mode, ${s.epochs} epochs of ${s.targetBatch} samples`);
  const one = await runSwarm({ nats, name: 'ref-1-gradient', uid: s.uid, peers: 1, training: trainingSpec(s, 'gradient', s.evalEvery), stopAfterEpochs: s.epochs, checkpointEpochs: evalEpochs, log });
  log(`curves: project, 3 peers, gradient mode, ${s.epochs} epochs`);
  const three = await runSwarm({ nats, name: 'ref-3-gradient', uid: s.uid, peers: 3, training: trainingSpec(s, 'gradient', s.evalEvery), stopAfterEpochs: s.epochs, checkpointEpochs: evalEpochs, log });
  const dilocoEpochs = Math.max(1, Math.round(s.epochs / s.innerSteps));
  log(`curves: project, 3 peers, DiLoCo mode, ${dilocoEpochs} outer epochs of ${s.innerSteps} inner steps`);
  const diloco = await runSwarm({ nats, name: 'ref-3-diloco', uid: s.uid, peers: 3, training: trainingSpec(s, 'diloco', 1), stopAfterEpochs: dilocoEpochs, checkpointEpochs: Array.from({ length: dilocoEpochs }, (_, i) => i + 1), log });

  const runs = [
    await projectCurve('project 1 peer', one, o.mc, o.heldOut, initialLoss),
    await projectCurve('project 3 peers gradient', three, o.mc, o.heldOut, initialLoss),
    await projectCurve('project 3 peers DiLoCo', diloco, o.mc, o.heldOut, initialLoss),
  ];

  // PyTorch: the 1-peer run's own micro-batches, far enough to cover every run's sample count.
  const perEpoch = Math.ceil(s.targetBatch / s.microBatch);
  const maxSamples = Math.max(...runs.map((r) => r.finalSamples));
  const torchEpochs = Math.max(s.epochs, Math.ceil(maxSamples / (perEpoch * s.microBatch)));
  const train = await peerStream(s, o.tokenizer, one.peerIds[0]!, torchEpochs * perEpoch);
  const dir = py.workDir;
  const files = { weights: join(dir, 'curve-weights.safetensors'), batches: join(dir, 'curve-train.safetensors'), eval: join(dir, 'curve-held-out.safetensors'), out: join(dir, 'curve-torch.json') };
  await writeFile(files.weights, encodeParams(specs, flat0));
  await writeFile(files.batches, encodeBatches(train));
  await writeFile(files.eval, encodeBatches(o.heldOut));
  log(`curves: PyTorch, ${torchEpochs} epochs of ${perEpoch} micro-batches of ${s.microBatch}`);
  await runReference(py, 'train', { model: o.mc, optimizer: gradientOptimizer, microPerEpoch: perEpoch, epochs: torchEpochs, evalEvery: 1 }, { ...files });
  const torchOut = JSON.parse(await readFile(files.out, 'utf8')) as { curve: CurvePoint[]; trainLosses: number[] };
  const torch: RunCurve = { name: 'PyTorch', curve: torchOut.curve, finalSamples: torchOut.curve[torchOut.curve.length - 1]!.samples, finalLoss: torchOut.curve[torchOut.curve.length - 1]!.evalLoss };
  for (const r of runs) r.ratioToPytorch = r.finalLoss / lossAt(torch.curve, r.finalSamples);

  // Identical batches: both report the mean loss of each epoch's micro-batches; compare the first epochs.
  const k = Math.min(5, s.epochs);
  let sameBatchesTrainLossRelDiff = 0;
  for (let e = 1; e <= k; e++) {
    const ours = one.epochLosses.get(e);
    const theirs = torchOut.trainLosses[e - 1];
    sameBatchesTrainLossRelDiff = ours === undefined || theirs === undefined ? Infinity : Math.max(sameBatchesTrainLossRelDiff, relDiff(ours, theirs));
  }
  const all = [torch, ...runs];
  await runReference(py, 'plot', { title: `tiny LeanALBERT, held-out MLM loss (seq ${s.seqLength}, batch ${s.targetBatch})`, curves: Object.fromEntries(all.map((r) => [r.name, r.curve])) }, { out: o.plotPath });
  return {
    runs: all,
    sameBatchesTrainLossRelDiff,
    tokenizerMatches: String(one.ready['tokenizer']) === o.tokenizer.hash.slice(0, 16),
    initialParamsMatch: one.initialChecksum === initialChecksum,
    plot: o.plotPath,
  };
}
