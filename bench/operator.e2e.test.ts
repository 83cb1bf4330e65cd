/**
 * Smoke test: the operator benchmark still runs end to end (real control
 * plane, fake nodes, the operator process, both phases) at a tiny size, and
 * its last stdout line is the JSON result with every pod bound. No timing
 * assertions: speed is what the benchmark itself reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../e2e/harness/cluster.ts';

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
    const c = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'bench/operator.ts'), ...args], {
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

describe('bench:operator', () => {
  it('runs at a tiny size and ends with a JSON line in which every pod of every phase was bound', async () => {
    const r = await runBench(['--swarms', '3', '--nodes', '5', '--gpus-per-node', '2', '--peers', '2', '--log-dir', join(REPO_ROOT, '.tmp', 'bench', 'operator-smoke')]);
    const lines = r.stdout.trimEnd().split('\n');
    const last = lines[lines.length - 1] ?? '';
    let result: Record<string, unknown>;
    try {
      result = JSON.parse(last) as Record<string, unknown>;
    } catch {
      throw new Error(`last stdout line is not JSON: ${last}\n--- stderr tail ---\n${r.stderr.split('\n').slice(-30).join('\n')}`);
    }
    if (result['complete'] !== true) throw new Error(`bench incomplete: ${last}\n--- stderr tail ---\n${r.stderr.split('\n').slice(-30).join('\n')}`);
    expect(r.code).toBe(0);
    expect(result).toMatchObject({ bench: 'operator', swarms: 3, nodes: 5, pods: 6, kubeswarm_bound: 6, replicaset_bound: 6, direct_bound: 6, swarms_status_scheduled: 3 });
    for (const k of ['kubeswarm_bind_all_seconds', 'replicaset_bind_all_seconds', 'direct_bind_all_seconds', 'ratio_kubeswarm_over_replicaset', 'controlplane_start_seconds']) {
      expect(typeof result[k]).toBe('number');
    }
    // The operator created exactly the pods (a pod per peer) and its metrics were scraped.
    expect(result['kubeswarm_pods_created']).toBe(6);
    expect(result['operator_api_requests']).toEqual(expect.any(Number));
    expect(result['operator_api_requests'] as number).toBeGreaterThanOrEqual(6);
    expect(result['operator_reconciles'] as number).toBeGreaterThan(0);
    expect(result['operator_peak_rss_mib'] as number).toBeGreaterThan(0);
    // Exactly one JSON line, the last.
    expect(lines.filter((l) => l.startsWith('{'))).toHaveLength(1);
  }, 300_000);
});
