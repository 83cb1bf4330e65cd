import * as tf from '@tensorflow/tfjs';
import { BackendKinds, DEFAULT_BACKEND_ORDER, deviceOf, gpuRequirementError, loadBackend, orderFor, parseBackendOrder, wasmBinaryDir } from './index.ts';
import { existsSync } from 'node:fs';

/** An importer that fails for the listed packages and imports the rest for real. */
const missing = (...pkgs: string[]) => async (spec: string): Promise<unknown> => {
  if (pkgs.includes(spec)) throw new Error(`Cannot find package '${spec}'`);
  return import(spec);
};

describe('loadBackend', () => {
  it('takes the first candidate that loads, and says why the earlier ones did not', async () => {
    const choice = await loadBackend({ importer: missing('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node') });
    expect(choice.kind).toBe(BackendKinds.Wasm);
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.tfBackend).toBe('wasm');
    expect(choice.simd).toBe(true);
    expect(choice.attempts.map((a) => a.kind)).toEqual(['tfjs-node-gpu', 'tfjs-node']);
    expect(choice.attempts[0]!.error).toMatch(/import failed: Cannot find package '@tensorflow\/tfjs-node-gpu'/);
  });

  it('skips a native package that imports but registers no backend (no libtensorflow binding)', async () => {
    const choice = await loadBackend({ order: ['tfjs-node', 'cpu'], importer: async () => ({}) });
    expect(choice.kind).toBe('cpu');
    expect(choice.attempts).toEqual([{ kind: 'tfjs-node', error: expect.stringMatching(/setBackend\('tensorflow'\)/) }]);
  });

  it('falls back to cpu when wasm cannot load, and can switch back to wasm later in the process', async () => {
    const choice = await loadBackend({ order: ['wasm', 'cpu'], importer: missing('@tensorflow/tfjs-backend-wasm') });
    expect(choice.kind).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const again = await loadBackend({ order: ['wasm'] });
    expect(again.kind).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('with the default order lands on a backend from the list, with one attempt per skipped candidate', async () => {
    const choice = await loadBackend();
    // This machine has no libtensorflow: auto ends on wasm (or pure JS), and says so.
    expect(['wasm', 'cpu']).toContain(choice.device);
    const i = DEFAULT_BACKEND_ORDER.indexOf(choice.kind);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(choice.attempts.map((a) => a.kind)).toEqual(DEFAULT_BACKEND_ORDER.slice(0, i));
    expect(await tf.sum(tf.tensor1d([1, 2, 3])).data()).toEqual(Float32Array.from([6]));
  });

  it('throws, listing every error, when nothing loads', async () => {
    await expect(loadBackend({ order: ['wasm'], importer: missing('@tensorflow/tfjs-backend-wasm') })).rejects.toThrow(/wasm: import failed/);
  });

  it('finds the wasm binaries in the package', () => {
    expect(existsSync(`${wasmBinaryDir()}tfjs-backend-wasm-simd.wasm`)).toBe(true);
  });
});

/**
 * tfjs-node-gpu registers a backend named `tensorflow` whose `isUsingGpuDevice` says whether
 * libtensorflow found a GPU device. The package cannot be installed here, so this importer
 * registers a stand-in under that name (the pure-JS backend carrying the flag) when it is imported.
 */
const fakeNodeGpu = (isUsingGpuDevice: boolean) => async (spec: string): Promise<unknown> => {
  if (spec !== '@tensorflow/tfjs-node-gpu') throw new Error(`Cannot find package '${spec}'`);
  await tf.setBackend('cpu');
  const cpu = tf.backend();
  tf.registerBackend('tensorflow', () => Object.assign(Object.create(cpu) as tf.KernelBackend, { isUsingGpuDevice }));
  return {};
};

describe('the device a backend really computes on', () => {
  afterEach(async () => {
    if (tf.findBackendFactory('tensorflow') !== null) tf.removeBackend('tensorflow');
    await tf.setBackend('cpu');
  });

  it('reports the GPU build of libtensorflow on the CPU as cpu-fallback, and gpu refuses it naming the field', async () => {
    const choice = await loadBackend({ order: orderFor('gpu'), importer: fakeNodeGpu(false) });
    expect(choice).toMatchObject({ kind: 'tfjs-node-gpu', device: 'cpu-fallback', tfBackend: 'tensorflow' });
    expect(gpuRequirementError('gpu', choice)).toMatch(/^spec.trainer.backend is gpu, but no GPU is usable here: tfjs-node-gpu loaded and computes on the CPU/);
    expect(gpuRequirementError('auto', choice)).toBeUndefined();
  });

  it('reports gpu when libtensorflow found a GPU device', async () => {
    const choice = await loadBackend({ order: orderFor('gpu'), importer: fakeNodeGpu(true) });
    expect(choice.device).toBe('gpu');
    expect(gpuRequirementError('gpu', choice)).toBeUndefined();
  });

  it('classifies every kind', () => {
    expect(deviceOf('tfjs-node-gpu', { isUsingGpuDevice: true })).toBe('gpu');
    expect(deviceOf('tfjs-node-gpu', {})).toBe('cpu-fallback');
    expect(deviceOf('tfjs-node', { isUsingGpuDevice: false })).toBe('cpu');
    expect(deviceOf('wasm', undefined)).toBe('wasm');
    expect(deviceOf('cpu', undefined)).toBe('cpu');
  });
});

describe('orderFor (spec.trainer.backend)', () => {
  it('auto is the whole chain; gpu only the CUDA build; cpu never the CUDA build; wasm only wasm', () => {
    expect(orderFor('auto')).toEqual(DEFAULT_BACKEND_ORDER);
    expect(orderFor('gpu')).toEqual(['tfjs-node-gpu']);
    expect(orderFor('cpu')).toEqual(['tfjs-node', 'wasm', 'cpu']);
    expect(orderFor('wasm')).toEqual(['wasm']);
  });

  it('gpu on a machine without tfjs-node-gpu fails, listing why', async () => {
    await expect(loadBackend({ order: orderFor('gpu') })).rejects.toThrow(/tfjs-node-gpu: import failed/);
  });
});

describe('parseBackendOrder', () => {
  it('parses a comma list and names an unknown entry', () => {
    expect(parseBackendOrder(' wasm, cpu ')).toEqual(['wasm', 'cpu']);
    expect(() => parseBackendOrder('wasm,gpu')).toThrow(/unknown backend 'gpu'/);
    expect(() => parseBackendOrder(' , ')).toThrow(/empty/);
  });
});
