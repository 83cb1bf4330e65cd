import { Registry } from 'prom-client';
import { parseSamples } from '../testkit/prometheus/index.ts';
import { createMetrics, recordSwarmStatus } from './metrics.ts';

/** The value of the one sample of `name` with exactly these labels, or undefined. */
async function valueOf(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const samples = parseSamples(await registry.metrics(), name);
  return samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v) && Object.keys(s.labels).length === Object.keys(labels).length)?.value;
}

describe('recordSwarmStatus', () => {
  it('sets peers by state (pending summed over clusters), free GPUs per cluster, and starts every pod ending at 0', async () => {
    const m = createMetrics(new Registry());
    recordSwarmStatus(m, 'team-a', 'bert', {
      peers: { desired: 4, scheduled: 2, running: 1, summary: '1/4' },
      clusters: [
        { name: 'dc1', running: 1, pending: 1, freeGpus: 3, reachable: true },
        { name: 'dc2', running: 0, pending: 1, reachable: false },
      ],
    });
    const swarm = { namespace: 'team-a', swarm: 'bert' };
    expect(await valueOf(m.registry, 'spotswarm_swarm_peers', { ...swarm, state: 'desired' })).toBe(4);
    expect(await valueOf(m.registry, 'spotswarm_swarm_peers', { ...swarm, state: 'scheduled' })).toBe(2);
    expect(await valueOf(m.registry, 'spotswarm_swarm_peers', { ...swarm, state: 'running' })).toBe(1);
    expect(await valueOf(m.registry, 'spotswarm_swarm_peers', { ...swarm, state: 'pending' })).toBe(2);
    expect(await valueOf(m.registry, 'spotswarm_swarm_free_gpus', { ...swarm, cluster: 'dc1' })).toBe(3);
    expect(await valueOf(m.registry, 'spotswarm_swarm_free_gpus', { ...swarm, cluster: 'dc2' })).toBeUndefined();
    for (const ending of ['preempted', 'failed', 'completed', 'deleted']) {
      expect(await valueOf(m.registry, 'spotswarm_pod_endings_total', { ...swarm, ending })).toBe(0);
    }
  });

  it('keeps pod endings counted before: starting at 0 adds nothing', async () => {
    const m = createMetrics(new Registry());
    m.podEndings.inc({ namespace: 'ns', swarm: 's', ending: 'preempted' }, 2);
    recordSwarmStatus(m, 'ns', 's', {});
    expect(await valueOf(m.registry, 'spotswarm_pod_endings_total', { namespace: 'ns', swarm: 's', ending: 'preempted' })).toBe(2);
    expect(await valueOf(m.registry, 'spotswarm_swarm_peers', { namespace: 'ns', swarm: 's', state: 'pending' })).toBe(0);
  });
});
