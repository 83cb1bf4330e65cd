/** Records core/v1 Events on a swarm, so `kubectl describe` shows what happened. */
import type { CoreV1Api } from '@kubernetes/client-node';
import { API_VERSION, KIND, type TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { describeError } from './errors.ts';

export interface EventRecorder {
  record(swarm: TrainingSwarm, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** Event writes count in spotswarm_api_requests_total like every other request, under `cluster`. */
export function eventRecorder(api: CoreV1Api, component: string, log: Logger, metrics: OperatorMetrics, cluster: string): EventRecorder {
  let seq = 0;
  return {
    async record(swarm, type, reason, message) {
      const now = new Date();
      const ns = swarm.metadata.namespace ?? 'default';
      try {
        await api.createNamespacedEvent({
          namespace: ns,
          body: {
            metadata: { name: `${swarm.metadata.name}.${now.getTime().toString(16)}${(seq++).toString(16)}`, namespace: ns },
            involvedObject: { apiVersion: API_VERSION, kind: KIND, name: swarm.metadata.name, namespace: ns, uid: swarm.metadata.uid },
            type, reason, message,
            firstTimestamp: now, lastTimestamp: now, eventTime: undefined, count: 1,
            source: { component },
            reportingComponent: component,
            reportingInstance: component,
          },
        });
        metrics.apiRequests.inc({ cluster, verb: 'create', resource: 'events', code: '2xx' });
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        metrics.apiRequests.inc({ cluster, verb: 'create', resource: 'events', code: typeof code === 'number' ? String(code) : 'error' });
        // Events are best effort; never fail a reconcile over one.
        log.warn('could not record event', { reason, error: describeError(err) });
      }
    },
  };
}
