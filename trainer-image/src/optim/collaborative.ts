/**
 * The collaborative optimizer: hivemind's Optimizer semantics over one flat
 * parameter vector, with the network left outside (the caller passes a
 * function that averages a vector with the round's group, i.e.
 * `Averager.run` with the members' weights = their samples).
 *
 * gradient mode (hivemind, DeDLOC):
 *   accumulate(grad, n)  per local micro-batch: Σ n·grad, Σ n (NaN/Inf rejected)
 *   step(average)        once the swarm reached targetBatchSize: average the
 *                        local mean gradient with the group, then every peer
 *                        clips it, and takes the same LAMB/Adam step at the
 *                        global epoch's learning rate; epoch + 1.
 *
 * diloco mode (Douillard et al. 2023; OpenDiLoCo, INTELLECT-1):
 *   accumulate(grad, n)  is an inner AdamW step on the local copy of the
 *                        parameters (inner optimizer state stays local)
 *   step(average)        averages the pseudo-gradient θ_global − θ_local,
 *                        takes an outer Nesterov SGD step on θ_global, and
 *                        restarts the local copy from it; epoch + 1.
 *
 * What happens when averaging fails is `policy.ts`: apply only a complete
 * round, otherwise keep state(e) and let the caller resync.
 *
 * `epoch` is the state's epoch: the number of global steps in the
 * parameters. Nothing here reads a clock or does I/O, so it is unit tested
 * with a fake average function.
 */
import type { AveragingMode, OptimizerName } from '../../../api/index.ts';
import type { RoundResult } from '../averaging/index.ts';
import { firstNonFinite } from '../common/index.ts';
import { layoutSize, type ParamSegment } from './layout.ts';
import { applies, classifyRound, type RoundOutcome, RoundOutcomes } from './policy.ts';
import { adamwStep, createMomentState, lambStep, type MomentState, nesterovStep, DILOCO_OUTER_LR, DILOCO_OUTER_MOMENTUM } from './rules.ts';
import { learningRateAt } from './schedule.ts';
import { clipByGlobalNorm, norm } from './vector.ts';

export interface OptimizerSettings {
  name: OptimizerName;
  learningRate: number;
  warmupEpochs: number;
  totalEpochs?: number | undefined;
  weightDecay: number;
  /** Global-norm clipping of the averaged gradient (inner gradients in diloco); undefined = none. */
  clipGradNorm?: number | undefined;
  /** @default 'linear' */
  decay?: 'linear' | 'cosine';
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export interface DilocoSettings {
  /** @default DILOCO_OUTER_LR (0.7) */
  outerLearningRate?: number;
  /** @default DILOCO_OUTER_MOMENTUM (0.9) */
  outerMomentum?: number;
}

export interface CollaborativeOptions {
  segments: readonly ParamSegment[];
  /** Initial parameters (copied). */
  params: Float32Array;
  /** Global steps already in `params`. @default 0 */
  epoch?: number;
  mode: AveragingMode;
  optimizer: OptimizerSettings;
  diloco?: DilocoSettings;
}

/** The swarm-wide state a peer hands to a joining peer or a checkpoint. */
export interface SharedState {
  epoch: number;
  mode: AveragingMode;
  /** The global parameters. */
  params: Float32Array;
  /** gradient mode: the optimizer's moments (identical on every in-sync peer). */
  moments?: { step: number; m: Float32Array; v: Float32Array };
  /** diloco mode: the outer Nesterov momentum buffer. */
  outerMomentum?: Float32Array;
}

export type AccumulateResult = { accepted: true } | { accepted: false; reason: 'non-finite'; index: number };

export interface StepReport {
  outcome: RoundOutcome;
  /** Whether the parameters moved (complete or alone). */
  applied: boolean;
  /** State epoch after the call: epoch + 1 when applied, unchanged otherwise. */
  epoch: number;
  /** The epoch the step was for. */
  stepEpoch: number;
  detail?: string;
  error?: string;
  /** Learning rate used (outer lr in diloco). */
  learningRate?: number;
  /** Norm of the averaged vector before clipping. */
  norm?: number;
  clipped?: boolean;
  /** Local samples contributed (0 = tag-along). */
  samples: number;
  result?: RoundResult;
}

/** Averages a vector with the round's group; undefined = this peer is alone (no averaging). */
export type AverageFn = (vector: Float32Array) => Promise<RoundResult>;

/**
 * Whether the group's other members apply the same averaged vector (asked
 * only for a complete round, before the parameters move): false = this
 * peer's vector is not the round's, with a detail saying why.
 */
export type ConfirmFn = (averaged: Float32Array) => Promise<{ agreed: true } | { agreed: false; detail: string }>;

export class CollaborativeOptimizer {
  readonly mode: AveragingMode;
  readonly size: number;
  readonly #segments: readonly ParamSegment[];
  readonly #opt: OptimizerSettings;
  readonly #diloco: Required<DilocoSettings>;
  /** Global parameters (state(epoch)). */
  #global: Float32Array;
  /** diloco: the local copy the inner steps move; gradient mode: the same array as #global. */
  #local: Float32Array;
  #moments: MomentState;
  /** diloco: inner AdamW state (local, never averaged). */
  #inner: MomentState | undefined;
  #outerMomentum: Float32Array | undefined;
  #epoch: number;
  /** gradient mode: Σ samples·grad since the last step. */
  #acc: Float32Array | undefined;
  #samples = 0;
  #innerSteps = 0;

  constructor(o: CollaborativeOptions) {
    this.mode = o.mode;
    this.#segments = o.segments;
    this.size = layoutSize(o.segments);
    if (o.params.length !== this.size) throw new RangeError(`params have ${o.params.length} elements, the layout ${this.size}`);
    this.#opt = o.optimizer;
    this.#diloco = { outerLearningRate: o.diloco?.outerLearningRate ?? DILOCO_OUTER_LR, outerMomentum: o.diloco?.outerMomentum ?? DILOCO_OUTER_MOMENTUM };
    this.#epoch = o.epoch ?? 0;
    this.#global = Float32Array.from(o.params);
    this.#moments = createMomentState(this.size);
    if (o.mode === 'diloco') {
      this.#local = Float32Array.from(this.#global);
      this.#inner = createMomentState(this.size);
      this.#outerMomentum = new Float32Array(this.size);
    } else {
      this.#local = this.#global;
      this.#acc = new Float32Array(this.size);
    }
  }

  /** Global steps in the parameters. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Local samples since the last step. */
  get samples(): number {
    return this.#samples;
  }

  /** diloco: inner steps since the last outer step. */
  get innerSteps(): number {
    return this.#innerSteps;
  }

  /** The parameters the model should compute with now (diloco: the local inner copy). Do not modify. */
  get params(): Float32Array {
    return this.#local;
  }

  /** The global parameters, state(epoch). Do not modify. */
  get globalParams(): Float32Array {
    return this.#global;
  }

  learningRate(epoch = this.#epoch): number {
    return learningRateAt(epoch, { learningRate: this.#opt.learningRate, warmupEpochs: this.#opt.warmupEpochs, totalEpochs: this.#opt.totalEpochs, decay: this.#opt.decay ?? 'linear' });
  }

  /**
   * One local micro-batch's gradient (the mean over its samples) and its
   * sample count. A gradient with NaN/±Inf is rejected whole: nothing is
   * added and its samples do not count.
   */
  accumulate(grad: Float32Array, samples: number): AccumulateResult {
    if (grad.length !== this.size) throw new RangeError(`gradient has ${grad.length} elements, expected ${this.size}`);
    if (!(Number.isFinite(samples) && samples > 0)) throw new RangeError(`samples must be > 0, got ${samples}`);
    const bad = firstNonFinite(grad);
    if (bad >= 0) return { accepted: false, reason: 'non-finite', index: bad };
    if (this.mode === 'gradient') {
      const acc = this.#acc!;
      for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + samples * grad[i]!;
    } else {
      const g = Float32Array.from(grad);
      if (this.#opt.clipGradNorm !== undefined) clipByGlobalNorm(g, this.#opt.clipGradNorm);
      adamwStep(this.#local, g, this.#inner!, this.#segments, this.#hyper(this.learningRate()));
      this.#innerSteps++;
    }
    this.#samples += samples;
    return { accepted: true };
  }

  /**
   * What this peer contributes to the round (a new array): the mean local
   * gradient (zeros with no samples), or in diloco the pseudo-gradient
   * θ_global − θ_local.
   */
  contribution(): Float32Array {
    const out = new Float32Array(this.size);
    if (this.mode === 'gradient') {
      if (this.#samples > 0) {
        const acc = this.#acc!;
        const inv = 1 / this.#samples;
        for (let i = 0; i < out.length; i++) out[i] = acc[i]! * inv;
      }
    } else {
      for (let i = 0; i < out.length; i++) out[i] = this.#global[i]! - this.#local[i]!;
    }
    return out;
  }

  /**
   * The global step of epoch `epoch` (which must be this state's epoch):
   * average the contribution with the group (`average` undefined = alone),
   * then apply or skip per `policy.ts`. Never throws for a failed round; the
   * report says what happened. `confirm` settles that every member applies
   * the same vector (policy.ts, `diverged`). `tamper` (fault injection for
   * tests) may change the outgoing vector.
   */
  async step(epoch: number, average: AverageFn | undefined, opts: { confirm?: ConfirmFn; tamper?: (v: Float32Array) => void } = {}): Promise<StepReport> {
    if (epoch !== this.#epoch) throw new RangeError(`step for epoch ${epoch}, but the state is at epoch ${this.#epoch}`);
    const samples = this.#samples;
    const vector = this.contribution();
    opts.tamper?.(vector);
    let result: RoundResult | undefined;
    let averaged: Float32Array;
    let outcome: RoundOutcome;
    let detail: string | undefined;
    let error: string | undefined;
    if (average === undefined) {
      averaged = vector;
      const bad = firstNonFinite(vector);
      outcome = bad >= 0 ? RoundOutcomes.NonFinite : RoundOutcomes.Alone;
      if (bad >= 0) detail = `element ${bad} is ${vector[bad]}`;
    } else {
      try {
        result = await average(vector);
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      const c = classifyRound(result);
      outcome = c.outcome;
      detail = c.detail;
      averaged = result?.vector ?? vector;
      if (outcome === RoundOutcomes.Complete && opts.confirm) {
        const agreement = await opts.confirm(averaged);
        if (!agreement.agreed) {
          outcome = RoundOutcomes.Diverged;
          detail = agreement.detail;
        }
      }
    }
    const report: StepReport = { outcome, applied: applies(outcome), epoch: this.#epoch, stepEpoch: epoch, samples };
    if (detail !== undefined) report.detail = detail;
    if (error !== undefined) report.error = error;
    if (result !== undefined) report.result = result;
    if (report.applied) {
      if (this.mode === 'gradient') this.#applyGradient(averaged, report);
      else this.#applyOuter(averaged, report);
      this.#epoch = epoch + 1;
      report.epoch = this.#epoch;
    }
    this.#resetLocal();
    return report;
  }

  #hyper(lr: number): { learningRate: number; weightDecay: number; beta1?: number; beta2?: number; epsilon?: number } {
    const h: { learningRate: number; weightDecay: number; beta1?: number; beta2?: number; epsilon?: number } = { learningRate: lr, weightDecay: this.#opt.weightDecay };
    if (this.#opt.beta1 !== undefined) h.beta1 = this.#opt.beta1;
    if (this.#opt.beta2 !== undefined) h.beta2 = this.#opt.beta2;
    if (this.#opt.epsilon !== undefined) h.epsilon = this.#opt.epsilon;
    return h;
  }

  #applyGradient(avg: Float32Array, report: StepReport): void {
    const g = Float32Array.from(avg);
    if (this.#opt.clipGradNorm !== undefined) {
      const c = clipByGlobalNorm(g, this.#opt.clipGradNorm);
      report.norm = c.norm;
      report.clipped = c.scale < 1;
    } else {
      report.norm = norm(g);
      report.clipped = false;
    }
    const lr = this.learningRate(report.stepEpoch);
    report.learningRate = lr;
    const h = this.#hyper(lr);
    if (this.#opt.name === 'lamb') lambStep(this.#global, g, this.#moments, this.#segments, h);
    else adamwStep(this.#global, g, this.#moments, this.#segments, h);
  }

  #applyOuter(avgDelta: Float32Array, report: StepReport): void {
    report.norm = norm(avgDelta);
    report.clipped = false;
    report.learningRate = this.#diloco.outerLearningRate;
    nesterovStep(this.#global, avgDelta, this.#outerMomentum!, { learningRate: this.#diloco.outerLearningRate, momentum: this.#diloco.outerMomentum });
  }

  /** Drops local progress since the last step (the accumulator; diloco: restarts the local copy from θ_global). */
  #resetLocal(): void {
    this.#samples = 0;
    this.#innerSteps = 0;
    if (this.mode === 'gradient') this.#acc!.fill(0);
    else this.#local.set(this.#global);
  }

  /**
   * What parameter averaging sends (a new array): the global parameters and,
   * with `withMoments` in gradient mode, the optimizer's first and second
   * moments after them (3× the elements).
   */
  averagingVector(withMoments: boolean): Float32Array {
    if (!withMoments || this.mode !== 'gradient') return Float32Array.from(this.#global);
    const n = this.size;
    const out = new Float32Array(3 * n);
    out.set(this.#global, 0);
    out.set(this.#moments.m, n);
    out.set(this.#moments.v, 2 * n);
    return out;
  }

  /**
   * The group's mean of averagingVector(withMoments) replaces this peer's
   * parameters (and moments): periodic state averaging against drift. In
   * diloco the local copy restarts from them. Validated whole before
   * anything changes.
   */
  adoptAveraged(v: Float32Array, withMoments: boolean): void {
    const moments = withMoments && this.mode === 'gradient';
    const n = this.size;
    const expected = moments ? 3 * n : n;
    if (v.length !== expected) throw new RangeError(`averaged state has ${v.length} elements, expected ${expected}`);
    const bad = firstNonFinite(v);
    if (bad >= 0) throw new RangeError(`averaged state: element ${bad} is ${v[bad]}`);
    // A mean of non-negative second moments is non-negative; checked anyway, since v feeds a square root.
    if (moments) for (let i = 2 * n; i < 3 * n; i++) if (v[i]! < 0) throw new RangeError(`averaged state: second moment ${i - 2 * n} is ${v[i]}`);
    this.#global.set(v.subarray(0, n));
    if (moments) {
      this.#moments.m.set(v.subarray(n, 2 * n));
      this.#moments.v.set(v.subarray(2 * n, 3 * n));
    }
    if (this.mode === 'diloco') this.#local.set(this.#global);
  }

  /**
   * The shared state: references, not copies; encode it before the next
   * await (the state/ encoder copies synchronously).
   */
  shared(): SharedState {
    const s: SharedState = { epoch: this.#epoch, mode: this.mode, params: this.#global };
    if (this.mode === 'gradient') s.moments = { step: this.#moments.step, m: this.#moments.m, v: this.#moments.v };
    else s.outerMomentum = this.#outerMomentum!;
    return s;
  }

  /** Replaces the shared state (a download or a checkpoint); local progress is dropped. */
  load(s: SharedState): void {
    if (s.mode !== this.mode) throw new RangeError(`state is for mode ${s.mode}, this optimizer runs ${this.mode}`);
    if (!Number.isInteger(s.epoch) || s.epoch < 0) throw new RangeError(`state epoch ${s.epoch}`);
    const n = this.size;
    const arrays: [string, Float32Array | undefined][] = [['params', s.params], ['m', s.moments?.m], ['v', s.moments?.v], ['outerMomentum', s.outerMomentum]];
    for (const [name, a] of arrays) {
      if (a === undefined) continue;
      if (a.length !== n) throw new RangeError(`state ${name}: ${a.length} elements, expected ${n}`);
      const bad = firstNonFinite(a);
      if (bad >= 0) throw new RangeError(`state ${name}: element ${bad} is ${a[bad]}`);
    }
    if (this.mode === 'gradient' && s.moments === undefined) throw new RangeError('state has no optimizer moments');
    if (this.mode === 'diloco' && s.outerMomentum === undefined) throw new RangeError('state has no outer momentum');
    this.#global.set(s.params);
    if (s.moments) this.#moments = { step: s.moments.step, m: Float32Array.from(s.moments.m), v: Float32Array.from(s.moments.v) };
    if (s.outerMomentum) this.#outerMomentum = Float32Array.from(s.outerMomentum);
    this.#epoch = s.epoch;
    this.#resetLocal();
  }

  /**
   * The whole swarm skipped epochs up to `epoch` (nobody live holds a newer
   * state): the unchanged parameters are state(epoch). Epochs only grow.
   */
  relabel(epoch: number): void {
    if (!Number.isInteger(epoch) || epoch < this.#epoch) throw new RangeError(`cannot relabel epoch ${this.#epoch} as ${epoch}`);
    this.#epoch = epoch;
    this.#resetLocal();
  }
}
