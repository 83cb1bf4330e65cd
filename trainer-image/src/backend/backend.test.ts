import * as tf from '@tensorflow/tfjs';
import { BackendKinds, DEFAULT_BACKEND_ORDER, loadBackend, parseBackendOrder, wasmBinaryDir } from './index.ts';
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

describe('parseBackendOrder', () => {
  it('parses a comma list and names an unknown entry', () => {
    expect(parseBackendOrder(' wasm, cpu ')).toEqual(['wasm', 'cpu']);
    expect(() => parseBackendOrder('wasm,gpu')).toThrow(/unknown backend 'gpu'/);
    expect(() => parseBackendOrder(' , ')).toThrow(/empty/);
  });
});
