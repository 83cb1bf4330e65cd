/**
 * The user's path: `helm install` the chart into a real control plane. The
 * operator runs as a pod (the test kubelet runs its image as this repo's
 * operator, with the pod's own ServiceAccount token, so the chart's RBAC is
 * what it gets), and a swarm applied with kubectl trains.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { LABEL_SWARM, type TrainingSwarm } from '../../api/index.ts';
import { freePort, toolPath } from '../../testkit/cluster/index.ts';
import { REPO_ROOT, runCommand, startNats, startTestCluster, type NatsServer, type TestCluster, waitFor } from '../../testkit/harness/index.ts';

let c: TestCluster;
let nats: NatsServer;

beforeAll(async () => {
  c = await startTestCluster({ name: 'helm', nodes: [{ name: 'gpu-0', gpus: 2 }, { name: 'gpu-1', gpus: 2 }] });
  nats = await startNats();
}, 180_000);

afterAll(async () => {
  await runCommand(toolPath('helm'), ['uninstall', 'spotswarm', '-n', 'spotswarm-system', '--kubeconfig', c.cp.kubeconfigPath]).catch(() => undefined);
  await c?.stop();
  await nats?.stop();
}, 120_000);

describe('helm install', () => {
  it('installs the operator as a pod with its ServiceAccount, and a swarm applied with kubectl trains', async () => {
    const metricsPort = await freePort();
    const install = await runCommand(toolPath('helm'), [
      'install', 'spotswarm', join(REPO_ROOT, 'helm/spotswarm'), '--kubeconfig', c.cp.kubeconfigPath,
      '--namespace', 'spotswarm-system', '--create-namespace',
      // This test's NATS runs without auth (operator mode is covered by validation.e2e.test.ts).
      '--set', 'nats.deploy=false', '--set', `nats.url=${nats.url}`, '--set', 'nats.auth.enabled=false',
      '--set', `operator.metricsPort=${metricsPort}`, '--wait', '--timeout', '3m',
    ]);
    expect(install.stderr).not.toMatch(/Error/);
    expect(install.code).toBe(0);
    expect(install.stdout).toContain('kubectl get trainingswarms -w');
    const opPod = await waitFor(async () => {
      const ps = await c.core.listNamespacedPod({ namespace: 'spotswarm-system', labelSelector: 'app.kubernetes.io/component=operator' });
      return ps.items.find((p) => p.status?.phase === 'Running');
    }, { what: 'the operator pod running', timeoutMs: 120_000 });
    expect(opPod.spec!.serviceAccountName).toBe('spotswarm-operator');
    await waitFor(() => c.podLog(opPod.metadata!.name!, 'spotswarm-system').includes('reconciling TrainingSwarms'), { what: 'the operator leading', timeoutMs: 60_000 });

    const s = parse(readFileSync(join(REPO_ROOT, 'crds/examples/tiny-cpu.yaml'), 'utf8')) as TrainingSwarm;
    s.spec.nats.url = nats.url;
    delete s.spec.stopAfter;
    expect((await c.kubectl(['apply', '-f', '-'], { input: stringify(s) })).code).toBe(0);
    const st = await waitFor(async () => {
      const sw = (await c.custom.getNamespacedCustomObject({ group: 'spotswarm.dev', version: 'v1alpha1', plural: 'trainingswarms', namespace: 'default', name: 'tiny' })) as TrainingSwarm;
      return sw.status?.phase === 'Running' && (sw.status.epoch ?? 0) >= 1 && sw.status.peers?.active === 3 ? sw.status : false;
    }, { what: 'the swarm Running with 3 active peers past epoch 1', timeoutMs: 180_000 });
    expect(st.peers!.running).toBe(3);
    const pods = await c.core.listNamespacedPod({ namespace: 'default', labelSelector: `${LABEL_SWARM}=tiny` });
    expect(pods.items.every((p) => p.spec!.priorityClassName === 'spotswarm-preemptible')).toBe(true);
    // The lease the chart's Role allows is held by the operator pod.
    const lease = await c.coordination.readNamespacedLease({ namespace: 'spotswarm-system', name: 'spotswarm-operator' });
    expect(lease.spec!.holderIdentity).toBe(opPod.metadata!.name);
  }, 420_000);
});
