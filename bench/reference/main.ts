/**
 * Benchmark: the project's LeanALBERT and optimizer against a plain PyTorch
 * implementation of the same maths (leanalbert.py), side by side.
 *
 *   npm run bench:reference
 *
 * 1. Same weights, same batch (`tiny` on 10 batches, `base` on one): loss,
 *    every gradient, the parameters after 10 LAMB steps (check.ts).
 * 2. Same data, same samples: held-out loss curves of PyTorch and of the
 *    project with 1 peer, 3 peers in gradient mode and 3 in DiLoCo mode,
 *    real trainer processes and nats-server (curves.ts), plotted to PNG.
 * 3. Samples/s of the same model and batch, PyTorch CPU / project wasm (speed.ts).
 * Text: the Markdown documentation under node_modules (corpus.ts), split by
 * file into train and held-out parts; one WordPiece tokenizer trained on
 * the train part, handed to the trainers as tokenizer.json.
 * The PyTorch venv is built by the bench from requirements.txt into
 * ~/.cache/spotswarm/venvs/<hash> and reused by later runs (testkit/python).
 * The last line of output is one JSON object.
 *
 * Environment (all optional):
 *   BENCH_PARTS=check,curves,speed   BENCH_EPOCHS=30 (global steps of 32 samples, tiny, seq 64)
 *   BENCH_EVAL_EVERY=5   BENCH_INNER_STEPS=4 (DiLoCo)   BENCH_SPEED_STEPS=8
 *   BENCH_PLOT=<png path> (default reference-curves.png in the work directory, kept)
 *   BENCH_KEEP_DIR=1 keeps the work directory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureVenv } from '../../testkit/python/index.ts';
import { REPO_ROOT, startNats } from '../../testkit/harness/index.ts';
import { loadBackend } from '../../trainer-image/src/backend/index.ts';
import { createDataset, createTokenizer, type MlmBatch, mlmBatches, type TextTokenizer } from '../../trainer-image/src/data/index.ts';
import { modelConfig } from '../../trainer-image/src/model/index.ts';
import type { OptimizerSettings } from '../../trainer-image/src/optim/index.ts';
import { checkPreset, type CheckResult } from './check.ts';
import { buildCorpus } from './corpus.ts';
import { compareCurves, type CurvesResult, type CurveSettings } from './curves.ts';
import type { PythonRun } from './python.ts';
import { compareSpeed, type SpeedResult } from './speed.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const log = (l: string): void => console.log(l);
const PARTS = new Set((env['BENCH_PARTS'] ?? 'check,curves,speed').split(',').map((x) => x.trim()));
const num = (k: string, d: number): number => {
  const v = Number(env[k] ?? d);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`${k}: expected a positive integer, got ${env[k]}`);
  return v;
};
const EPOCHS = num('BENCH_EPOCHS', 30);
const EVAL_EVERY = num('BENCH_EVAL_EVERY', 5);
const INNER_STEPS = num('BENCH_INNER_STEPS', 4);
const SPEED_STEPS = num('BENCH_SPEED_STEPS', 8);
const SEQ = 64;
const MICRO = 8;
const r4 = (x: number): number => Math.round(x * 1e4) / 1e4;

/** Paragraphs the bench trains its WordPiece vocabulary on (the trainers are handed the result as tokenizer.json). */
const TOKENIZER_TRAIN_LINES = 2_000;
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

    const out: Record<string, unknown> = { bench: 'reference', backend: backend.kind, venvReused: !venv.created };
    let pass = true;

    // ------------------------------------------------------------ 1. same weights, same batch
    if (PARTS.has('check')) {
      const checks: CheckResult[] = [];
      const tinyBatches = await take([corpus.trainPath], tokenizer, { seqLength: SEQ, batchSize: MICRO, count: 10, seed: 'reference/check' });
      checks.push(await checkPreset(py, { preset: 'tiny', config: { vocabSize: tokenizer.vocabSize }, batches: tinyBatches, steps: 10, optimizer: CHECK_OPTIMIZER, seed: 'reference' }));
      const baseBatches = await take([corpus.trainPath], tokenizer, { seqLength: 32, batchSize: 2, count: 1, seed: 'reference/check-base' });
      checks.push(await checkPreset(py, { preset: 'base', config: {}, batches: baseBatches, steps: 10, optimizer: CHECK_OPTIMIZER, seed: 'reference' }));
      for (const c of checks) {
        log(`${c.preset} (${c.parameters} parameters, ${c.batch.batches} batch(es) of ${c.batch.batchSize}×${c.batch.seqLength}): loss ${c.loss.project.toFixed(6)} vs PyTorch ${c.loss.pytorch.toFixed(6)}, relative diff ${c.loss.relDiff.toExponential(2)}; gradients: worst cosine ${c.gradients.worstCosine.toFixed(7)} (${c.gradients.worstCosineOf}), max relative error ${c.gradients.maxRel.toExponential(2)} (${c.gradients.maxRelOf}); after ${c.afterSteps.steps} LAMB steps: parameters max relative error ${c.afterSteps.maxRel.toExponential(2)} (${c.afterSteps.maxRelOf}), worst ‖Δ‖/‖θ‖ ${c.afterSteps.relL2.toExponential(2)} — ${c.pass ? 'PASS' : 'FAIL'}`);
      }
      pass &&= checks.every((c) => c.pass);
      out['checks'] = checks.map(short);
    }

    const mc = modelConfig('tiny', { vocabSize: tokenizer.vocabSize, maxSeqLength: SEQ });

    // ------------------------------------------------------------ 2. same data, same samples
    if (PARTS.has('curves')) {
      const tokenizerPath = join(work, 'tokenizer.json');
      await writeFile(tokenizerPath, JSON.stringify(tokenizer.toJSON()));
      const heldOut = await take([corpus.heldOutPath], tokenizer, { seqLength: SEQ, batchSize: 16, count: 8, seed: 'reference/held-out' });
      const settings: CurveSettings = { seqLength: SEQ, microBatch: MICRO, targetBatch: 32, epochs: EPOCHS, evalEvery: EVAL_EVERY, innerSteps: INNER_STEPS, uid: 'reference', trainPath: corpus.trainPath, tokenizerPath };
      const nats = await startNats();
      let c: CurvesResult;
      try {
        c = await compareCurves(py, nats, settings, { tokenizer, mc, heldOut, plotPath: env['BENCH_PLOT'] ?? join(work, 'reference-curves.png') });
      } finally {
        await nats.stop();
      }
      log(`held-out batches: ${heldOut.length} of 16×${SEQ}; same initial parameters in the trainers: ${c.initialParamsMatch}; same tokenizer: ${c.tokenizerMatches}; same batches (training losses of the first epochs, PyTorch vs 1 peer, max relative diff ${c.sameBatchesTrainLossRelDiff.toExponential(2)})`);
      for (const r of c.runs) {
        log(`${r.name.padEnd(26)} ${r.curve.map((p) => `${p.samples}:${p.evalLoss.toFixed(3)}`).join(' ')}`);
      }
      for (const r of c.runs.slice(1)) {
        log(`${r.name}: final held-out loss ${r.finalLoss.toFixed(4)} after ${r.finalSamples} samples${r.seconds !== undefined ? ` (${r.seconds} s)` : ''}; PyTorch at the same samples ${(r.finalLoss / r.ratioToPytorch!).toFixed(4)}; ratio ${r.ratioToPytorch!.toFixed(4)}`);
      }
      log(`plot: ${c.plot}`);
      const within = c.runs.filter((r) => r.name === 'project 1 peer' || r.name === 'project 3 peers gradient').every((r) => Math.abs(r.ratioToPytorch! - 1) <= 0.02);
      log(`goal (1 peer and 3 peers gradient mode within 2% of PyTorch): ${within ? 'met' : 'NOT met'}`);
      out['curves'] = {
        epochs: EPOCHS, seqLength: SEQ, targetBatch: 32, microBatch: MICRO, innerSteps: INNER_STEPS,
        sameBatchesTrainLossRelDiff: c.sameBatchesTrainLossRelDiff, initialParamsMatch: c.initialParamsMatch, tokenizerMatches: c.tokenizerMatches,
        runs: c.runs.map((r) => ({ name: r.name, finalSamples: r.finalSamples, finalLoss: r4(r.finalLoss), ratioToPytorch: r.ratioToPytorch === undefined ? undefined : r4(r.ratioToPytorch), seconds: r.seconds })),
        within2Percent: within, plot: c.plot,
      };
    }

    // ------------------------------------------------------------ 3. samples/s
    if (PARTS.has('speed')) {
      const [batch] = await take([corpus.trainPath], tokenizer, { seqLength: SEQ, batchSize: MICRO, count: 1, seed: 'reference/speed' });
      const sp: SpeedResult = await compareSpeed(py, mc, batch!, SPEED_STEPS);
      log(`samples/s, tiny, one micro-batch of ${MICRO}×${SEQ}, forward + backward, ${sp.steps} timed: project (${backend.kind}) ${sp.project.samplesPerSecond.toFixed(1)} (${sp.project.msPerMicroBatch.toFixed(0)} ms), PyTorch CPU (${sp.pytorch.threads} threads) ${sp.pytorch.samplesPerSecond.toFixed(1)} (${sp.pytorch.msPerMicroBatch.toFixed(0)} ms); PyTorch / project ${sp.ratio.toFixed(2)}×`);
      out['speed'] = { projectSamplesPerSecond: r4(sp.project.samplesPerSecond), pytorchSamplesPerSecond: r4(sp.pytorch.samplesPerSecond), pytorchThreads: sp.pytorch.threads, ratio: r4(sp.ratio) };
    }

    if (!pass) process.exitCode = 1;
    out['pass'] = pass;
    console.log(JSON.stringify(out));
  } finally {
    if (env['BENCH_KEEP_DIR'] === '1') log(`work directory kept: ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

await main();
