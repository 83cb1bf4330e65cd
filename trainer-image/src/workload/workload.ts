/** What main.ts runs: the train workload or the synthetic averaging workload, behind one shape. */

/** Why a workload ended on its own. */
export type WorkloadEnd = { reason: 'stopAfterEpochs'; epoch: number };

export interface Workload {
  /** The epoch this peer works on; only grows. */
  readonly epoch: number;
  /** Resolves when the workload ends on its own (stopAfterEpochs). */
  readonly ended: Promise<WorkloadEnd>;
  /** Joins the swarm and starts the loop. */
  start(): Promise<void>;
  /** SIGTERM: leaves the running round cleanly and stops the loop; the caller then leaves the swarm. */
  stop(): Promise<void>;
}
