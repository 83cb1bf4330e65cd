/**
 * Smoke test: the operator benchmark still runs end to end at a tiny size in
 * both modes (real control planes, fake nodes, the operator process, every
 * phase), and its last stdout line is the JSON result: BIND with every pod
 * bound, FILL (two clusters) with every GPU in both used and waiting pods
 * within maxPending per swarm and cluster. No timing assertions: speed is
 * what the benchmark itself reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../testkit/harness/index.ts';

let child: ChildProcess | undefined;

afterAll(async () => {
  // The bench stops its control plane and operator on SIGTERM; SIGKILL only if it hangs.
  const c = child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const killer = setTimeout(() => c.kill('SIGKILL'), 30_000);
  await gone;
  clearTimeout(killer);
}, 60_000);

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'bench/operator/main.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = c;
    let stdout = '';
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs the assertions; if one fails, its message also carries the bench's
 * summary and the tail of the operator's log, since CI keeps no log folder.
 */
function explained(r: { stdout: string; logDir: string }, assertions: () => void): void {
  try {
    assertions();
  } catch (err) {
    const log = join(r.logDir, 'operator-bench-operator.log');
    const tail = existsSync(log) ? readFileSync(log, 'utf8').trimEnd().split('\n').slice(-40).join('\n') : '(no operator log)';
    (err as Error).message += `\n--- bench summary ---\n${r.stdout.trimEnd().split('\n').slice(0, -1).join('\n')}\n--- operator log tail ---\n${tail}`;
    throw err;
  }
}

/** Runs the bench and returns its last stdout line parsed, after checking it is the only JSON line and the run completed. */
async function runToResult(args: string[]): Promise<{ code: number | null; result: Record<string, unknown>; stdout: string }> {
  const r = await runBench(args);
  const lines = r.stdout.trimEnd().split('\n');
  const last = lines[lines.length - 1] ?? '';
  const tail = `\n--- stderr tail ---\n${r.stderr.split('\n').slice(-30).join('\n')}`;
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(last) as Record<string, unknown>;
  } catch {
    throw new Error(`last stdout line is not JSON: ${last}${tail}`);
  }
  if (result['complete'] !== true) throw new Error(`bench incomplete: ${last}${tail}`);
  // Exactly one JSON line, the last.
  expect(lines.filter((l) => l.startsWith('{'))).toHaveLength(1);
  return { code: r.code, result, stdout: r.stdout };
}

describe('bench:operator', () => {
  it('runs at a tiny size and ends with a JSON line in which every pod of every phase was bound', async () => {
    const { code, result } = await runToResult(['--swarms', '3', '--nodes', '5', '--gpus-per-node', '2', '--peers', '2', '--log-dir', join(REPO_ROOT, '.tmp', 'bench', 'operator-smoke')]);
    expect(code).toBe(0);
    expect(result).toMatchObject({ bench: 'operator', swarms: 3, nodes: 5, pods: 6, spotswarm_bound: 6, replicaset_bound: 6, direct_bound: 6, swarms_status_scheduled: 3 });
    for (const k of ['spotswarm_bind_all_seconds', 'replicaset_bind_all_seconds', 'direct_bind_all_seconds', 'ratio_spotswarm_over_replicaset', 'controlplane_start_seconds']) {
      expect(typeof result[k]).toBe('number');
    }
    // The operator created exactly the pods (a pod per peer) and its metrics were scraped.
    expect(result['spotswarm_pods_created']).toBe(6);
    expect(result['operator_api_requests']).toEqual(expect.any(Number));
    expect(result['operator_api_requests'] as number).toBeGreaterThanOrEqual(6);
    expect(result['operator_reconciles'] as number).toBeGreaterThan(0);
    expect(result['operator_peak_rss_mib'] as number).toBeGreaterThan(0);
  }, 300_000);

  it('with --clusters 2 fills every GPU of both clusters with trainer pods and keeps waiting pods within maxPending', async () => {
    // 4 swarms x up to 5 peers (the default: 1.6x the GPUs) want 20 peers; 2 x 6 nodes x 1 GPU hold 12.
    const logDir = join(REPO_ROOT, '.tmp', 'bench', 'operator-smoke-fill');
    const { code, result, stdout } = await runToResult(['--clusters', '2', '--swarms', '4', '--nodes', '12', '--log-dir', logDir]);
    explained({ stdout, logDir }, () => {
      expect(code).toBe(0);
      expect(result).toMatchObject({
        bench: 'operator', mode: 'fill', clusters: 2, cluster_names: ['dc1', 'dc2'], swarms: 4, nodes: 12, nodes_per_cluster: [6, 6],
        gpus: 12, peers_max_per_swarm: 5, peers_wanted: 20, max_pending: 1,
        // Every GPU of both clusters is used by a bound trainer pod.
        bound_by_cluster: { dc1: 6, dc2: 6 },
        // The operator sheds only waiting pods: none it counted as waiting may be deleted once bound (its cache lags the API).
        bound_pods_removed_by_cluster: { dc1: 0, dc2: 0 },
        free_gpus_by_cluster: { dc1: 0, dc2: 0 },
        // Once full, no swarm keeps more than maxPending pods waiting in a cluster.
        waiting_bounded: true,
        waiting_allowed_per_swarm_cluster: 1,
      });
      expect(result['waiting_settled_per_swarm_cluster_max'] as number).toBeLessThanOrEqual(1);
      expect(result['waiting_settled_total'] as number).toBeLessThanOrEqual(4 * 2 * 1);
      // Demand exceeds the GPUs, so some swarm is left waiting; the bench must see it.
      expect(result['waiting_settled_total'] as number).toBeGreaterThan(0);
      for (const k of ['spotswarm_fill_seconds', 'floor_fill_seconds', 'ratio_spotswarm_over_floor', 'operator_api_requests_per_second']) {
        expect(typeof result[k]).toBe('number');
      }
      // The second cluster is a real placement: the operator made requests against both, and created pods in both.
      const byCluster = result['operator_api_requests_per_second_by_cluster'] as Record<string, number>;
      expect(byCluster['dc1']).toBeGreaterThan(0);
      expect(byCluster['dc2']).toBeGreaterThan(0);
      const kinds = result['operator_requests_by_kind'] as Record<string, number>;
      expect(kinds['dc1 create pods 2xx']).toBeGreaterThan(0);
      expect(kinds['dc2 create pods 2xx']).toBeGreaterThan(0);
      // The request-latency histogram was read, and the operator's status agrees with the watches.
      expect((result['operator_api_latency_ms'] as { count: number }).count).toBeGreaterThan(0);
      expect(result['status_free_gpus_max_by_cluster']).toEqual({ dc1: 0, dc2: 0 });
      expect(result['operator_peak_rss_mib'] as number).toBeGreaterThan(0);
    });
  }, 420_000);

  it('with --sweep runs the fill at each node count and reports the peak RSS of each', async () => {
    const logDir = join(REPO_ROOT, '.tmp', 'bench', 'operator-smoke-sweep');
    const { code, result, stdout } = await runToResult(['--clusters', '2', '--swarms', '3', '--sweep', '6,10', '--log-dir', logDir]);
    explained({ stdout, logDir: join(logDir, 'nodes-10') }, () => {
      expect(code).toBe(0);
      expect(result).toMatchObject({ bench: 'operator', mode: 'fill-sweep', complete: true, waiting_bounded: true, sweep_nodes: [6, 10] });
      const rss = result['operator_peak_rss_mib_by_nodes'] as Record<string, number>;
      expect(Object.keys(rss)).toEqual(['6', '10']);
      expect(rss['6']).toBeGreaterThan(0);
      expect(rss['10']).toBeGreaterThan(0);
      expect(typeof result['rss_growth_over_nodes_growth']).toBe('number');
      // Each size's full result is kept beside its logs.
      const ten = JSON.parse(readFileSync(join(logDir, 'nodes-10', 'result.json'), 'utf8')) as Record<string, unknown>;
      expect(ten).toMatchObject({ mode: 'fill', nodes: 10, gpus: 10, free_gpus_by_cluster: { dc1: 0, dc2: 0 } });
    });
  }, 600_000);
});
