/**
 * Workload helpers for code outside the trainer: the synthetic vectors the
 * averaging workload starts from (tests check the averaged result against
 * them). The trainer's main.ts wires the workloads themselves.
 */
export { syntheticVector } from './synthetic.ts';
