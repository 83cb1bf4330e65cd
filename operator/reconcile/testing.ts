/** Small builders for reconcile unit tests: plain data, no cluster. */
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LOCAL_PLACEMENT, type TrainingSwarm } from '../../api/index.ts';
import type { TelemetrySummary } from '../telemetry/aggregate.ts';
import { reconcile, type CapacityView } from './reconcile.ts';
import type { PodView } from './pods.ts';

export function tinySwarm(patch: (s: TrainingSwarm) => void = () => {}): TrainingSwarm {
  const s = parse(readFileSync(fileURLToPath(new URL('../../crds/examples/tiny.yaml', import.meta.url)), 'utf8')) as TrainingSwarm;
  s.metadata = { ...s.metadata, namespace: 'default', uid: 'uid-1', generation: 1 };
  s.spec.priorityClassName = 'spotswarm-preemptible';
  s.spec.trainer.imagePullPolicy = 'IfNotPresent';
  s.spec.trainer.backend = 'auto';
  s.spec.peers.maxPending = 1;
  s.spec.nats = { url: 'nats://127.0.0.1:4222', ...s.spec.nats, replicas: 1 };
  patch(s);
  return s;
}

let seq = 0;
export function pod(over: Partial<PodView> = {}): PodView {
  seq++;
  return { name: `p${seq}`, uid: `u${seq}`, scheduled: true, running: true, holdsFinalizer: true, createdAt: seq, runningSince: 0, ...over };
}

/** The single-cluster view of reconcile that most tests want. */
export function reconcileOne(input: { swarm: TrainingSwarm; pods: PodView[]; capacity?: CapacityView; telemetry?: TelemetrySummary; now: Date }) {
  const r = reconcile({
    swarm: input.swarm,
    placements: [{ name: LOCAL_PLACEMENT, pods: input.pods, reachable: true, ...(input.capacity ? { capacity: input.capacity } : {}) }],
    ...(input.telemetry ? { telemetry: input.telemetry } : {}),
    now: input.now,
  });
  const a = r.actions[LOCAL_PLACEMENT]!;
  return { ...r, create: a.create, delete: a.delete, release: a.release };
}
