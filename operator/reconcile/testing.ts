/** Small builders for reconcile unit tests: plain data, no cluster. */
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TrainingSwarm } from '../../api/index.ts';
import type { PodView } from './pods.ts';

export function tinySwarm(patch: (s: TrainingSwarm) => void = () => {}): TrainingSwarm {
  const s = parse(readFileSync(fileURLToPath(new URL('../../crds/examples/tiny-cpu.yaml', import.meta.url)), 'utf8')) as TrainingSwarm;
  s.metadata = { ...s.metadata, namespace: 'default', uid: 'uid-1', generation: 1 };
  s.spec.priorityClassName = 'kubeswarm-preemptible';
  s.spec.trainer.imagePullPolicy = 'IfNotPresent';
  s.spec.peers.maxPending = 1;
  patch(s);
  return s;
}

let seq = 0;
export function pod(over: Partial<PodView> = {}): PodView {
  seq++;
  return { name: `p${seq}`, uid: `u${seq}`, scheduled: true, running: true, holdsFinalizer: true, createdAt: seq, runningSince: 0, ...over };
}
