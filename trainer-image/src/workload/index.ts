/**
 * Workload helpers for code outside the trainer: the synthetic vectors the
 * averaging workload starts from (tests check the averaged result against
 * them) and the parser of spec.training. The trainer's main.ts wires the
 * workloads themselves.
 */
export { syntheticVector } from './synthetic.ts';
export { parseTrainingSettings, type TrainingSettings } from './training-config.ts';
