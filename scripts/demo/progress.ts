/**
 * What "the swarm is learning" means for the demo, read from the swarm's
 * status (the operator fills epoch, loss and samplesPerSecond from the
 * trainers' telemetry): the epoch has reached the wanted one and both
 * training figures are reported. Pure, so the wording is unit-tested.
 */
import type { TrainingSwarmStatus } from '../../api/index.ts';

export interface TrainingProgress {
  /** One line for the terminal: "epoch 1/3, loss 6.1, 20.5 samples/s, 3/3 peers". */
  line: string;
  /** What is still missing, by status field; empty once the swarm is learning. */
  missing: string[];
}

const shown = (v: number | undefined): string => (v === undefined ? '-' : String(v));

export function trainingProgress(st: TrainingSwarmStatus, wantEpochs: number): TrainingProgress {
  const missing: string[] = [];
  if ((st.epoch ?? 0) < wantEpochs) missing.push(`status.epoch is ${st.epoch ?? 'not set'} (want ${wantEpochs})`);
  if (st.loss === undefined) missing.push('status.loss is not set');
  if (st.samplesPerSecond === undefined) missing.push('status.samplesPerSecond is not set');
  const line = `epoch ${shown(st.epoch)}/${wantEpochs}, loss ${shown(st.loss)}, ${shown(st.samplesPerSecond)} samples/s, ${st.peers?.summary ?? '0/0'} peers`;
  return { line, missing };
}
