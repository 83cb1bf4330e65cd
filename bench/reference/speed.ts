/**
 * Samples/s of one micro-batch's forward + backward (loss and every
 * gradient) with the same model and batch: PyTorch on the CPU (its default
 * thread count) against the project in this process (tfjs, the backend
 * loaded here: wasm with SIMD, one thread in Node).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MlmBatch } from '../../trainer-image/src/data/index.ts';
import { createModel, type ModelConfig } from '../../trainer-image/src/model/index.ts';
import { encodeBatches, encodeParams } from './exchange.ts';
import { type PythonRun, runReference } from './python.ts';

export interface SpeedResult {
  project: { samplesPerSecond: number; msPerMicroBatch: number };
  pytorch: { samplesPerSecond: number; msPerMicroBatch: number; threads: number };
  /** PyTorch's samples/s over the project's. */
  ratio: number;
  steps: number;
}

export async function compareSpeed(py: PythonRun, mc: ModelConfig, batch: MlmBatch, steps: number): Promise<SpeedResult> {
  const model = createModel(mc, { seed: 'speed' });
  const files = { weights: join(py.workDir, 'speed-weights.safetensors'), batches: join(py.workDir, 'speed-batch.safetensors'), out: join(py.workDir, 'speed.json') };
  let ms: number;
  try {
    await writeFile(files.weights, encodeParams(model.params, await model.getFlat()));
    await writeFile(files.batches, encodeBatches([batch]));
    await model.lossAndGradients(batch); // warm-up: kernels, wasm compilation
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await model.lossAndGradients(batch);
    ms = (performance.now() - t0) / steps;
  } finally {
    model.dispose();
  }
  await runReference(py, 'speed', { model: mc, steps }, files);
  const t = JSON.parse(await readFile(files.out, 'utf8')) as { samplesPerSecond: number; msPerMicroBatch: number; threads: number };
  const project = { samplesPerSecond: (batch.batchSize * 1000) / ms, msPerMicroBatch: ms };
  return { project, pytorch: t, ratio: t.samplesPerSecond / project.samplesPerSecond, steps };
}
