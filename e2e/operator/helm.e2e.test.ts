/**
 * The user's path with the chart's defaults: `helm install` into a real
 * control plane with no --set but ports (every pod shares the host's
 * loopback here). The chart's NATS StatefulSet runs (the test kubelet runs
 * the nats image as the built nats-server) with JetStream on its volume
 * claim and operator-mode auth; the operator runs as a pod on in-cluster
 * config (its ServiceAccount's projected token, so the chart's RBAC is what
 * it gets). The shipped CPU example, applied as it is, trains on credentials
 * the operator issued; then helm upgrade, uninstall and a reinstall over the
 * CRD that Helm keeps.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { parse } from 'yaml';
import { Env, LABEL_SWARM, type TrainingSwarm } from '../../api/index.ts';
import { freePort, toolPath } from '../../testkit/cluster/index.ts';
import { REPO_ROOT, runCommand, startTestCluster, type TestCluster, waitFor } from '../../testkit/harness/index.ts';

const NS = 'spotswarm-system';
const CHART = join(REPO_ROOT, 'helm/spotswarm');
const EXAMPLE = join(REPO_ROOT, 'crds/examples/tiny-cpu.yaml');
const example = parse(readFileSync(EXAMPLE, 'utf8')) as TrainingSwarm;
const SWARM = example.metadata.name!;
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as { nats: { storage: string } };

let c: TestCluster;
let natsPort: number;
/** The only --set: ports, because every pod listens on the host's loopback here. */
let ports: string[];

const helm = (args: string[]) => runCommand(toolPath('helm'), [...args, '--kubeconfig', c.cp.kubeconfigPath, '--namespace', NS], { timeoutMs: 300_000 });
const swarmStatus = async () =>
  ((await c.custom.getNamespacedCustomObject({ group: 'spotswarm.dev', version: 'v1alpha1', plural: 'trainingswarms', namespace: 'default', name: SWARM })) as TrainingSwarm).status ?? {};
const podsOf = async (namespace: string, labelSelector?: string) => (await c.core.listNamespacedPod({ namespace, ...(labelSelector ? { labelSelector } : {}) })).items;
const runningOperator = () =>
  waitFor(async () => (await podsOf(NS, 'app.kubernetes.io/component=operator')).find((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp), {
    what: 'the operator pod running', timeoutMs: 120_000,
  });

beforeAll(async () => {
  c = await startTestCluster({ name: 'helm', nodes: [{ name: 'gpu-0', gpus: 2 }, { name: 'gpu-1', gpus: 2 }] });
  // Static provisioning, as a cluster's storage admin would do it: a volume for the NATS StatefulSet's claim.
  await c.core.createPersistentVolume({
    body: {
      metadata: { name: 'nats-data' },
      spec: { capacity: { storage: values.nats.storage }, accessModes: ['ReadWriteOnce'], persistentVolumeReclaimPolicy: 'Retain', hostPath: { path: mkdtempSync(join(tmpdir(), 'helm-pv-')) } },
    },
  });
  natsPort = await freePort();
  ports = ['--set', `nats.port=${natsPort}`, '--set', `nats.monitorPort=${await freePort()}`, '--set', `operator.metricsPort=${await freePort()}`];
}, 180_000);

afterAll(async () => {
  if (c) await helm(['uninstall', 'spotswarm', '--wait']).catch(() => undefined);
  await c?.stop();
}, 180_000);

describe('helm install with the chart defaults', () => {
  it('runs NATS with JetStream and operator-mode auth and the operator on in-cluster config; the CPU example trains on issued credentials', async () => {
    const install = await helm(['install', 'spotswarm', CHART, '--create-namespace', ...ports, '--wait', '--timeout', '4m']);
    expect(install.stderr).not.toMatch(/Error/);
    expect(install.code).toBe(0);
    expect(install.stdout).toContain('kubectl get trainingswarms -w');
    // NOTES.txt: next steps that work as printed, and what uninstall keeps
    expect(install.stdout).toContain('crds/examples/tiny-cpu.yaml');
    expect(install.stdout).not.toContain('set spec.nats.url');
    expect(install.stdout).toContain('kubectl delete trainingswarms --all -A --wait');
    expect(install.stdout).toContain('Helm keeps the TrainingSwarm CRD');

    // NATS: the chart's StatefulSet on its bound claim, JetStream on, trusting only the operator's JWT.
    const nats = await waitFor(async () => (await podsOf(NS, 'app.kubernetes.io/component=nats')).find((p) => p.status?.phase === 'Running'), { what: 'the NATS pod running' });
    expect(nats.metadata!.name).toBe('spotswarm-nats-0');
    const natsLog = await waitFor(() => (c.podLog('spotswarm-nats-0', NS).includes('Server is ready') ? c.podLog('spotswarm-nats-0', NS) : undefined), { what: 'NATS ready', timeoutMs: 120_000 });
    expect(natsLog).toMatch(/Starting JetStream/);
    expect(natsLog).toMatch(/Trusted Operators/);
    const pvc = await c.core.readNamespacedPersistentVolumeClaim({ name: 'data-spotswarm-nats-0', namespace: NS });
    expect(pvc.status?.phase).toBe('Bound');
    await expect(connect({ servers: `nats://127.0.0.1:${natsPort}`, reconnect: false })).rejects.toThrow(/Authorization Violation/);

    // The operator: its ServiceAccount's in-cluster files, no kubeconfig.
    const op = await runningOperator();
    expect(op.spec!.serviceAccountName).toBe('spotswarm-operator');
    const [pid] = c.kubelet.pidsOf(op.metadata!.name!, NS);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(environ.some((e) => e.startsWith('KUBECONFIG='))).toBe(false);
    expect(environ.some((e) => e.startsWith(`${Env.InClusterRoot}=`))).toBe(true);
    expect(environ).toContain(`${Env.DefaultNatsUrl}=nats://spotswarm-nats.${NS}.svc:${natsPort}`);
    await waitFor(() => c.podLog(op.metadata!.name!, NS).includes('reconciling TrainingSwarms'), { what: 'the operator leading', timeoutMs: 60_000 });
    const lease = await c.coordination.readNamespacedLease({ namespace: NS, name: 'spotswarm-operator' });
    expect(lease.spec!.holderIdentity).toBe(op.metadata!.name);

    // The shipped example, as it is: no NATS URL, no credentials of its own, no GPUs.
    expect(example.spec.nats).toBeUndefined();
    expect(example.spec.trainer.resources.gpus).toBe(0);
    expect((await c.kubectl(['apply', '-f', EXAMPLE])).code).toBe(0);
    const st = await waitFor(async () => {
      const s = await swarmStatus();
      return s.phase === 'Running' && (s.epoch ?? 0) >= 2 && s.peers?.active === 3 ? s : undefined;
    }, { what: 'the swarm Running with 3 active peers at epoch 2', timeoutMs: 300_000 });
    expect(st.peers!.running).toBe(3);
    const peers = await podsOf('default', `${LABEL_SWARM}=${SWARM}`);
    expect(peers).toHaveLength(3);
    for (const p of peers) {
      const env = p.spec!.containers[0]!.env ?? [];
      expect(env.find((e) => e.name === Env.NatsUrl)?.value).toBe(`nats://spotswarm-nats.${NS}.svc:${natsPort}`);
      expect(env.find((e) => e.name === Env.NatsCredentials)?.valueFrom?.secretKeyRef?.name).toBe(`${SWARM}-nats`);
      expect(p.spec!.priorityClassName).toBe('spotswarm-preemptible');
      expect(p.spec!.containers[0]!.resources?.limits?.['nvidia.com/gpu']).toBeUndefined();
    }
    const creds = await c.core.readNamespacedSecret({ name: `${SWARM}-nats`, namespace: 'default' });
    expect(Buffer.from(creds.data!['nats.creds']!, 'base64').toString()).toContain('BEGIN USER NKEY SEED');
  }, 600_000);

  it('helm upgrade rolls the operator with the new log level, and the swarm keeps training', async () => {
    const before = (await swarmStatus()).epoch ?? 0;
    const old = await runningOperator();
    const up = await helm(['upgrade', 'spotswarm', CHART, '--reuse-values', '--set', 'operator.logLevel=debug', '--wait', '--timeout', '4m']);
    expect(up.code).toBe(0);
    const op = await waitFor(async () => {
      const p = await runningOperator();
      return p.metadata!.name !== old.metadata!.name ? p : undefined;
    }, { what: 'a new operator pod', timeoutMs: 120_000 });
    expect(op.spec!.containers[0]!.env).toContainEqual({ name: 'SPOTSWARM_LOG_LEVEL', value: 'debug' });
    await waitFor(() => c.podLog(op.metadata!.name!, NS).includes('"level":"debug"'), { what: 'debug lines from the new operator', timeoutMs: 120_000 });
    await waitFor(async () => ((await swarmStatus()).epoch ?? 0) > before, { what: 'the epoch advancing after the upgrade', timeoutMs: 180_000 });
  }, 420_000);

  it('uninstall (after the swarms) leaves no pods and no per-swarm Secrets, keeps the CRD, and a reinstall over it works', async () => {
    expect((await c.kubectl(['delete', 'trainingswarms', '--all', '-A', '--wait', '--timeout=120s'])).code).toBe(0);
    const un = await helm(['uninstall', 'spotswarm', '--wait', '--timeout', '3m']);
    expect(un.code).toBe(0);
    await waitFor(async () => (await podsOf(NS)).length === 0 && (await podsOf('default')).length === 0, { what: 'no pods left', timeoutMs: 120_000 });
    const secrets = (await c.core.listNamespacedSecret({ namespace: 'default' })).items.map((s) => s.metadata!.name);
    expect(secrets).not.toContain(`${SWARM}-nats`);
    const crd = await c.kubectl(['get', 'crd', 'trainingswarms.spotswarm.dev', '-o', 'name']);
    expect(crd.stdout.trim()).toBe('customresourcedefinition.apiextensions.k8s.io/trainingswarms.spotswarm.dev');

    const again = await helm(['install', 'spotswarm', CHART, ...ports, '--wait', '--timeout', '4m']);
    expect(again.stderr).not.toMatch(/Error/);
    expect(again.code).toBe(0);
    await runningOperator();
    expect((await c.kubectl(['apply', '-f', EXAMPLE])).code).toBe(0);
    await waitFor(async () => {
      const s = await swarmStatus();
      return s.phase === 'Running' && (s.epoch ?? 0) >= 1;
    }, { what: 'the swarm training again after the reinstall', timeoutMs: 300_000 });
  }, 600_000);
});
