/**
 * Same weights, same batch: the project's initial parameters (tfjs, the
 * backend this process runs) go to PyTorch as safetensors; both compute the
 * loss and every gradient of batch 0, then take `steps` LAMB steps (step s
 * on batch s mod n, as a lone peer in gradient mode: the collaborative
 * optimizer with no group). Loss, gradients and parameters are compared.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelPreset } from '../../api/index.ts';
import type { MlmBatch } from '../../trainer-image/src/data/index.ts';
import { createModel, modelConfig, type ModelConfig, PARAMETER_NAMES } from '../../trainer-image/src/model/index.ts';
import { CollaborativeOptimizer, type OptimizerSettings, segmentsOf } from '../../trainer-image/src/optim/index.ts';
import { compareAll, relDiff } from './compare.ts';
import { encodeBatches, encodeParams, paramTensors, readPrefixed } from './exchange.ts';
import { type PythonRun, runReference } from './python.ts';

/** The bars: loss within 1e-4 relative, every gradient at cosine ≥ 0.9999. */
export const LOSS_REL_TOLERANCE = 1e-4;
export const GRADIENT_MIN_COSINE = 0.9999;

export interface CheckResult {
  preset: ModelPreset;
  parameters: number;
  batch: { batchSize: number; seqLength: number; batches: number };
  loss: { project: number; pytorch: number; relDiff: number };
  gradients: { worstCosine: number; worstCosineOf: string; maxRel: number; maxRelOf: string; relL2: number };
  afterSteps: { steps: number; maxRel: number; maxRelOf: string; relL2: number; relL2Of: string };
  pass: boolean;
}

export async function checkPreset(py: PythonRun, o: { preset: ModelPreset; config: Partial<ModelConfig>; batches: readonly MlmBatch[]; steps: number; optimizer: OptimizerSettings; seed: string }): Promise<CheckResult> {
  const mc = modelConfig(o.preset, o.config);
  const model = createModel(mc, { seed: o.seed });
  try {
    const flat0 = await model.getFlat();
    const dir = py.workDir;
    const files = { weights: join(dir, `${o.preset}-weights.safetensors`), batches: join(dir, `${o.preset}-batches.safetensors`), out: join(dir, `${o.preset}-torch.safetensors`) };
    await writeFile(files.weights, encodeParams(model.params, flat0));
    await writeFile(files.batches, encodeBatches(o.batches));
    const torch = runReference(py, 'check', { model: mc, steps: o.steps, optimizer: o.optimizer }, files);

    const first = await model.lossAndGradients(o.batches[0]!);
    const opt = new CollaborativeOptimizer({ segments: segmentsOf(model.params), params: flat0, mode: 'gradient', optimizer: o.optimizer });
    for (let s = 0; s < o.steps; s++) {
      const b = o.batches[s % o.batches.length]!;
      opt.accumulate((await model.lossAndGradients(b)).grads, b.batchSize);
      await opt.step(s, undefined);
      model.setFlat(opt.params);
    }
    const after = await model.getFlat();
    await torch;

    const out = await readFile(files.out);
    const tLoss = readPrefixed(out, '', ['loss']).get('loss')![0]!;
    const tGrads = readPrefixed(out, 'grad.', PARAMETER_NAMES);
    const tParams = readPrefixed(out, 'param.', PARAMETER_NAMES);
    const ours = (flat: Float32Array): Map<string, Float32Array> => new Map(paramTensors(model.params, flat).map((t) => [t.name, t.data as Float32Array]));
    const g = compareAll(PARAMETER_NAMES, (n) => ours(first.grads).get(n)!, (n) => tGrads.get(n)!);
    const p = compareAll(PARAMETER_NAMES, (n) => ours(after).get(n)!, (n) => tParams.get(n)!);
    const loss = { project: first.loss, pytorch: tLoss, relDiff: relDiff(first.loss, tLoss) };
    const r: CheckResult = {
      preset: o.preset,
      parameters: model.size,
      batch: { batchSize: o.batches[0]!.batchSize, seqLength: o.batches[0]!.seqLength, batches: o.batches.length },
      loss,
      gradients: { worstCosine: g.worst.cosine, worstCosineOf: g.worst.cosineOf, maxRel: g.worst.maxRel, maxRelOf: g.worst.maxRelOf, relL2: g.worst.relL2 },
      afterSteps: { steps: o.steps, maxRel: p.worst.maxRel, maxRelOf: p.worst.maxRelOf, relL2: p.worst.relL2, relL2Of: p.worst.relL2Of },
      pass: loss.relDiff <= LOSS_REL_TOLERANCE && g.worst.cosine >= GRADIENT_MIN_COSINE,
    };
    py.log(`check ${o.preset}: per-parameter gradient cosine / maxRel:`);
    for (const n of PARAMETER_NAMES) py.log(`  ${n.padEnd(36)} ${g.byName[n]!.cosine.toFixed(7)}  ${g.byName[n]!.maxRel.toExponential(2)}   after ${o.steps} steps maxRel ${p.byName[n]!.maxRel.toExponential(2)}`);
    return r;
  } finally {
    model.dispose();
  }
}
