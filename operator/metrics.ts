/** The operator's Prometheus metrics, on a registry the caller owns. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BACKEND_DEVICES, type TrainingSwarmStatus } from '../api/index.ts';
import type { Ending } from './reconcile/pods.ts';

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileSeconds: Histogram;
  requestSeconds: Histogram<'cluster' | 'verb' | 'resource'>;
  apiRequests: Counter<'cluster' | 'verb' | 'resource' | 'code'>;
  podsCreated: Counter<'namespace' | 'swarm'>;
  podEndings: Counter<'namespace' | 'swarm' | 'ending'>;
  peers: Gauge<'namespace' | 'swarm' | 'state'>;
  peersByBackend: Gauge<'namespace' | 'swarm' | 'backend'>;
  conditions: Gauge<'namespace' | 'swarm' | 'type'>;
  freeGpus: Gauge<'namespace' | 'swarm' | 'cluster'>;
  informerRestarts: Counter<'cluster' | 'resource'>;
  leader: Gauge;
  telemetryReports: Counter;
  telemetryRejected: Counter<'reason'>;
}

export function createMetrics(registry = new Registry()): OperatorMetrics {
  collectDefaultMetrics({ register: registry, prefix: 'spotswarm_operator_' });
  const r = [registry];
  return {
    registry,
    reconciles: new Counter({ name: 'spotswarm_reconcile_total', help: 'Reconciles of a TrainingSwarm, by result.', labelNames: ['result'], registers: r }),
    reconcileSeconds: new Histogram({ name: 'spotswarm_reconcile_duration_seconds', help: 'Time to reconcile one TrainingSwarm.', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: r }),
    requestSeconds: new Histogram({ name: 'spotswarm_api_request_duration_seconds', help: 'Latency of the operator\'s Kubernetes API requests, by cluster, verb and resource.', labelNames: ['cluster', 'verb', 'resource'], buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: r }),
    apiRequests: new Counter({ name: 'spotswarm_api_requests_total', help: 'Kubernetes API requests the operator made, by cluster, verb, resource and status code.', labelNames: ['cluster', 'verb', 'resource', 'code'], registers: r }),
    podsCreated: new Counter({ name: 'spotswarm_pods_created_total', help: 'Trainer pods created.', labelNames: ['namespace', 'swarm'], registers: r }),
    podEndings: new Counter({ name: 'spotswarm_pod_endings_total', help: 'Trainer pods that ended, by how (preempted, failed, completed, deleted).', labelNames: ['namespace', 'swarm', 'ending'], registers: r }),
    peersByBackend: new Gauge({ name: 'spotswarm_swarm_peers_by_backend', help: 'Live peers of a swarm by the device they report computing on (gpu, cpu-fallback, cpu, wasm).', labelNames: ['namespace', 'swarm', 'backend'], registers: r }),
    conditions: new Gauge({ name: 'spotswarm_swarm_condition', help: '1 while a swarm\'s condition (Ready, Progressing, Degraded) is True, else 0; the reason is in status.', labelNames: ['namespace', 'swarm', 'type'], registers: r }),
    peers: new Gauge({ name: 'spotswarm_swarm_peers', help: 'Trainer pods of a swarm, by state (desired, scheduled, running, pending: waiting to be scheduled).', labelNames: ['namespace', 'swarm', 'state'], registers: r }),
    freeGpus: new Gauge({ name: 'spotswarm_swarm_free_gpus', help: 'Free GPUs on the nodes a swarm may use, by cluster (status.clusters[].freeGpus).', labelNames: ['namespace', 'swarm', 'cluster'], registers: r }),
    informerRestarts: new Counter({ name: 'spotswarm_informer_restarts_total', help: 'Informer restarts after watch errors, by cluster and resource.', labelNames: ['cluster', 'resource'], registers: r }),
    leader: new Gauge({ name: 'spotswarm_leader', help: '1 while this replica holds the leader lease.', registers: r }),
    telemetryReports: new Counter({ name: 'spotswarm_telemetry_reports_total', help: 'Valid peer telemetry reports received.', registers: r }),
    telemetryRejected: new Counter({ name: 'spotswarm_telemetry_rejected_total', help: 'Telemetry messages rejected, by reason (the field or check that failed).', labelNames: ['reason'], registers: r }),
  };
}

const ENDINGS: readonly Ending[] = ['preempted', 'failed', 'completed', 'deleted'];

/**
 * Sets a swarm's gauges from the status a reconcile computed: peers by state
 * and free GPUs per reachable cluster. The pod-ending counters start at 0 for
 * every ending, so that a dashboard sees the series before the first one.
 */
export function recordSwarmStatus(m: OperatorMetrics, namespace: string, swarm: string, status: TrainingSwarmStatus): void {
  const peers = status.peers;
  if (peers) {
    m.peers.set({ namespace, swarm, state: 'desired' }, peers.desired);
    m.peers.set({ namespace, swarm, state: 'scheduled' }, peers.scheduled);
    m.peers.set({ namespace, swarm, state: 'running' }, peers.running);
  }
  const clusters = status.clusters ?? [];
  m.peers.set({ namespace, swarm, state: 'pending' }, clusters.reduce((n, c) => n + c.pending, 0));
  for (const c of clusters) if (c.freeGpus !== undefined) m.freeGpus.set({ namespace, swarm, cluster: c.name }, c.freeGpus);
  for (const ending of ENDINGS) m.podEndings.inc({ namespace, swarm, ending }, 0);
  for (const backend of BACKEND_DEVICES) m.peersByBackend.set({ namespace, swarm, backend }, status.backends?.[backend] ?? 0);
  for (const c of status.conditions ?? []) m.conditions.set({ namespace, swarm, type: c.type }, c.status === 'True' ? 1 : 0);
}
