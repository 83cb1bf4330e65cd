/**
 * Problems that end the trainer, and the channel that reports them when NATS
 * cannot: the container's termination message file. The kubelet puts its
 * contents in the pod's `state.terminated.message`, where the operator reads
 * the reason (api/telemetry.ts parsePeerProblem) for the swarm's conditions.
 */
import { writeFileSync } from 'node:fs';
import type { PeerProblemReason } from '../../api/index.ts';
import type { Logger } from './common/index.ts';

/** The kubelet reads at most this many bytes of the termination message. */
const TERMINATION_MESSAGE_MAX_BYTES = 4096;

/** A problem the trainer cannot train through: it exits with `reason` in its termination message. */
export class FatalProblem extends Error {
  readonly reason: PeerProblemReason;
  constructor(reason: PeerProblemReason, message: string) {
    super(message);
    this.name = 'FatalProblem';
    this.reason = reason;
  }
}

/** Writes `Reason: message` to the termination message file, if there is one; a write error is logged, never thrown. */
export function writeTerminationMessage(path: string | undefined, p: FatalProblem, log: Logger): void {
  if (path === undefined) return;
  try {
    writeFileSync(path, Buffer.from(`${p.reason}: ${p.message}`).subarray(0, TERMINATION_MESSAGE_MAX_BYTES));
  } catch (e) {
    log.warn('cannot write the termination message', { path, error: (e as Error).message });
  }
}
