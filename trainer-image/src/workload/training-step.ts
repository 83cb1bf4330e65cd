/**
 * One global step of the training workload, in a round this peer is in:
 * the group averages the peers' gradients (diloco: parameter deltas)
 * weighted by their samples, the first finisher's digest confirms that
 * every member got the same vector (swarm/agreement.ts), the optimizer
 * applies it or skips (optim/policy.ts), and every stateAveragingEvery
 * epochs the group also averages its parameters. The workload moves the
 * peer's state on from what `run` returns.
 */
import { AveragerLeftError, type RoundResult } from '../averaging/index.ts';
import { errorMessage, type Logger } from '../common/index.ts';
import { checksum, type ModelCompute } from '../model/index.ts';
import type { CollaborativeOptimizer, StepReport } from '../optim/index.ts';
import type { Swarm } from '../swarm/index.ts';
import type { TrainingSpec } from '../training-spec.ts';
import { applyByzantineFault, type TrainingFaults } from './faults.ts';
import type { JoinedRound, RoundRunner } from './round-runner.ts';
import type { TrainingMetrics } from './training-telemetry.ts';

export type StepEnd =
  /** The averager left (SIGTERM) during the round: nothing changed. */
  | { kind: 'left' }
  /** The step was applied: the model holds state(report.epoch). */
  | { kind: 'stepped'; report: StepReport }
  /** The step was applied, but the parameter averaging after it failed or diverged: this peer's state is not the swarm's. */
  | { kind: 'diverged'; report: StepReport }
  /** The step was skipped. */
  | { kind: 'skipped'; report: StepReport };

export interface StepRunnerOptions {
  swarm: Swarm;
  rounds: RoundRunner;
  model: ModelCompute;
  opt: CollaborativeOptimizer;
  averaging: TrainingSpec['averaging'];
  metrics: TrainingMetrics;
  faults: TrainingFaults;
  log: Logger;
}

export class StepRunner {
  readonly #o: StepRunnerOptions;

  constructor(o: StepRunnerOptions) {
    this.#o = o;
  }

  async run(r: JoinedRound): Promise<StepEnd> {
    const { swarm, rounds, opt, metrics: m, log } = this.#o;
    const epoch = r.assignment.epoch;
    await swarm.prepareRound(r.members);
    const spec = rounds.spec(r);
    const meta = rounds.meta(r, spec);
    log.info('round started', meta);
    const nan = this.#o.faults.nanGradientEpochs.includes(epoch);
    const tamper = nan
      ? (v: Float32Array): void => {
          log.warn('fault injection: sending a NaN gradient', { epoch });
          v.fill(NaN);
        }
      : this.#byzantineTamper(epoch, 'gradient');
    let left = false;
    const average = r.members.length === 1
      ? undefined
      : async (v: Float32Array): Promise<RoundResult> => {
          try {
            return await rounds.average(spec, v);
          } catch (e) {
            if (e instanceof AveragerLeftError) left = true;
            throw e;
          }
        };
    const report = await opt.step(epoch, average, { confirm: (v) => this.#confirm(spec.roundId, v), ...(tamper ? { tamper } : {}) });
    if (left) {
      log.info('round interrupted: leaving the swarm', meta);
      return { kind: 'left' };
    }
    m.steps.inc({ outcome: report.outcome });
    const weight = r.members.find((x) => x.peerId === swarm.peerId)?.weight ?? 0;
    if (weight === 0 && report.samples > 0) m.unweightedSamples.inc(report.samples);
    const res = report.result;
    if (res) m.bytesSent.inc({ kind: opt.mode === 'diloco' ? 'pseudo_gradient' : 'gradient' }, res.bytesSent);
    log.info('round finished', {
      ...meta,
      mode: opt.mode,
      outcome: report.outcome,
      applied: report.applied,
      detail: report.detail,
      error: report.error,
      samples: report.samples,
      fractionAveraged: res ? res.fractionAveraged : report.outcome === 'alone' ? 1 : 0,
      droppedPeers: res?.droppedPeers ?? [],
      drops: res?.drops ?? [],
      compression: res?.compression ?? 'none',
      bytesSent: res?.bytesSent ?? 0,
      bytesReceived: res?.bytesReceived ?? 0,
      roundMs: res?.durationMs ?? 0,
      learningRate: report.learningRate,
      norm: report.norm,
      clipped: report.clipped,
    });
    if (!report.applied) {
      log.warn('step skipped', { epoch, outcome: report.outcome, detail: report.detail, error: report.error });
      return { kind: 'skipped', report };
    }
    await this.#o.model.setFlat(opt.params);
    return (await this.#averageState(r)) ? { kind: 'stepped', report } : { kind: 'diverged', report };
  }

  /**
   * Every stateAveragingEvery epochs (gradient mode), the group also averages its parameters,
   * and with averageOptimizerState the optimizer's moments (RoundRunner.stateSpec). False when
   * that failed or diverged: our state is then not the swarm's.
   */
  async #averageState(r: JoinedRound): Promise<boolean> {
    const { rounds, opt, log } = this.#o;
    const epoch = r.assignment.epoch;
    const every = this.#o.averaging.stateAveragingEvery;
    const withMoments = this.#o.averaging.averageOptimizerState;
    if (opt.mode !== 'gradient' || every <= 0 || (epoch + 1) % every !== 0 || r.members.length < 2) return true;
    const spec = rounds.stateSpec(r);
    const mine = opt.averagingVector(withMoments);
    this.#byzantineTamper(epoch, 'state')?.(mine);
    try {
      const res = await rounds.average(spec, mine);
      this.#o.metrics.bytesSent.inc({ kind: 'state' }, res.bytesSent);
      const agreement = await this.#confirm(spec.roundId, res.vector);
      if (!agreement.agreed) return false;
      opt.adoptAveraged(res.vector, withMoments);
      await this.#o.model.setFlat(opt.params);
      log.info('parameters averaged', { epoch, roundId: spec.roundId, optimizerState: withMoments, fractionAveraged: res.fractionAveraged, bytesSent: res.bytesSent });
    } catch (e) {
      // Others may have finished it: our unaveraged parameters would then differ from theirs.
      log.warn('parameter averaging failed; will load the state from a peer', { epoch, error: errorMessage(e) });
      return false;
    }
    return true;
  }

  /**
   * Whether this peer's averaged vector is the round's (swarm/agreement.ts): the first
   * member to finish wrote its digest. An unconfirmed result (NATS failed) is applied,
   * with a warning: skipping would cost every member its step for a failure that
   * almost never coincides with a divergence.
   */
  async #confirm(roundId: string, v: Float32Array): Promise<{ agreed: true } | { agreed: false; detail: string }> {
    const a = await this.#o.swarm.matchmaker.agree(roundId, checksum(v));
    this.#o.metrics.agreements.inc({ state: a.state });
    if (a.state === 'unconfirmed') {
      this.#o.log.warn('could not confirm the round result with the group; applying it', { roundId, error: a.error });
      return { agreed: true };
    }
    if (a.state === 'canonical') return { agreed: true };
    this.#o.log.warn('round result differs from the group\'s; will load the state from a peer that applied it', { roundId, writer: a.writer });
    return { agreed: false, detail: `another member (${a.writer}) finished round ${roundId} with a different vector` };
  }

  /** What a Byzantine peer (fault injection) does to the vector it sends in a round of `kind`. */
  #byzantineTamper(epoch: number, kind: 'gradient' | 'state'): ((v: Float32Array) => void) | undefined {
    const byzantine = this.#o.faults.byzantine;
    if (!byzantine) return undefined;
    return (v) => {
      this.#o.log.warn(`fault injection: sending a Byzantine ${kind}`, { epoch, fault: byzantine });
      applyByzantineFault(byzantine, v, epoch);
    };
  }
}
