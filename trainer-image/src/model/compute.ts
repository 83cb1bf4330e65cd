/**
 * The model's compute, off the main thread. A micro-batch of forward and
 * backward passes is seconds of synchronous TensorFlow.js work on a larger
 * model; on the main thread it would block NATS and libp2p for as long (a
 * joiner would get its state chunks only between micro-batches). hivemind
 * runs its networking in another process for the same reason; here the
 * model runs in a worker thread (compute-worker.ts) and the main thread keeps
 * the optimizer, the swarm and the state server.
 *
 *   const compute = await ComputeWorker.start({ order, log });   // loads the backend in the worker
 *   const model = await compute.createModel(config, seed);       // bitwise the same as createModel()
 *   const { loss, grads } = await model.lossAndGradients(batch);
 *   await compute.stop();
 *
 * Calls are answered in order. If the worker dies (an uncaught error, a
 * wasm abort that kills it, an exit), every pending and later call rejects
 * with a ComputeWorkerError saying what happened, and `failed` resolves.
 * A worker that stops answering counts as dead too: a call that takes longer
 * than max(callTimeoutMs, HANG_FACTOR x the slowest call answered so far) is
 * a hang, not a slow micro-batch. Its networking still runs, so a hung peer
 * would otherwise look alive to the swarm forever; this way it leaves, and
 * the pod restarts.
 */
import { Worker } from 'node:worker_threads';
import type { BackendChoice, BackendKind } from '../backend/index.ts';
import { errorMessage } from '../common/index.ts';
import type { MlmBatch } from '../data/index.ts';
import {
  batchCopy, type ComputeHello, type ComputeOp, type ComputeReply, type ComputeRequest, type ComputeWorkerInit, type ModelInfo, ownBuffer,
} from './compute-protocol.ts';
import type { ModelConfig } from './config.ts';
import type { LossAndGradients } from './lean-albert.ts';
import type { ParamSpec } from './params.ts';

/** What the training workload computes with: the model, wherever it runs. */
export interface ModelCompute {
  /** Total trainable elements (the flat vector's length). */
  readonly size: number;
  /** Name, shape and size of each parameter, in the flat order. */
  readonly params: readonly ParamSpec[];
  getFlat(): Promise<Float32Array>;
  /** Replaces all parameters (the caller may change `flat` right after the call). */
  setFlat(flat: Float32Array): Promise<void>;
  lossAndGradients(batch: MlmBatch): Promise<LossAndGradients>;
  evaluate(batch: MlmBatch): Promise<number>;
}

/** Builds the model where the compute runs. */
export interface ComputeHost {
  /** The TensorFlow.js backend the compute runs on. */
  readonly backend: BackendChoice;
  /** One model per host; equal config and seed give bitwise-equal parameters. */
  createModel(config: ModelConfig, seed: number | string): Promise<ModelCompute>;
}

/** Thrown when the compute worker cannot start, died, or was stopped. */
export class ComputeWorkerError extends Error {
  readonly code = 'ERR_COMPUTE_WORKER';
  constructor(message: string) {
    super(message);
    this.name = 'ComputeWorkerError';
  }
}

export interface ComputeWorkerLogger {
  error(message: string, meta?: Record<string, unknown>): unknown;
}

export interface ComputeWorkerOptions {
  /** Backend preference (loadBackend's order). @default DEFAULT_BACKEND_ORDER */
  order?: readonly BackendKind[];
  /** Where the worker's death is logged. @default none */
  log?: ComputeWorkerLogger;
  /** The worker's entry module (tests start a faulty one). @default compute-worker.ts beside this file */
  entry?: URL;
  /** Longest the worker may take to load its backend. @default DEFAULT_START_TIMEOUT_MS */
  startTimeoutMs?: number;
  /** A call unanswered this long (or HANG_FACTOR x the slowest one so far, if longer) means the worker hangs. @default DEFAULT_CALL_TIMEOUT_MS */
  callTimeoutMs?: number;
}

/** Loading the backend takes well under a second here; the native ones load libtensorflow (seconds). */
export const DEFAULT_START_TIMEOUT_MS = 120_000;

/** Building a base model or a micro-batch on the wasm backend takes seconds; ten minutes unanswered is a hang. */
export const DEFAULT_CALL_TIMEOUT_MS = 600_000;
/** How many times the slowest answered call a call may take before it counts as a hang. */
export const HANG_FACTOR = 20;

const DEFAULT_ENTRY = new URL('./compute-worker.ts', import.meta.url);

interface Pending {
  op: ComputeOp;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  postedAt: number;
  watchdog: NodeJS.Timeout;
}

export class ComputeWorker implements ComputeHost {
  readonly backend: BackendChoice;
  /** Resolves with the error when the worker dies without being stopped. */
  readonly failed: Promise<ComputeWorkerError>;
  readonly #worker: Worker;
  readonly #log: ComputeWorkerLogger | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #callTimeoutMs: number;
  /** The longest any call took from post to answer, in ms. */
  #slowestMs = 0;
  #nextId = 1;
  #dead: ComputeWorkerError | undefined;
  #stopping = false;
  #model = false;
  #onFailed: (e: ComputeWorkerError) => void = () => undefined;

  private constructor(worker: Worker, backend: BackendChoice, log: ComputeWorkerLogger | undefined, callTimeoutMs: number) {
    this.#worker = worker;
    this.backend = backend;
    this.#log = log;
    this.#callTimeoutMs = callTimeoutMs;
    this.failed = new Promise((r) => (this.#onFailed = r));
    worker.on('message', (m: ComputeReply) => this.#reply(m));
    worker.on('error', (e) => this.#die(`compute worker crashed: ${errorMessage(e)}`, e));
    worker.on('messageerror', (e) => this.#die(`compute worker sent a message that could not be read: ${errorMessage(e)}`, e));
    worker.on('exit', (code) => this.#die(this.#stopping ? 'compute worker stopped' : `compute worker exited (code ${code})`));
  }

  /** Starts the worker and waits until it loaded its backend; rejects (and logs nothing) if it cannot. */
  static async start(opts: ComputeWorkerOptions = {}): Promise<ComputeWorker> {
    const init: ComputeWorkerInit = opts.order !== undefined ? { order: [...opts.order] } : {};
    const worker = new Worker(opts.entry ?? DEFAULT_ENTRY, { workerData: init });
    const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let hello: ComputeHello;
    try {
      hello = await new Promise<ComputeHello>((resolve, reject) => {
        const timer = setTimeout(() => reject(new ComputeWorkerError(`compute worker did not load a backend within ${timeoutMs} ms`)), timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        };
        const onMessage = (m: ComputeHello): void => {
          done();
          resolve(m);
        };
        const onError = (e: Error): void => {
          done();
          reject(new ComputeWorkerError(`compute worker crashed while starting: ${errorMessage(e)}`));
        };
        const onExit = (code: number): void => {
          done();
          reject(new ComputeWorkerError(`compute worker exited while starting (code ${code})`));
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      });
    } catch (e) {
      await worker.terminate();
      throw e;
    }
    if (hello.type !== 'ready') {
      await worker.terminate();
      throw new ComputeWorkerError(`compute worker could not load a backend: ${hello.error}`);
    }
    return new ComputeWorker(worker, hello.backend, opts.log, opts.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS);
  }

  async createModel(config: ModelConfig, seed: number | string): Promise<ModelCompute> {
    if (this.#model) throw new ComputeWorkerError('the compute worker holds one model; it is built already');
    this.#model = true;
    const info = (await this.#call({ op: 'createModel', config: { ...config }, seed }, [])) as ModelInfo;
    const call = this.#call.bind(this);
    return Object.freeze({
      size: info.size,
      params: Object.freeze(info.params.map((p) => Object.freeze({ ...p, shape: Object.freeze([...p.shape]) }))),
      getFlat: async () => (await call({ op: 'getFlat' }, [])) as Float32Array,
      setFlat: async (flat: Float32Array) => {
        // A copy, taken now: the optimizer keeps (and will change) its own vector.
        const copy = flat.slice();
        await call({ op: 'setFlat', flat: copy }, ownBuffer(copy));
      },
      lossAndGradients: async (batch: MlmBatch) => {
        const b = batchCopy(batch);
        return (await call({ op: 'lossAndGradients', batch: b.batch }, b.transfer)) as LossAndGradients;
      },
      evaluate: async (batch: MlmBatch) => {
        const b = batchCopy(batch);
        return (await call({ op: 'evaluate', batch: b.batch }, b.transfer)) as number;
      },
    });
  }

  /** Terminates the worker; pending calls reject ('compute worker stopped'). */
  async stop(): Promise<void> {
    if (this.#dead) return;
    this.#stopping = true;
    await this.#worker.terminate();
    this.#die('compute worker stopped');
  }

  /** The longest a call has taken so far, in ms (the hang limit grows with it). */
  get slowestMs(): number {
    return this.#slowestMs;
  }

  /** Calls in flight (tests). */
  get pending(): number {
    return this.#pending.size;
  }

  #call(req: DistributiveOmit<ComputeRequest, 'id'>, transfer: ArrayBuffer[]): Promise<unknown> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#nextId++;
    const limitMs = Math.max(this.#callTimeoutMs, HANG_FACTOR * this.#slowestMs);
    return new Promise((resolve, reject) => {
      const watchdog = setTimeout(() => this.#die(`compute worker did not answer ${req.op} within ${limitMs} ms (slowest answer so far ${Math.round(this.#slowestMs)} ms): it hangs`), limitMs);
      watchdog.unref();
      this.#pending.set(id, { op: req.op, resolve, reject, postedAt: performance.now(), watchdog });
      try {
        this.#worker.postMessage({ ...req, id } as ComputeRequest, transfer);
      } catch (e) {
        clearTimeout(watchdog);
        this.#pending.delete(id);
        reject(new ComputeWorkerError(`could not send ${req.op} to the compute worker: ${errorMessage(e)}`));
      }
    });
  }

  #reply(m: ComputeReply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    clearTimeout(p.watchdog);
    this.#slowestMs = Math.max(this.#slowestMs, performance.now() - p.postedAt);
    if (m.ok) p.resolve(m.value);
    else {
      const e = new Error(m.error);
      e.name = m.name;
      p.reject(e);
    }
  }

  #die(message: string, cause?: unknown): void {
    if (this.#dead) return;
    const err = new ComputeWorkerError(message);
    this.#dead = err;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) clearTimeout(p.watchdog);
    if (!this.#stopping) {
      this.#log?.error(message, { pendingCalls: pending.map((p) => p.op), stack: cause instanceof Error ? cause.stack : undefined });
      this.#onFailed(err);
      // A worker that threw is still winding down: make sure it is gone.
      void this.#worker.terminate();
    }
    for (const p of pending) p.reject(new ComputeWorkerError(`${p.op}: ${message}`));
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
