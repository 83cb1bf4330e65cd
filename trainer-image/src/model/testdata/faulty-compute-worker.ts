/**
 * A compute worker that fails on purpose (compute.test.ts starts it from a
 * data: URL that imports this module and calls runFaultyWorker(fault)):
 *   crash       answers createModel, then throws an uncaught error on any other call
 *   exit        answers createModel, then exits with code 3 on any other call
 *   hang        answers createModel, then never answers
 *   slow        answers createModel after 200 ms, and any other call after 1500 ms
 *   no-backend  the real loadBackend with an importer that finds no package
 */
import { parentPort } from 'node:worker_threads';
import { loadBackend } from '../../backend/index.ts';
import { errorMessage } from '../../common/index.ts';
import type { ComputeRequest } from '../compute-protocol.ts';

export type Fault = 'crash' | 'exit' | 'hang' | 'slow' | 'no-backend';

export async function runFaultyWorker(fault: Fault): Promise<void> {
  const port = parentPort!;
  if (fault === 'no-backend') {
    try {
      await loadBackend({ order: ['wasm'], importer: (s) => Promise.reject(new Error(`Cannot find package '${s}'`)) });
      port.postMessage({ type: 'ready', backend: { kind: 'wasm', device: 'wasm', tfBackend: 'wasm', attempts: [] } });
    } catch (e) {
      port.postMessage({ type: 'failed', error: errorMessage(e) });
    }
    port.close();
  } else {
    port.postMessage({ type: 'ready', backend: { kind: 'cpu', device: 'cpu', tfBackend: 'cpu', attempts: [] } });
    port.on('message', (req: ComputeRequest) => {
      const model = { size: 1, params: [{ name: 'p', shape: [1], size: 1 }] };
      if (fault === 'slow') {
        const value = req.op === 'createModel' ? model : req.op === 'getFlat' ? new Float32Array(1) : req.op === 'evaluate' ? 1 : undefined;
        setTimeout(() => port.postMessage({ id: req.id, ok: true, value }), req.op === 'createModel' ? 200 : 1500);
      } else if (req.op === 'createModel') {
        port.postMessage({ id: req.id, ok: true, value: model });
      } else if (fault === 'hang') {
        // never answers
      } else if (fault === 'exit') {
        process.exit(3);
      } else {
        setTimeout(() => {
          throw new Error(`simulated crash during ${req.op}`);
        }, 10);
      }
    });
  }
}
