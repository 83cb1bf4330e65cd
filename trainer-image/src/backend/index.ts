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
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

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
  /** What the trainer reports in logs and telemetry. */
  kind: BackendKind;
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
  const choice: BackendChoice = { kind, tfBackend: tf.getBackend(), attempts: [] };
  if (kind === BackendKinds.Wasm) choice.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') === true;
  return choice;
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
