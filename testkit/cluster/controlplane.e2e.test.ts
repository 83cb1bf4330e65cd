/**
 * The real control plane: it starts on free ports, two run side by side with
 * separate state, admission and the garbage collector work, failures name the
 * binary, and stop() leaves no process behind.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { CoreV1Api, KubeConfig, SchedulingV1Api } from '@kubernetes/client-node';
import { runKubectl, waitFor } from '../harness/index.ts';
import { type ControlPlane, ControlPlaneStartError, startControlPlane } from './controlplane.ts';
import { makeLogger } from './log.ts';
import { pidAlive } from './proc.ts';

const log = makeLogger('controlplane.e2e', 'warn');
let a: ControlPlane | undefined;
let b: ControlPlane | undefined;

function clients(cp: ControlPlane) {
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  return { core: kc.makeApiClient(CoreV1Api), scheduling: kc.makeApiClient(SchedulingV1Api) };
}

beforeAll(async () => {
  a = await startControlPlane({ name: 'cp-a', log });
}, 180_000);

afterAll(async () => {
  await b?.stop();
  await a?.stop();
}, 60_000);

describe('control plane', () => {
  it('serves /readyz through kubectl with the kubeconfig it wrote, reporting the pinned version', async () => {
    const cp = a!;
    expect(cp.server).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ready = await runKubectl(cp.kubeconfigPath, ['get', '--raw', '/readyz']);
    expect(ready).toMatchObject({ code: 0, stdout: 'ok' });
    const version = await runKubectl(cp.kubeconfigPath, ['version', '-o', 'json']);
    expect(JSON.parse(version.stdout).serverVersion.gitVersion).toBe('v1.35.4');
  });

  it('resolves priorityClassName into spec.priority (Priority admission) and defaults the ServiceAccount', async () => {
    const { core, scheduling } = clients(a!);
    await scheduling.createPriorityClass({ body: { metadata: { name: 'swarm-low' }, value: -20, preemptionPolicy: 'Never' } });
    const pod = await core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'prio' }, spec: { priorityClassName: 'swarm-low', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] } },
    });
    expect(pod.spec?.priority).toBe(-20);
    expect(pod.spec?.serviceAccountName).toBe('default');
  });

  it('garbage-collects a pod whose owner is deleted (controller-manager runs the GC)', async () => {
    const { core } = clients(a!);
    const owner = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'owner' }, data: { a: '1' } } });
    await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'owned', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata!.uid! }] },
        spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
      },
    });
    await core.deleteNamespacedConfigMap({ name: 'owner', namespace: 'default', propagationPolicy: 'Background' });
    await waitFor(
      async () => {
        const pods = await core.listNamespacedPod({ namespace: 'default', fieldSelector: 'metadata.name=owned' });
        return pods.items.length === 0;
      },
      { what: 'pod "owned" to be garbage collected', timeoutMs: 60_000 },
    );
  });

  it('runs a second control plane side by side, on other ports, with its own state', async () => {
    b = await startControlPlane({ name: 'cp-b', log });
    expect(b.server).not.toBe(a!.server);
    expect(new Set([...Object.values(a!.pids), ...Object.values(b.pids)]).size).toBe(8);
    await clients(a!).core.createNamespace({ body: { metadata: { name: 'only-in-a' } } });
    const inB = await runKubectl(b.kubeconfigPath, ['get', 'namespace', 'only-in-a']);
    expect(inB.code).not.toBe(0);
    expect(inB.stderr).toContain('not found');
    expect((await runKubectl(b.kubeconfigPath, ['get', '--raw', '/readyz'])).stdout).toBe('ok');
    expect((await runKubectl(a!.kubeconfigPath, ['get', 'namespace', 'only-in-a'])).code).toBe(0);
  }, 120_000);

  it('stop() ends every process it started and removes the data dir', async () => {
    const cp = b!;
    const pids = Object.values(cp.pids);
    expect(pids.every(pidAlive)).toBe(true);
    await cp.stop();
    expect(pids.filter(pidAlive)).toEqual([]);
    expect(existsSync(cp.dataDir)).toBe(false);
    // the other control plane is unaffected
    expect((await runKubectl(a!.kubeconfigPath, ['get', '--raw', '/readyz'])).stdout).toBe('ok');
  }, 60_000);

  it('names the binary that failed to start and shows its log, leaving nothing running', async () => {
    let err: ControlPlaneStartError | undefined;
    try {
      await startControlPlane({ name: 'cp-bad', log, extraArgs: { apiserver: ['--no-such-flag'] } });
    } catch (e) {
      err = e as ControlPlaneStartError;
    }
    expect(err).toBeInstanceOf(ControlPlaneStartError);
    expect(err?.binary).toBe('kube-apiserver');
    expect(err?.message).toMatch(/^kube-apiserver \(pid \d+\) exited before it was ready/);
    expect(err?.message).toContain('unknown flag: --no-such-flag');
    expect(err?.pids).toHaveLength(2); // etcd and kube-apiserver
    expect(err?.pids.filter(pidAlive)).toEqual([]);
  }, 120_000);
});
