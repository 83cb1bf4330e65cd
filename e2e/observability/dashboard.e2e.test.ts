/**
 * The shipped Grafana dashboard against the real thing: a training swarm on
 * the real control plane (the test kubelet runs the trainers), scraped by a
 * real Prometheus the way the chart's ServiceMonitor (operator, honorLabels)
 * and PodMonitor (trainers, with namespace, swarm and pod labels) do. Every
 * panel query of the dashboard must return at least one series; a panel
 * whose query returns nothing fails the test by its title.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Env } from '../../api/index.ts';
import { REPO_ROOT, startSwarmEnv, type OperatorProcess, type SwarmEnv, waitFor } from '../../testkit/harness/index.ts';
import { labelVariables, panelQueries, startPrometheus, type PanelQuery, type PrometheusServer } from '../../testkit/prometheus/index.ts';

const SWARM = 'dash';
const EPOCHS = 2;
const dashboard: unknown = JSON.parse(readFileSync(join(REPO_ROOT, 'helm/spotswarm/dashboards/spotswarm.json'), 'utf8'));
/** Grafana's own variables as a 2 s scrape interval would make them, and the chosen swarm. */
const variables = { namespace: 'default', swarm: SWARM, __rate_interval: '1m', __interval: '2s', __range: '5m' };

let env: SwarmEnv;
let op: OperatorProcess;
let prom: PrometheusServer | undefined;

/** The metrics port a process logged (operator: at start; trainer: "metrics served"). */
function loggedPort(log: string, who: string): number {
  const m = /"metricsPort":(\d+)/.exec(log);
  if (!m) throw new Error(`${who} has not logged its metrics port yet`);
  return Number(m[1]);
}

beforeAll(async () => {
  env = await startSwarmEnv({ name: 'dashboard', nodes: [0, 1, 2].map((i) => ({ name: `gpu-${i}`, gpus: 1 })) });
  // 0: each trainer picks a free port and logs it, since all pods share this host's loopback.
  op = env.startOperator('op', { env: { [Env.TrainerMetricsPort]: '0' } });
}, 180_000);

afterAll(async () => {
  await prom?.stop();
  await env?.stop();
}, 120_000);

describe('the Grafana dashboard on a real Prometheus', () => {
  it('has data for every panel query of a training swarm, and its variables list the swarm', async () => {
    const s = env.tinySwarm(SWARM);
    delete s.spec.stopAfter;
    await env.apply(s);
    await waitFor(async () => {
      const st = await env.status(SWARM);
      return st.peers?.running === 3 && (st.epoch ?? 0) >= EPOCHS && st.loss !== undefined;
    }, { what: `3 running peers past epoch ${EPOCHS} with a loss`, timeoutMs: 300_000, intervalMs: 2_000 });

    const pods = await env.pods(SWARM);
    const trainers = pods.map((p) => {
      const name = p.metadata!.name!;
      const port = loggedPort(env.c.podLog(name), `trainer pod ${name}`);
      return { address: `127.0.0.1:${port}`, labels: { namespace: 'default', swarm: SWARM, pod: name } };
    });
    const opAddress = `127.0.0.1:${loggedPort(op.log(), 'the operator')}`;
    prom = await startPrometheus({
      logDir: env.c.logDir,
      scrapeIntervalSeconds: 2,
      jobs: [
        { job: 'spotswarm-operator', honorLabels: true, targets: [{ address: opAddress }] },
        { job: 'spotswarm-trainers', targets: trainers },
      ],
    });
    const p = prom;
    await waitFor(async () => {
      const health = await p.targetHealth();
      const down = [opAddress, ...trainers.map((t) => t.address)].filter((a) => health.get(a)?.health !== 'up');
      if (down.length > 0) throw new Error(`not up: ${down.map((a) => `${a} (${health.get(a)?.lastError || health.get(a)?.health || 'unknown'})`).join(', ')}`);
      return true;
    }, { what: 'the operator and the 3 trainers scraped', timeoutMs: 60_000, intervalMs: 1_000 });

    const queries = panelQueries(dashboard, variables);
    let empty: PanelQuery[] = queries;
    // rate() and increase() need two scrapes in their window; a panel still empty after a minute fails.
    await waitFor(async () => {
      const answered = await Promise.all(empty.map(async (q) => ({ q, n: (await p.query(q.expr)).length })));
      empty = answered.filter((a) => a.n === 0).map((a) => a.q);
      return empty.length === 0;
    }, { what: 'data for every panel', timeoutMs: 60_000, intervalMs: 2_000 }).catch(() => undefined);
    expect(empty.map((q) => `panel "${q.panel}" query ${q.refId} returned no series: ${q.expr}`)).toEqual([]);

    for (const v of labelVariables(dashboard, variables)) {
      expect(await p.labelValues(v.label, v.match)).toContain(v.name === 'namespace' ? 'default' : SWARM);
    }
    // The figures are the swarm's, not just present.
    const one = async (expr: string): Promise<number> => (await p.query(expr))[0]!.value;
    const q = (panel: string): string => queries.find((x) => x.panel === panel)!.expr;
    expect(await one(q('Epoch'))).toBeGreaterThanOrEqual(EPOCHS);
    expect(await one(q('Samples/s'))).toBeGreaterThan(0);
    const peers = await p.query(q('Peers'));
    expect(Object.fromEntries(peers.map((s) => [s.metric['state'], s.value]))).toEqual({ desired: 3, running: 3, pending: 0 });
    const steps = (await p.query(q('Round outcomes'))).reduce((a, s) => a + s.value, 0);
    expect(steps).toBeGreaterThan(0);
    expect(await one(q('Free GPUs per cluster'))).toBe(0);
  }, 600_000);
});
