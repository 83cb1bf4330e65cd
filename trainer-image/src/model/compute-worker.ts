/**
 * Entry of the compute worker thread (started by compute.ts; not imported
 * elsewhere): loads the TensorFlow.js backend in this thread (same order and
 * fallback as the main thread's loadBackend), says which one it got, then
 * answers ComputeRequests with a ComputeService until the host terminates it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadBackend } from '../backend/index.ts';
import { errorMessage } from '../common/index.ts';
import { type ComputeHello, type ComputeRequest, ComputeService, type ComputeWorkerInit } from './compute-protocol.ts';

const port = parentPort;
if (port === null) throw new Error('compute-worker.ts runs in a worker thread (see compute.ts), not as a program');
const init = (workerData ?? {}) as ComputeWorkerInit;

let hello: ComputeHello;
try {
  const backend = await loadBackend(init.order !== undefined ? { order: init.order } : {});
  hello = { type: 'ready', backend };
} catch (e) {
  hello = { type: 'failed', error: errorMessage(e) };
}
port.postMessage(hello);
if (hello.type === 'ready') {
  const service = new ComputeService();
  port.on('message', (req: ComputeRequest) => {
    void service.handle(req).then(({ reply, transfer }) => {
      try {
        port.postMessage(reply, transfer);
      } catch (e) {
        port.postMessage({ id: reply.id, ok: false, error: `could not send the reply: ${errorMessage(e)}`, name: 'DataCloneError' });
      }
    });
  });
} else {
  port.close();
}
