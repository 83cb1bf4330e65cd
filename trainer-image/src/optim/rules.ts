/**
 * Update rules over flat Float32Arrays, in place, deterministic: the same
 * inputs give bitwise the same outputs on every peer (plain JS arithmetic in
 * a fixed order, norms accumulated in float64). That is what keeps peers'
 * parameters identical when they apply the same averaged gradient.
 *
 *  - Adam with decoupled weight decay (AdamW, Loshchilov & Hutter 2019).
 *  - LAMB (You et al. 2019, "Large Batch Optimization for Deep Learning"):
 *    the Adam direction plus weight decay, scaled per parameter tensor by the
 *    trust ratio ‖θ‖/‖update‖, with ‖θ‖ clamped to [0, 10] as in NVIDIA's
 *    and torch-optimizer's implementations.
 *  - SGD with Nesterov momentum: DiLoCo's outer optimizer (Douillard et al.
 *    2023), applied to the averaged pseudo-gradient.
 */
import { type ParamSegment } from './layout.ts';
import { norm } from './vector.ts';

/** First and second moments of Adam/LAMB, and the step count for bias correction. */
export interface MomentState {
  /** Steps taken so far (bias correction uses step + 1 for the next one). */
  step: number;
  m: Float32Array;
  v: Float32Array;
}

export function createMomentState(size: number): MomentState {
  return { step: 0, m: new Float32Array(size), v: new Float32Array(size) };
}

export interface AdamHyper {
  learningRate: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-6 (LAMB and RuLeanALBERT use 1e-6) */
  epsilon?: number;
  /** Decoupled weight decay, applied to segments with `decay`. @default 0 */
  weightDecay?: number;
}

/** The largest ‖θ‖ LAMB uses in its trust ratio. */
export const LAMB_MAX_WEIGHT_NORM = 10;

function check(params: Float32Array, grad: Float32Array, state: MomentState, segments: readonly ParamSegment[]): void {
  const n = params.length;
  if (grad.length !== n || state.m.length !== n || state.v.length !== n) {
    throw new RangeError(`sizes differ: params ${n}, grad ${grad.length}, m ${state.m.length}, v ${state.v.length}`);
  }
  const last = segments[segments.length - 1];
  if (last !== undefined && last.offset + last.size !== n) throw new RangeError(`segments cover ${last.offset + last.size} elements, params have ${n}`);
}

/**
 * Updates m and v with `grad` over one segment and writes the bias-corrected
 * Adam direction m̂/(√v̂+ε) (+ weight decay · θ) into `out` at the same place.
 */
function adamDirection(params: Float32Array, grad: Float32Array, state: MomentState, seg: ParamSegment, h: Required<AdamHyper>, c1: number, c2: number, out: Float32Array): void {
  const { m, v } = state;
  const { beta1: b1, beta2: b2, epsilon: eps } = h;
  const wd = seg.decay ? h.weightDecay : 0;
  for (let i = seg.offset, end = seg.offset + seg.size; i < end; i++) {
    const g = grad[i]!;
    const mi = b1 * m[i]! + (1 - b1) * g;
    const vi = b2 * v[i]! + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    out[i] = m[i]! / c1 / (Math.sqrt(v[i]! / c2) + eps) + wd * params[i]!;
  }
}

function withDefaults(h: AdamHyper): Required<AdamHyper> {
  if (h.epsilon !== undefined && !(h.epsilon > 0)) throw new RangeError(`epsilon must be > 0, got ${h.epsilon}`);
  return { learningRate: h.learningRate, beta1: h.beta1 ?? 0.9, beta2: h.beta2 ?? 0.999, epsilon: h.epsilon ?? 1e-6, weightDecay: h.weightDecay ?? 0 };
}

/** What AdamW and LAMB both set up before their segment loop: checked sizes, filled-in hyperparameters, bias corrections, a direction buffer. */
function prepareAdamStep(params: Float32Array, grad: Float32Array, state: MomentState, segments: readonly ParamSegment[], hyper: AdamHyper): { h: Required<AdamHyper>; t: number; c1: number; c2: number; dir: Float32Array } {
  check(params, grad, state, segments);
  const h = withDefaults(hyper);
  const t = state.step + 1;
  return { h, t, c1: 1 - Math.pow(h.beta1, t), c2: 1 - Math.pow(h.beta2, t), dir: new Float32Array(params.length) };
}

/** One AdamW step, in place on params and state. */
export function adamwStep(params: Float32Array, grad: Float32Array, state: MomentState, segments: readonly ParamSegment[], hyper: AdamHyper): void {
  const { h, t, c1, c2, dir } = prepareAdamStep(params, grad, state, segments, hyper);
  for (const seg of segments) {
    adamDirection(params, grad, state, seg, h, c1, c2, dir);
    for (let i = seg.offset, end = seg.offset + seg.size; i < end; i++) params[i] = params[i]! - h.learningRate * dir[i]!;
  }
  state.step = t;
}

/** One LAMB step, in place; returns the trust ratio of each segment (for logs and tests). */
export function lambStep(params: Float32Array, grad: Float32Array, state: MomentState, segments: readonly ParamSegment[], hyper: AdamHyper): number[] {
  const { h, t, c1, c2, dir } = prepareAdamStep(params, grad, state, segments, hyper);
  const ratios: number[] = [];
  for (const seg of segments) {
    adamDirection(params, grad, state, seg, h, c1, c2, dir);
    const wNorm = Math.min(norm(params, seg.offset, seg.size), LAMB_MAX_WEIGHT_NORM);
    const uNorm = norm(dir, seg.offset, seg.size);
    const trust = wNorm > 0 && uNorm > 0 ? wNorm / uNorm : 1;
    ratios.push(trust);
    const step = h.learningRate * trust;
    for (let i = seg.offset, end = seg.offset + seg.size; i < end; i++) params[i] = params[i]! - step * dir[i]!;
  }
  state.step = t;
  return ratios;
}

export interface NesterovHyper {
  /** DiLoCo's outer learning rate. @default 0.7 */
  learningRate?: number;
  /** @default 0.9 */
  momentum?: number;
}

/** DiLoCo's outer step size and momentum (Douillard et al. 2023, section 3: 0.7 and 0.9). */
export const DILOCO_OUTER_LR = 0.7;
export const DILOCO_OUTER_MOMENTUM = 0.9;

/**
 * One SGD step with Nesterov momentum, as torch.optim.SGD(nesterov=True):
 * buf ← μ·buf + g; θ ← θ − lr·(g + μ·buf). In place on params and buf.
 */
export function nesterovStep(params: Float32Array, grad: Float32Array, buf: Float32Array, hyper: NesterovHyper = {}): void {
  const n = params.length;
  if (grad.length !== n || buf.length !== n) throw new RangeError(`sizes differ: params ${n}, grad ${grad.length}, momentum ${buf.length}`);
  const lr = hyper.learningRate ?? DILOCO_OUTER_LR;
  const mu = hyper.momentum ?? DILOCO_OUTER_MOMENTUM;
  for (let i = 0; i < n; i++) {
    const g = grad[i]!;
    const b = mu * buf[i]! + g;
    buf[i] = b;
    params[i] = params[i]! - lr * (g + mu * buf[i]!);
  }
}
