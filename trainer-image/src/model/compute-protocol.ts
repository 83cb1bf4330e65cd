/**
 * The messages between the trainer's main thread and its compute worker
 * (compute-worker.ts, started by compute.ts), and the worker's side of them.
 * Nothing here touches worker_threads: `ComputeService` answers requests
 * in-process, so it is tested like any model code.
 *
 *   host → worker   ComputeRequest   (one at a time or pipelined; answered in order)
 *   worker → host   ComputeHello     (first message: the backend it loaded, or why none)
 *                   ComputeReply     (one per request, by id)
 *
 * Float32Array payloads travel as transferred ArrayBuffers: the host sends a
 * copy of the parameters (the optimizer keeps its own), the worker gives up
 * the gradients and parameter vectors it returns.
 */
import type { BackendChoice, BackendKind } from '../backend/index.ts';
import { errorMessage } from '../common/index.ts';
import type { MlmBatch } from '../data/index.ts';
import type { ModelConfig } from './config.ts';
import { createModel, type LeanAlbert, type LossAndGradients } from './lean-albert.ts';
import type { ParamSpec } from './params.ts';

/** What the worker is started with (`workerData`). */
export interface ComputeWorkerInit {
  /** Backend preference, as loadBackend's `order`; undefined = the default order. */
  order?: readonly BackendKind[];
}

/** The model as the host sees it once built: its flat layout. */
export interface ModelInfo {
  size: number;
  params: ParamSpec[];
}

export type ComputeRequest =
  | { id: number; op: 'createModel'; config: ModelConfig; seed: number | string }
  | { id: number; op: 'setFlat'; flat: Float32Array }
  | { id: number; op: 'getFlat' }
  | { id: number; op: 'lossAndGradients'; batch: MlmBatch }
  | { id: number; op: 'evaluate'; batch: MlmBatch };

export type ComputeOp = ComputeRequest['op'];

export type ComputeReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: string; name: string };

export type ComputeHello = { type: 'ready'; backend: BackendChoice } | { type: 'failed'; error: string };

/** The buffer of `v` if `v` spans all of it (then it can be transferred), else none. */
export function ownBuffer(v: ArrayBufferView): ArrayBuffer[] {
  const b = v.buffer;
  // Not instanceof: a vector may come from another realm (a vm context, as under jest).
  return Object.prototype.toString.call(b) === '[object ArrayBuffer]' && v.byteOffset === 0 && v.byteLength === b.byteLength ? [b as ArrayBuffer] : [];
}

/** A Float32Array that owns its buffer: `v` itself if it does, else a copy. */
export function owned(v: Float32Array): Float32Array {
  return ownBuffer(v).length > 0 ? v : v.slice();
}

/** A copy of a batch whose arrays own their buffers (to transfer them). */
export function batchCopy(b: MlmBatch): { batch: MlmBatch; transfer: ArrayBuffer[] } {
  const batch: MlmBatch = { batchSize: b.batchSize, seqLength: b.seqLength, inputIds: b.inputIds.slice(), attentionMask: b.attentionMask.slice(), labels: b.labels.slice() };
  return { batch, transfer: [batch.inputIds.buffer, batch.attentionMask.buffer, batch.labels.buffer] as ArrayBuffer[] };
}

/** Thrown by ComputeService when a request comes before the model or names no known op. */
export class ComputeRequestError extends Error {
  readonly code = 'ERR_COMPUTE_REQUEST';
  constructor(message: string) {
    super(message);
    this.name = 'ComputeRequestError';
  }
}

/**
 * The worker's side: one model, requests answered one at a time in arrival
 * order (so a setFlat sent right after a lossAndGradients applies after it,
 * never in the middle). A request that throws is answered with its error;
 * the service goes on.
 */
export class ComputeService {
  #model: LeanAlbert | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  handle(req: ComputeRequest): Promise<{ reply: ComputeReply; transfer: ArrayBuffer[] }> {
    const r = this.#chain.then(() => this.#run(req));
    this.#chain = r;
    return r;
  }

  async #run(req: ComputeRequest): Promise<{ reply: ComputeReply; transfer: ArrayBuffer[] }> {
    try {
      const { value, transfer } = await this.#op(req);
      return { reply: { id: req.id, ok: true, value }, transfer };
    } catch (e) {
      return { reply: { id: req.id, ok: false, error: errorMessage(e), name: e instanceof Error ? e.name : 'Error' }, transfer: [] };
    }
  }

  #built(): LeanAlbert {
    if (!this.#model) throw new ComputeRequestError('no model yet: createModel first');
    return this.#model;
  }

  async #op(req: ComputeRequest): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
    switch (req.op) {
      case 'createModel': {
        if (this.#model) throw new ComputeRequestError('the compute worker holds one model; it is built already');
        const m = createModel(req.config, { seed: req.seed });
        this.#model = m;
        const info: ModelInfo = { size: m.size, params: m.params.map((p) => ({ name: p.name, shape: [...p.shape], size: p.size })) };
        return { value: info, transfer: [] };
      }
      case 'setFlat':
        this.#built().setFlat(req.flat);
        return { value: undefined, transfer: [] };
      case 'getFlat': {
        const flat = owned(await this.#built().getFlat());
        return { value: flat, transfer: ownBuffer(flat) };
      }
      case 'lossAndGradients': {
        const r: LossAndGradients = await this.#built().lossAndGradients(req.batch);
        const grads = owned(r.grads);
        return { value: { loss: r.loss, grads, maskedTokens: r.maskedTokens }, transfer: ownBuffer(grads) };
      }
      case 'evaluate':
        return { value: await this.#built().evaluate(req.batch), transfer: [] };
      default:
        throw new ComputeRequestError(`unknown op ${JSON.stringify((req as { op?: unknown }).op)}`);
    }
  }

  dispose(): void {
    this.#model?.dispose();
    this.#model = undefined;
  }
}
