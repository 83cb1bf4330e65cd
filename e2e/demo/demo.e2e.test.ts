/** `npm run demo -- --exit` as a new user runs it: everything comes up, the swarm runs, everything stops. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pidAlive } from '../../testkit/cluster/index.ts';
import { REPO_ROOT } from '../../testkit/harness/index.ts';

function runDemo(): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'scripts/demo.ts'), '--exit'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGINT'), 240_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out, code });
    });
  });
}

describe('npm run demo', () => {
  it('brings up the control plane, NATS, the operator and the tiny swarm, prints running peers, and stops it all', async () => {
    const { out, code } = await runDemo();
    expect(code).toBe(0);
    expect(out).toMatch(/\$ kubectl get trainingswarms\nNAME\s+PHASE\s+PEERS\s+EPOCH\s+SAMPLES\/S\s+LOSS\s+PREEMPTIONS\s+AGE\ntiny\s+Running\s+3\/3\s/);
    expect(out).toMatch(/tiny-peer-\S+\s+1\/1\s+Running/);
    // Every control-plane process it started is gone.
    const stopped = /stopped \(etcd (\d+), kube-apiserver (\d+), kube-scheduler (\d+), kube-controller-manager (\d+)\)/.exec(out);
    expect(stopped).not.toBeNull();
    for (const pid of stopped!.slice(1).map(Number)) expect(pidAlive(pid)).toBe(false);
  }, 300_000);
});
