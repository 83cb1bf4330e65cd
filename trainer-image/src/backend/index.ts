/**
 * Backend choice: the trainer runs on the first TensorFlow.js backend that
 * loads here, in this order:
 *
 *  1. `@tensorflow/tfjs-node-gpu` (libtensorflow with CUDA; the trainer image)
 *  2. `@tensorflow/tfjs-node`     (libtensorflow on CPU)
 *  3. `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD on, threads off in Node)
 *  4. `cpu` (pure JS, always there)
 *
 * Each candidate is a dynamic `import()`: the native packages are optional
 * dependencies whose install script downloads libtensorflow, so on machines
 * without that download they are simply absent (or present without their
 * binding) and the import throws. Every failure is kept in `attempts` so the
 * trainer can log why it runs where it runs.
 *
 * A successful `setBackend('tensorflow')` with tfjs-node-gpu does not prove a
 * GPU: libtensorflow runs on the CPU when it finds no CUDA device or no
 * matching CUDA library. The backend's `isUsingGpuDevice` is what
 * libtensorflow's own device list says once it started; `device` reports it
 * (gpu, or cpu-fallback for the GPU build on the CPU).
 *
 * spec.trainer.backend picks the candidates (`ordersFor`): auto is the whole
 * chain; gpu only tfjs-node-gpu and requires device gpu (`requireDevice`
 * fails otherwise, naming the field); cpu the CPU builds; wasm only wasm.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendDevice, TrainerBackend } from '../../../api/index.ts';

export const BackendKinds = {
  NodeGpu: 'tfjs-node-gpu',
  Node: 'tfjs-node',
  Wasm: 'wasm',
  Cpu: 'cpu',
} as const;
export type BackendKind = (typeof BackendKinds)[keyof typeof BackendKinds];

/** Preference order when none is given. */
export const DEFAULT_BACKEND_ORDER: readonly BackendKind[] = [
  BackendKinds.NodeGpu,
  BackendKinds.Node,
  BackendKinds.Wasm,
  BackendKinds.Cpu,
];

const PACKAGES: Record<BackendKind, string | undefined> = {
  'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu',
  'tfjs-node': '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: undefined,
};

/** The tfjs backend name each kind registers (both native packages register `tensorflow`). */
const TF_NAMES: Record<BackendKind, string> = {
  'tfjs-node-gpu': 'tensorflow',
  'tfjs-node': 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

export interface BackendAttempt {
  kind: BackendKind;
  /** One line: why this candidate was skipped. */
  error: string;
}

export interface BackendChoice {
  /** The package it loaded. */
  kind: BackendKind;
  /** The device it computes on, as the backend itself says: what the trainer reports in logs, telemetry and status.backends. */
  device: BackendDevice;
  /** `tf.getBackend()` after the switch. */
  tfBackend: string;
  /** wasm only: whether the SIMD binary is in use. */
  simd?: boolean;
  /** Candidates tried before this one, in order, with their errors. */
  attempts: BackendAttempt[];
}

export interface LoadBackendOptions {
  /** Candidates in preference order. @default DEFAULT_BACKEND_ORDER */
  order?: readonly BackendKind[];
  /**
   * Imports a package by specifier; injected by tests to simulate a package
   * that is present or missing. @default dynamic `import()`
   */
  importer?: (specifier: string) => Promise<unknown>;
}

const nativeImport = (specifier: string): Promise<unknown> => import(specifier);

/** The directory holding the wasm binaries of `@tensorflow/tfjs-backend-wasm`, with a trailing slash. */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep;
}

function oneLine(e: unknown): string {
  const msg = typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : String(e);
  return msg.split('\n').find((l) => l.trim() !== '')?.trim().slice(0, 300) ?? 'unknown error';
}

async function tryKind(kind: BackendKind, importer: (s: string) => Promise<unknown>): Promise<BackendChoice | string> {
  const pkg = PACKAGES[kind];
  const tfName = TF_NAMES[kind];
  if (kind === BackendKinds.Wasm) {
    let mod: { setWasmPaths?: (prefix: string) => void };
    try {
      mod = (await importer(pkg!)) as typeof mod;
    } catch (e) {
      return `import failed: ${oneLine(e)}`;
    }
    // Threads need SharedArrayBuffer workers that Node's wasm loader does not
    // set up; SIMD is detected by the backend itself (on in Node ≥ 16).
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    // setWasmPaths throws once the backend has been initialised; a second
    // loadBackend() in the same process just switches back to it.
    if (tf.engine().registryFactory['wasm'] !== undefined && !isInitialised('wasm')) {
      try {
        mod.setWasmPaths?.(wasmBinaryDir());
      } catch (e) {
        return `setWasmPaths failed: ${oneLine(e)}`;
      }
    }
  } else if (pkg !== undefined) {
    try {
      await importer(pkg);
    } catch (e) {
      return `import failed: ${oneLine(e)}`;
    }
  }
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
    await tf.ready();
  } catch (e) {
    return `setBackend('${tfName}') failed: ${oneLine(e)}`;
  }
  if (!ok || tf.getBackend() !== tfName) return `setBackend('${tfName}') returned false (backend did not initialise)`;
  const choice: BackendChoice = { kind, device: deviceOf(kind, tf.backend()), tfBackend: tf.getBackend(), attempts: [] };
  if (kind === BackendKinds.Wasm) choice.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') === true;
  return choice;
}

/**
 * The device a loaded backend computes on. tfjs-node's backend reads
 * libtensorflow's device list when it starts (`isUsingGpuDevice`: a GPU
 * device was found); the GPU build without one runs on the CPU.
 */
export function deviceOf(kind: BackendKind, backend: unknown): BackendDevice {
  if (kind === BackendKinds.Wasm) return 'wasm';
  if (kind === BackendKinds.Cpu) return 'cpu';
  const onGpu = typeof backend === 'object' && backend !== null && (backend as { isUsingGpuDevice?: unknown }).isUsingGpuDevice === true;
  if (onGpu) return 'gpu';
  return kind === BackendKinds.NodeGpu ? 'cpu-fallback' : 'cpu';
}

/** The candidates spec.trainer.backend allows, in preference order. */
export function orderFor(choice: TrainerBackend): readonly BackendKind[] {
  switch (choice) {
    case 'auto':
      return DEFAULT_BACKEND_ORDER;
    case 'gpu':
      return [BackendKinds.NodeGpu];
    case 'cpu':
      return [BackendKinds.Node, BackendKinds.Wasm, BackendKinds.Cpu];
    case 'wasm':
      return [BackendKinds.Wasm];
  }
}

/** Why `choice` does not satisfy spec.trainer.backend gpu (a GPU is required), or undefined when it does or none is required. */
export function gpuRequirementError(wanted: TrainerBackend, choice: BackendChoice): string | undefined {
  if (wanted !== 'gpu' || choice.device === 'gpu') return undefined;
  return `spec.trainer.backend is gpu, but no GPU is usable here: ${choice.kind} loaded and computes on the CPU (libtensorflow found no CUDA device or no matching CUDA library)`;
}

function isInitialised(name: string): boolean {
  return (tf.engine().registry as Record<string, unknown>)[name] !== undefined;
}

/**
 * Switches TensorFlow.js to the first candidate that loads and returns what it
 * chose. Throws only if every candidate failed (impossible with `cpu` last).
 */
export async function loadBackend(opts: LoadBackendOptions = {}): Promise<BackendChoice> {
  const order = opts.order ?? DEFAULT_BACKEND_ORDER;
  const importer = opts.importer ?? nativeImport;
  const attempts: BackendAttempt[] = [];
  for (const kind of order) {
    const r = await tryKind(kind, importer);
    if (typeof r !== 'string') return { ...r, attempts };
    attempts.push({ kind, error: r });
  }
  throw new Error(`no TensorFlow.js backend loaded: ${attempts.map((a) => `${a.kind}: ${a.error}`).join('; ')}`);
}

/** Parses a comma-separated preference list (e.g. from an env var in main.ts). */
export function parseBackendOrder(s: string): BackendKind[] {
  const known = new Set<string>(DEFAULT_BACKEND_ORDER);
  const out: BackendKind[] = [];
  for (const part of s.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    if (!known.has(part)) throw new Error(`unknown backend '${part}' (expected one of ${DEFAULT_BACKEND_ORDER.join(', ')})`);
    out.push(part as BackendKind);
  }
  if (out.length === 0) throw new Error('empty backend list');
  return out;
}
