/**
 * Benchmark: the project's LeanALBERT and optimizer against a plain PyTorch
 * implementation of the same maths (leanalbert.py), side by side.
 *
 *   npm run bench:reference
 *
 * 1. Same weights, same batch (`tiny` on 10 batches, `base` on one): loss,
 *    every gradient, the parameters after 10 LAMB steps (check.ts).
 * The PyTorch venv is built by the bench from requirements.txt into
 * ~/.cache/spotswarm/venvs/<hash> and reused by later runs (testkit/python).
 * The last line of output is one JSON object.
 *
 * Environment (all optional): BENCH_KEEP_DIR=1 keeps the work directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv } from '../../testkit/python/index.ts';
import { REPO_ROOT } from '../../testkit/harness/index.ts';
import { loadBackend } from '../../trainer-image/src/backend/index.ts';
import { createDataset, createTokenizer, type MlmBatch, mlmBatches, type TextTokenizer } from '../../trainer-image/src/data/index.ts';
import type { OptimizerSettings } from '../../trainer-image/src/optim/index.ts';
import { checkPreset, type CheckResult } from './check.ts';
import { buildCorpus } from './corpus.ts';
import type { PythonRun } from './python.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const log = (l: string): void => console.log(l);

/** Lines the trainer trains its WordPiece vocabulary on when the spec names no tokenizer.json (workload/training-setup.ts). */
const TOKENIZER_TRAIN_LINES = 5_000;
const CHECK_OPTIMIZER: OptimizerSettings = { name: 'lamb', learningRate: 0.02, warmupEpochs: 3, totalEpochs: 10, weightDecay: 0.01, clipGradNorm: 1 };

async function take(urls: string[], tokenizer: TextTokenizer, o: { seqLength: number; batchSize: number; count: number; seed: string }): Promise<MlmBatch[]> {
  const out: MlmBatch[] = [];
  for await (const b of mlmBatches(createDataset({ urls, seed: o.seed }, { index: 0, count: 1 }), tokenizer, { seqLength: o.seqLength, batchSize: o.batchSize, seed: o.seed })) {
    if (b.batchSize !== o.batchSize) continue;
    out.push(b);
    if (out.length >= o.count) break;
  }
  return out;
}

const short = (c: CheckResult): Record<string, unknown> => ({
  preset: c.preset, parameters: c.parameters, lossRelDiff: c.loss.relDiff, gradWorstCosine: c.gradients.worstCosine, gradMaxRel: c.gradients.maxRel,
  paramsMaxRelAfterSteps: c.afterSteps.maxRel, steps: c.afterSteps.steps, pass: c.pass,
});

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'bench-reference-'));
  try {
    const venvP = ensureVenv({ requirements: join(HERE, 'requirements.txt'), log: (l) => log(`[venv] ${l}`) });
    venvP.catch(() => {}); // awaited below; this only keeps an early failure from being unhandled
    const backend = await loadBackend({ order: ['wasm'] });
    log(`backend: ${backend.kind}`);
    const corpus = await buildCorpus(join(REPO_ROOT, 'node_modules'), work, { heldOutEvery: 10, maxBytes: 8_000_000 });
    log(`corpus: ${corpus.files.train} train files (${corpus.bytes.train} bytes, ${corpus.paragraphs.train} paragraphs), ${corpus.files.heldOut} held-out files (${corpus.bytes.heldOut} bytes, ${corpus.paragraphs.heldOut} paragraphs)`);
    const tokenizer = await createTokenizer({ urls: [corpus.trainPath] }, { trainLines: TOKENIZER_TRAIN_LINES });
    log(`tokenizer: WordPiece trained on the first ${TOKENIZER_TRAIN_LINES} train paragraphs, ${tokenizer.vocabSize} tokens`);
    const venv = await venvP;
    const py: PythonRun = { python: venv.python, workDir: work, log };

    // ------------------------------------------------------------ 1. same weights, same batch
    const checks: CheckResult[] = [];
    const tinyBatches = await take([corpus.trainPath], tokenizer, { seqLength: 64, batchSize: 8, count: 10, seed: 'reference/check' });
    checks.push(await checkPreset(py, { preset: 'tiny', config: { vocabSize: tokenizer.vocabSize }, batches: tinyBatches, steps: 10, optimizer: CHECK_OPTIMIZER, seed: 'reference' }));
    const baseBatches = await take([corpus.trainPath], tokenizer, { seqLength: 32, batchSize: 2, count: 1, seed: 'reference/check-base' });
    checks.push(await checkPreset(py, { preset: 'base', config: {}, batches: baseBatches, steps: 10, optimizer: CHECK_OPTIMIZER, seed: 'reference' }));
    for (const c of checks) {
      log(`${c.preset} (${c.parameters} parameters, ${c.batch.batches} batch(es) of ${c.batch.batchSize}×${c.batch.seqLength}): loss ${c.loss.project.toFixed(6)} vs PyTorch ${c.loss.pytorch.toFixed(6)}, relative diff ${c.loss.relDiff.toExponential(2)}; gradients: worst cosine ${c.gradients.worstCosine.toFixed(7)} (${c.gradients.worstCosineOf}), max relative error ${c.gradients.maxRel.toExponential(2)} (${c.gradients.maxRelOf}); after ${c.afterSteps.steps} LAMB steps: parameters max relative error ${c.afterSteps.maxRel.toExponential(2)} (${c.afterSteps.maxRelOf}), worst ‖Δ‖/‖θ‖ ${c.afterSteps.relL2.toExponential(2)} — ${c.pass ? 'PASS' : 'FAIL'}`);
    }
    if (!checks.every((c) => c.pass)) process.exitCode = 1;
    console.log(JSON.stringify({ bench: 'reference', backend: backend.kind, venvReused: !venv.created, checks: checks.map(short) }));
  } finally {
    if (env['BENCH_KEEP_DIR'] === '1') log(`work directory kept: ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
