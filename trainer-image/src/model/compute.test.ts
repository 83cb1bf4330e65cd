/**
 * The compute worker (compute.ts): the model in a worker thread gives
 * bitwise the same parameters, loss and gradients as the model on this
 * thread (wasm both sides, tiny preset, the real data path); requests are
 * answered in order; a request's error rejects that call only; a worker that
 * dies rejects what is pending with an error saying what happened, and every
 * later call too; a backend that does not load fails the start.
 */
import { jest } from '@jest/globals';
import { loadBackend } from '../backend/index.ts';
import { createDataset, createTokenizer, type MlmBatch, mlmBatches } from '../data/index.ts';
import { IGNORE_INDEX } from '../data/index.ts';
import type { Fault } from './testdata/faulty-compute-worker.ts';
import { ComputeWorker, ComputeWorkerError, createModel, type LeanAlbert, type ModelCompute, modelConfig } from './index.ts';

const SEQ = 32;
const FAULTY = new URL('./testdata/faulty-compute-worker.ts', import.meta.url);
/** A worker entry that runs the faulty worker with this fault. */
const faultyEntry = (fault: Fault): URL =>
  new URL(`data:text/javascript,${encodeURIComponent(`import { runFaultyWorker } from ${JSON.stringify(FAULTY.href)}; await runFaultyWorker(${JSON.stringify(fault)});`)}`);

function bytes(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Bitwise equality, with the first differing index in the failure message. */
function expectBitwise(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  if (!bytes(a).equals(bytes(b))) {
    const i = a.findIndex((x, k) => !Object.is(x, b[k]));
    throw new Error(`vectors differ first at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

describe('compute worker: same results as the model on this thread', () => {
  let worker: ComputeWorker;
  let remote: ModelCompute;
  let local: LeanAlbert;
  const batches: MlmBatch[] = [];

  beforeAll(async () => {
    await loadBackend({ order: ['wasm'] });
    const urls = ['generated:tiny-corpus'];
    const tokenizer = await createTokenizer({ urls }, { trainLines: 5000 });
    for await (const b of mlmBatches(createDataset({ urls, seed: 'compute' }, { index: 0, count: 1 }), tokenizer, { seqLength: SEQ, batchSize: 8, seed: 'compute' })) {
      batches.push(b);
      if (batches.length === 3) break;
    }
    const config = modelConfig('tiny', { vocabSize: tokenizer.vocabSize, maxSeqLength: SEQ });
    worker = await ComputeWorker.start({ order: ['wasm'] });
    remote = await worker.createModel(config, 'swarm/model');
    local = createModel(config, { seed: 'swarm/model' });
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    local?.dispose();
  });

  it('loads the backend it was asked for, in the worker, and reports it', () => {
    expect(worker.backend.kind).toBe('wasm');
    expect(worker.backend.tfBackend).toBe('wasm');
  });

  it('builds bitwise the same initial parameters from the same config and seed, with the same layout', async () => {
    expect(remote.size).toBe(local.size);
    expect(remote.params).toEqual(local.params.map((p) => ({ name: p.name, shape: p.shape, size: p.size })));
    expectBitwise(await remote.getFlat(), await local.getFlat());
  });

  it('gives bitwise-equal loss, gradients and evaluation, before and after setFlat (and the call copies the vector)', async () => {
    const before: Float32Array[] = [];
    for (const b of batches.slice(0, 2)) {
      const [r, l] = [await remote.lossAndGradients(b), await local.lossAndGradients(b)];
      expect(Object.is(r.loss, l.loss)).toBe(true);
      expect(r.maskedTokens).toBe(l.maskedTokens);
      expect(Object.prototype.toString.call(r.grads)).toBe('[object Float32Array]'); // another realm's (jest's vm)
      expectBitwise(r.grads, l.grads);
      expect(Object.is(await remote.evaluate(b), await local.evaluate(b))).toBe(true);
      before.push(r.grads);
    }
    // New parameters: a step along the gradient. The caller changes its vector right after setFlat.
    const params = await local.getFlat();
    for (let i = 0; i < params.length; i++) params[i]! -= 0.05 * before[0]![i]!;
    local.setFlat(params);
    const sent = remote.setFlat(params); // not awaited: the next call must still see it
    const expected = params.slice();
    params.fill(0);
    await sent;
    expectBitwise(await remote.getFlat(), expected);
    const b = batches[0]!;
    const [r, l] = [await remote.lossAndGradients(b), await local.lossAndGradients(b)];
    expectBitwise(r.grads, l.grads);
    expect(Object.is(r.loss, l.loss)).toBe(true);
    // The comparison has teeth: other parameters, other gradients.
    expect(bytes(r.grads).equals(bytes(before[0]!))).toBe(false);
  });

  it('answers pipelined calls in order', async () => {
    const start = await local.getFlat();
    const zeros = new Float32Array(start.length);
    const [, g0, , g1] = await Promise.all([remote.setFlat(zeros), remote.lossAndGradients(batches[2]!), remote.setFlat(start), remote.lossAndGradients(batches[2]!)]);
    local.setFlat(zeros);
    expectBitwise(g0!.grads, (await local.lossAndGradients(batches[2]!)).grads);
    local.setFlat(start);
    expectBitwise(g1!.grads, (await local.lossAndGradients(batches[2]!)).grads);
  });

  it('rejects a call the model refuses with the model\'s error, and goes on', async () => {
    const b = batches[0]!;
    const none: MlmBatch = { ...b, labels: new Int32Array(b.labels.length).fill(IGNORE_INDEX) };
    await expect(remote.lossAndGradients(none)).rejects.toThrow('batch has no masked position to predict');
    expect(worker.pending).toBe(0);
    expect(Number.isFinite(await remote.evaluate(b))).toBe(true);
  });
});

describe('compute worker failures', () => {
  const withFault = (fault: Fault, opts: Parameters<typeof ComputeWorker.start>[0] = {}): Promise<ComputeWorker> => ComputeWorker.start({ ...opts, entry: faultyEntry(fault) });
  const config = modelConfig('tiny');
  const batch: MlmBatch = { batchSize: 1, seqLength: 2, inputIds: Int32Array.of(1, 2), attentionMask: Int32Array.of(1, 1), labels: Int32Array.of(3, IGNORE_INDEX) };

  it('a worker that crashes rejects the pending calls and every later one, naming the crash, and logs it', async () => {
    const error = jest.fn();
    const w = await withFault('crash', { log: { error } });
    const m = await w.createModel(config, 1);
    const pending = [m.lossAndGradients(batch), m.evaluate(batch)];
    await expect(pending[0]).rejects.toThrow(ComputeWorkerError);
    await expect(pending[0]).rejects.toThrow('lossAndGradients: compute worker crashed: simulated crash during lossAndGradients');
    await expect(pending[1]).rejects.toThrow('evaluate: compute worker crashed: simulated crash during lossAndGradients');
    await expect(w.failed).resolves.toBeInstanceOf(ComputeWorkerError);
    await expect(m.getFlat()).rejects.toThrow('compute worker crashed: simulated crash during lossAndGradients');
    expect(error).toHaveBeenCalledWith('compute worker crashed: simulated crash during lossAndGradients', expect.objectContaining({ pendingCalls: ['lossAndGradients', 'evaluate'] }));
    expect(w.pending).toBe(0);
    await w.stop();
  });

  it('a worker that exits rejects the pending call with its exit code', async () => {
    const w = await withFault('exit');
    const m = await w.createModel(config, 1);
    await expect(m.evaluate(batch)).rejects.toThrow('evaluate: compute worker exited (code 3)');
    await expect(m.setFlat(new Float32Array(1))).rejects.toThrow('compute worker exited (code 3)');
  });

  it('a backend that does not load fails the start with loadBackend\'s reasons', async () => {
    await expect(withFault('no-backend')).rejects.toThrow(
      "compute worker could not load a backend: no TensorFlow.js backend loaded: wasm: import failed: Cannot find package '@tensorflow/tfjs-backend-wasm'",
    );
  });

  it('a worker that stops answering counts as hung after callTimeoutMs: the call rejects naming it, failed resolves, and it is logged', async () => {
    const error = jest.fn();
    const w = await withFault('hang', { callTimeoutMs: 1000, log: { error } });
    const m = await w.createModel(config, 1);
    const inFlight = m.lossAndGradients(batch);
    await expect(inFlight).rejects.toThrow(ComputeWorkerError);
    await expect(inFlight).rejects.toThrow(/^lossAndGradients: compute worker did not answer lossAndGradients within 1000 ms .*: it hangs$/);
    await expect(w.failed).resolves.toBeInstanceOf(ComputeWorkerError);
    await expect(m.evaluate(batch)).rejects.toThrow('it hangs');
    expect(error).toHaveBeenCalledWith(expect.stringContaining('did not answer lossAndGradients'), expect.objectContaining({ pendingCalls: ['lossAndGradients'] }));
    expect(w.pending).toBe(0);
  });

  it('the hang limit grows with the slowest answer: calls past callTimeoutMs but within 20x the first answer succeed', async () => {
    // createModel answers in ~200 ms, every other call in ~1500 ms: past callTimeoutMs (1000), within 20 x 200 ms.
    const w = await withFault('slow', { callTimeoutMs: 1000 });
    const m = await w.createModel(config, 1);
    expect(w.slowestMs).toBeGreaterThanOrEqual(190);
    expect(w.slowestMs).toBeLessThan(1000);
    await expect(m.evaluate(batch)).resolves.toBe(1);
    await expect(m.getFlat()).resolves.toEqual(new Float32Array(1));
    expect(w.slowestMs).toBeGreaterThanOrEqual(1490);
    await expect(Promise.race([w.failed, Promise.resolve('not failed')])).resolves.toBe('not failed');
    await w.stop();
  });

  it('stop() rejects a call in flight (a worker that never answers: no hang)', async () => {
    const w = await withFault('hang');
    const m = await w.createModel(config, 1);
    const inFlight = m.lossAndGradients(batch);
    expect(w.pending).toBe(1);
    await w.stop();
    await expect(inFlight).rejects.toThrow('lossAndGradients: compute worker stopped');
    await expect(m.evaluate(batch)).rejects.toThrow('compute worker stopped');
    await expect(Promise.race([w.failed, Promise.resolve('not failed')])).resolves.toBe('not failed');
  });
});
