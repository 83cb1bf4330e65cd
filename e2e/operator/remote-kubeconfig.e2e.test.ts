/**
 * scripts/remote-kubeconfig.sh against a real API server: the kubeconfig it
 * prints uses a ServiceAccount token (no exec plugin), and that account may do
 * what the operator does in a remote cluster, and no more.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { toolPath } from '../../testkit/cluster/index.ts';
import { REPO_ROOT, runCommand, startTestCluster, type TestCluster } from '../../testkit/harness/index.ts';

let c: TestCluster;
let context: string;
const env = () => ({ PATH: `${dirname(toolPath('kubectl'))}:/usr/bin:/bin`, KUBECONFIG: c.cp.kubeconfigPath, HOME: tmpdir() });
const script = (args: string[]) => runCommand('/bin/sh', [join(REPO_ROOT, 'scripts/remote-kubeconfig.sh'), ...args], { env: env(), timeoutMs: 60_000 });

beforeAll(async () => {
  c = await startTestCluster({ name: 'remote-kubeconfig', nodes: [] });
  context = (await c.kubectl(['config', 'current-context'])).stdout.trim();
}, 120_000);

afterAll(async () => {
  await c?.stop();
}, 60_000);

async function canI(kubeconfig: string, ...args: string[]): Promise<string> {
  return (await runCommand(toolPath('kubectl'), ['--kubeconfig', kubeconfig, 'auth', 'can-i', ...args], { env: env() })).stdout.trim();
}

describe('scripts/remote-kubeconfig.sh', () => {
  it.each([
    ['a long-lived token Secret', [] as string[]],
    ['a token from kubectl create token --duration', ['--duration', '24h']],
  ])('prints a ServiceAccount-token kubeconfig with the operator\'s remote permissions, using %s', async (_how, flags) => {
    const r = await script([...flags, context, 'research']);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    const kc = parse(r.stdout) as { users: Array<{ user: Record<string, unknown> }>; clusters: Array<{ cluster: { server: string } }> };
    expect(Object.keys(kc.users[0]!.user)).toEqual(['token']);
    expect(kc.clusters[0]!.cluster.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const file = join(mkdtempSync(join(tmpdir(), 'remote-kc-')), 'kubeconfig');
    writeFileSync(file, r.stdout);
    const who = await runCommand(toolPath('kubectl'), ['--kubeconfig', file, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'], { env: env() });
    expect(who.stdout).toBe('system:serviceaccount:spotswarm-remote:spotswarm-operator');
    expect(await canI(file, 'watch', 'nodes')).toBe('yes');
    expect(await canI(file, 'list', 'pods', '--all-namespaces')).toBe('yes');
    expect(await canI(file, 'create', 'pods', '-n', 'research')).toBe('yes');
    expect(await canI(file, 'delete', 'secrets', '-n', 'research')).toBe('yes');
    expect(await canI(file, 'create', 'pods', '-n', 'kube-system')).toBe('no');
    expect(await canI(file, 'list', 'secrets', '-n', 'research')).toBe('no');
    expect(await canI(file, 'delete', 'nodes')).toBe('no');
  }, 120_000);

  it('says how to use it when CONTEXT is missing', async () => {
    const r = await script([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: scripts/remote-kubeconfig.sh [--duration D] CONTEXT [NAMESPACE...]');
  });
});
