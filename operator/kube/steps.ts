/**
 * Runs a reconcile's steps in order, like KubeRay's list of reconcileFuncs:
 * the first step that throws stops the run, and its error is the
 * reconcile's (the work queue retries from the start). A step may ask for
 * the swarm to be looked at again after some time; the run asks for the
 * soonest of those.
 */

export interface Requeue {
  requeueAfterMs?: number;
}

export type StepResult = Requeue | void;

/**
 * The soonest look-again any step asked for, or undefined when none did.
 * `onError` hears which step failed (by its function name) before the error goes on.
 */
export async function runSteps<A extends unknown[]>(
  steps: readonly ((...args: A) => Promise<StepResult>)[],
  args: A,
  onError: (step: string, err: unknown) => void,
): Promise<Requeue | undefined> {
  const delays: number[] = [];
  for (const step of steps) {
    let r: StepResult;
    try {
      r = await step(...args);
    } catch (err) {
      onError(step.name, err);
      throw err;
    }
    if (r?.requeueAfterMs !== undefined) delays.push(r.requeueAfterMs);
  }
  return delays.length ? { requeueAfterMs: Math.min(...delays) } : undefined;
}
