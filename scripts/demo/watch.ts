/**
 * The demo's two views of a training swarm: the bounded wait until it is
 * learning (progress lines on the terminal log), and the live table it
 * keeps printing until Ctrl-C.
 */
import type { TrainingSwarmStatus } from '../../api/index.ts';
import type { Logger } from '../../testkit/cluster/index.ts';
import { sleep, waitFor } from '../../testkit/harness/index.ts';
import { trainingProgress } from './progress.ts';

export type ReadStatus = () => Promise<TrainingSwarmStatus>;

/**
 * Polls the status until the swarm reached `wantEpochs` with loss and
 * samples/s reported, logging progress every `progressEveryMs`. On timeout
 * the error names each missing field and its last value.
 */
export async function waitForTraining(o: { read: ReadStatus; wantEpochs: number; timeoutMs: number; progressEveryMs: number; log: Logger }): Promise<TrainingSwarmStatus> {
  let lastLog = 0;
  return waitFor(async () => {
    const st = await o.read();
    const p = trainingProgress(st, o.wantEpochs);
    if (p.missing.length === 0) {
      o.log.info(`the swarm is learning: ${p.line}`);
      return st;
    }
    if (Date.now() - lastLog >= o.progressEveryMs) {
      lastLog = Date.now();
      o.log.info(`waiting for the swarm to train: ${p.line}`);
    }
    // Thrown so that waitFor's timeout message says what is still missing.
    throw new Error(p.missing.join('; '));
  }, { what: `the swarm to train ${o.wantEpochs} epochs and report loss and samples/s`, timeoutMs: o.timeoutMs, intervalMs: 2_000 });
}

const COLUMNS = [['TIME', 10], ['EPOCH', 7], ['LOSS', 8], ['SAMPLES/S', 11], ['PEERS', 7], ['ACTIVE', 8], ['PREEMPTIONS', 0]] as const;

function row(cells: string[]): string {
  return cells.map((c, i) => c.padEnd(COLUMNS[i]![1])).join('').trimEnd();
}

export function liveHeader(): string {
  return row(COLUMNS.map(([name]) => name));
}

export function liveRow(st: TrainingSwarmStatus, now: Date): string {
  const v = (x: number | undefined): string => (x === undefined ? '-' : String(x));
  return row([now.toTimeString().slice(0, 8), v(st.epoch), v(st.loss), v(st.samplesPerSecond), st.peers?.summary ?? '-', v(st.peers?.active), v(st.preemptions ?? 0)]);
}

/** Prints the header, then one row every `everyMs` until `signal` aborts; a failed read prints why and goes on. */
export async function liveView(o: { read: ReadStatus; everyMs: number; write: (line: string) => void; signal: AbortSignal }): Promise<void> {
  o.write(liveHeader());
  while (!o.signal.aborted) {
    try {
      o.write(liveRow(await o.read(), new Date()));
    } catch (err) {
      o.write(`(cannot read the swarm: ${(err as Error).message})`);
    }
    await sleep(o.everyMs);
  }
}
