/**
 * Optimizer layer: update rules over flat Float32Arrays (LAMB, AdamW,
 * Nesterov SGD), the learning-rate schedule by global epoch, gradient
 * clipping, the round-outcome policy, and the collaborative optimizer that
 * ties them to an averaging round. Pure: no clock, no I/O; the averaging
 * call is injected.
 *
 *   const opt = new CollaborativeOptimizer({ segments: segmentsOf(model.params), params: await model.getFlat(), mode, optimizer });
 *   opt.accumulate(grads, batchSize);                       // per micro-batch
 *   const r = await opt.step(epoch, (v) => averager.run(spec, v));   // when the swarm is ready
 *   model.setFlat(opt.params);
 */
export {
  type AccumulateResult, type AverageFn, CollaborativeOptimizer, type CollaborativeOptions,
  type DilocoSettings, type OptimizerSettings, type SharedState, type StepReport,
} from './collaborative.ts';
export { decays, layoutSize, type ParamSegment, segmentsOf } from './layout.ts';
export { applies, classifyRound, type RoundOutcome, RoundOutcomes } from './policy.ts';
export {
  adamwStep, type AdamHyper, createMomentState, DILOCO_OUTER_LR, DILOCO_OUTER_MOMENTUM, LAMB_MAX_WEIGHT_NORM, lambStep,
  type MomentState, nesterovStep, type NesterovHyper,
} from './rules.ts';
export { learningRateAt, type ScheduleOptions } from './schedule.ts';
export { clipByGlobalNorm, norm } from './vector.ts';
