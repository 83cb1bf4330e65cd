/** The operator's Prometheus metrics, on a registry the caller owns. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
    peers: new Gauge({ name: 'spotswarm_swarm_peers', help: 'Trainer pods of a swarm, by state (desired, scheduled, running).', labelNames: ['namespace', 'swarm', 'state'], registers: r }),
    peersByBackend: new Gauge({ name: 'spotswarm_swarm_peers_by_backend', help: 'Live peers of a swarm by the device they report computing on (gpu, cpu-fallback, cpu, wasm).', labelNames: ['namespace', 'swarm', 'backend'], registers: r }),
    conditions: new Gauge({ name: 'spotswarm_swarm_condition', help: '1 while a swarm\'s condition (Ready, Progressing, Degraded) is True, else 0; the reason is in status.', labelNames: ['namespace', 'swarm', 'type'], registers: r }),
    informerRestarts: new Counter({ name: 'spotswarm_informer_restarts_total', help: 'Informer restarts after watch errors, by cluster and resource.', labelNames: ['cluster', 'resource'], registers: r }),
    leader: new Gauge({ name: 'spotswarm_leader', help: '1 while this replica holds the leader lease.', registers: r }),
    telemetryReports: new Counter({ name: 'spotswarm_telemetry_reports_total', help: 'Valid peer telemetry reports received.', registers: r }),
    telemetryRejected: new Counter({ name: 'spotswarm_telemetry_rejected_total', help: 'Telemetry messages rejected, by reason (the field or check that failed).', labelNames: ['reason'], registers: r }),
  };
}
