/**
 * The test kubelet against a real control plane: fake GPU nodes register
 * Ready, the real scheduler binds pods to them, and the kubelet runs, stops,
 * restarts and reports them like a kubelet would.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { freePort, pidAlive, toolPath } from '../cluster/index.ts';
import { startTestCluster, type TestCluster, waitFor } from '../harness/index.ts';
import { LEASE_NAMESPACE, NOT_READY_TAINT } from './node.ts';

let c: TestCluster;
const ns = 'default';

beforeAll(async () => {
  c = await startTestCluster({
    name: 'kubelet-e2e',
    nodes: [{ name: 'gpu-0', gpus: 2, cpu: '4', memory: '16Gi' }],
    kubelet: { heartbeatMs: 1_000 },
    // notice a silent node within seconds instead of 50 s (the failNode test)
    controlPlane: { extraArgs: { controllerManager: ['--node-monitor-period=1s', '--node-monitor-grace-period=6s'] } },
  });
}, 180_000);

afterAll(async () => {
  await c?.stop();
}, 60_000);

function pod(name: string, spec: Partial<V1PodSpec> & { command?: string[]; gpus?: number; image?: string; env?: NonNullable<V1PodSpec['containers'][number]['env']> }): V1Pod {
  const { command, gpus, image, env, ...rest } = spec;
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 10,
      containers: [
        {
          name: 'main',
          image: image ?? 'busybox',
          ...(command ? { command } : {}),
          ...(env ? { env } : {}),
          ...(gpus ? { resources: { limits: { 'nvidia.com/gpu': String(gpus) } } } : {}),
        },
      ],
      ...rest,
    },
  };
}

const read = (name: string) => c.core.readNamespacedPod({ name, namespace: ns });

async function gone(name: string): Promise<boolean> {
  const pods = await c.core.listNamespacedPod({ namespace: ns, fieldSelector: `metadata.name=${name}` });
  return pods.items.length === 0;
}

describe('test kubelet', () => {
  it('registers a Ready GPU node without the not-ready taint and renews its Lease', async () => {
    const node = await c.core.readNode({ name: 'gpu-0' });
    expect(node.status?.allocatable).toMatchObject({ 'nvidia.com/gpu': '2', cpu: '4', memory: '16Gi', pods: '110' });
    expect(node.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect((node.spec?.taints ?? []).map((t) => t.key)).not.toContain(NOT_READY_TAINT);
    const first = await c.coordination.readNamespacedLease({ name: 'gpu-0', namespace: LEASE_NAMESPACE });
    expect(first.spec?.holderIdentity).toBe('gpu-0');
    const t0 = new Date(first.spec!.renewTime!).getTime();
    await waitFor(
      async () => new Date((await c.coordination.readNamespacedLease({ name: 'gpu-0', namespace: LEASE_NAMESPACE })).spec!.renewTime!).getTime() > t0,
      { what: 'the node Lease to be renewed' },
    );
  });

  it('runs a GPU pod bound by the real scheduler, with downward-API, secret and configmap env', async () => {
    await c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'creds' }, stringData: { token: 's3cret' } } });
    await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'cfg' }, data: { url: 'nats://x' } } });
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('gpu-pod', {
        gpus: 1,
        command: ['sh', '-c', 'echo "name=$POD ns=$NS ip=$IP node=$NODE token=$TOKEN url=$URL lit=$LIT"; exec sleep 3600'],
        env: [
          { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
          { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
          { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } } },
          { name: 'URL', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'url' } } },
          { name: 'LIT', value: 'plain-$(POD)' },
        ],
      }),
    });
    const running = await waitFor(async () => {
      const p = await read('gpu-pod');
      return p.status?.phase === 'Running' ? p : undefined;
    }, { what: 'gpu-pod Running' });
    expect(running.spec?.nodeName).toBe('gpu-0');
    expect(running.status?.podIP).toBe('127.0.0.1');
    expect(running.status?.hostIP).toBe('127.0.0.1');
    expect(running.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect(running.status?.conditions?.find((x) => x.type === 'PodScheduled')?.status).toBe('True');
    expect(running.status?.containerStatuses?.[0]).toMatchObject({ ready: true, restartCount: 0, state: { running: {} } });
    const [pid] = c.kubelet.pidsOf('gpu-pod');
    expect(pid !== undefined && pidAlive(pid)).toBe(true);
    const line = await waitFor(() => c.podLog('gpu-pod').split('\n').find((l) => l.startsWith('name=')), { what: 'gpu-pod env line in its log' });
    expect(line).toBe('name=gpu-pod ns=default ip=127.0.0.1 node=gpu-0 token=s3cret url=nats://x lit=plain-gpu-pod');
  });

  it('serves `kubectl logs` (the API server proxies to the kubelet)', async () => {
    const logs = await c.kubectl(['logs', 'gpu-pod']);
    expect(logs).toMatchObject({ code: 0, stdout: 'name=gpu-pod ns=default ip=127.0.0.1 node=gpu-0 token=s3cret url=nats://x lit=plain-gpu-pod\n' });
  });

  it('marks a pod that exits 3 Failed with exit code 3', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: pod('exit-3', { command: ['sh', '-c', 'echo bye; exit 3'] }) });
    const failed = await waitFor(async () => {
      const p = await read('exit-3');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, { what: 'exit-3 Failed' });
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
    expect(c.podLog('exit-3')).toBe('bye\n');
  });

  it('restarts an OnFailure pod after a failure, then reports Succeeded', async () => {
    // HOME is the pod's own directory, kept across restarts
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('retry', { restartPolicy: 'OnFailure', command: ['sh', '-c', 'if [ -f "$HOME/ran" ]; then exit 0; fi; touch "$HOME/ran"; exit 1'] }),
    });
    const done = await waitFor(async () => {
      const p = await read('retry');
      return p.status?.phase === 'Succeeded' ? p : undefined;
    }, { what: 'retry Succeeded' });
    expect(done.status?.containerStatuses?.[0]).toMatchObject({ restartCount: 1, lastState: { terminated: { exitCode: 1 } }, state: { terminated: { exitCode: 0 } } });
  });

  it('runs `node` as the repo Node 22 and maps /app to the repo root', async () => {
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('node-pod', { command: ['node', '-p', 'process.version + " " + process.argv[1]', '/app/package.json'] }),
    });
    await waitFor(async () => (await read('node-pod')).status?.phase === 'Succeeded', { what: 'node-pod Succeeded' });
    const [version, path] = c.podLog('node-pod').trim().split(' ');
    expect(version).toMatch(/^v22\./);
    expect(JSON.parse(readFileSync(path!, 'utf8')).name).toBe('spotswarm');
  });

  it('materializes ConfigMap and Secret volumes and rewrites paths under their mountPaths', async () => {
    await c.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'volumes' },
        spec: {
          restartPolicy: 'Never',
          volumes: [
            { name: 'cfg', configMap: { name: 'cfg' } },
            { name: 'sec', secret: { secretName: 'creds', items: [{ key: 'token', path: 'nested/tok' }] } },
            { name: 'scratch', emptyDir: {} },
          ],
          containers: [
            {
              name: 'main',
              image: 'busybox',
              // whole arguments and env values under a mountPath are rewritten (not paths inside a script)
              command: ['sh', '-c', 'echo "$(cat "$1") $(cat "$TOKEN_FILE")" > "$2/out" && cat "$2/out"', 'sh', '/etc/cfg/url', '/scratch'],
              env: [{ name: 'TOKEN_FILE', value: '/etc/sec/nested/tok' }],
              volumeMounts: [
                { name: 'cfg', mountPath: '/etc/cfg' },
                { name: 'sec', mountPath: '/etc/sec' },
                { name: 'scratch', mountPath: '/scratch' },
              ],
            },
          ],
        },
      },
    });
    await waitFor(async () => ['Succeeded', 'Failed'].includes((await read('volumes')).status?.phase ?? ''), { what: 'volumes pod finished' });
    expect(c.podLog('volumes')).toBe('nats://x s3cret\n');
    expect((await read('volumes')).status?.phase).toBe('Succeeded');
  });

  it('reports CreateContainerConfigError for a missing Secret, and starts once it exists', async () => {
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('needs-secret', { command: ['sh', '-c', 'echo "got $V"'], env: [{ name: 'V', valueFrom: { secretKeyRef: { name: 'late', key: 'v' } } }] }),
    });
    const waiting = await waitFor(async () => (await read('needs-secret')).status?.containerStatuses?.[0]?.state?.waiting, {
      what: 'needs-secret waiting',
    });
    expect(waiting.reason === 'CreateContainerConfigError' || waiting.reason === 'ContainerCreating').toBe(true);
    await waitFor(async () => (await read('needs-secret')).status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError', {
      what: 'needs-secret CreateContainerConfigError',
    });
    expect((await read('needs-secret')).status?.containerStatuses?.[0]?.state?.waiting?.message).toBe('secret "late" not found');
    await c.core.createNamespacedSecret({ namespace: ns, body: { metadata: { name: 'late' }, stringData: { v: 'now' } } });
    await waitFor(async () => (await read('needs-secret')).status?.phase === 'Succeeded', { what: 'needs-secret Succeeded' });
    expect(c.podLog('needs-secret')).toBe('got now\n');
  });

  it('restarts a restartPolicy Always pod whose process exits', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: pod('always', { restartPolicy: 'Always', command: ['sh', '-c', 'echo run'] }) });
    const p = await waitFor(async () => {
      const x = await read('always');
      return (x.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? x : undefined;
    }, { what: 'always restarted' });
    expect(p.status?.phase).toBe('Running');
    await waitFor(() => c.podLog('always') === 'run\nrun\n' || undefined, { what: 'two runs in the log' });
    await c.core.deleteNamespacedPod({ name: 'always', namespace: ns });
    await waitFor(() => gone('always'), { what: 'always gone' });
  });

  it("gives a pod its ServiceAccount's identity as in-cluster files (token, ca.crt, namespace) and KUBERNETES_SERVICE_HOST/PORT", async () => {
    const sa = '$SPOTSWARM_IN_CLUSTER_ROOT/var/run/secrets/kubernetes.io/serviceaccount';
    const script = [
      `test "$(cat ${sa}/namespace)" = default || exit 3`,
      `exec "$0" --server="https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT" --certificate-authority="${sa}/ca.crt" --token="$(cat ${sa}/token)" auth whoami -o jsonpath={.status.userInfo.username}`,
    ].join('; ');
    await c.core.createNamespacedPod({ namespace: ns, body: pod('whoami', { command: ['sh', '-c', script, toolPath('kubectl')] }) });
    await waitFor(async () => (await read('whoami')).status?.phase === 'Succeeded', { what: 'whoami Succeeded' });
    expect(c.podLog('whoami')).toBe('system:serviceaccount:default:default');
  });

  it('honours readOnlyRootFilesystem: writes to volumes work, a write anywhere else fails the pod', async () => {
    const outside = join(mkdtempSync(join(tmpdir(), 'kubelet-ro-')), 'written');
    const roPod = (name: string, target: string, readOnlyRootFilesystem: boolean): V1Pod => {
      const p = pod(name, { command: ['sh', '-c', 'echo x > "$1" && echo wrote "$1"', 'sh', target], volumes: [{ name: 'scratch', emptyDir: {} }] });
      p.spec!.containers[0]!.securityContext = { readOnlyRootFilesystem };
      p.spec!.containers[0]!.volumeMounts = [{ name: 'scratch', mountPath: '/scratch' }];
      return p;
    };
    await c.core.createNamespacedPod({ namespace: ns, body: roPod('ro-volume', '/scratch/f', true) });
    await c.core.createNamespacedPod({ namespace: ns, body: roPod('ro-outside', outside, true) });
    await c.core.createNamespacedPod({ namespace: ns, body: roPod('rw-outside', `${outside}.rw`, false) });
    await waitFor(async () => (await read('ro-volume')).status?.phase === 'Succeeded', { what: 'ro-volume Succeeded' });
    const failed = await waitFor(async () => {
      const p = await read('ro-outside');
      return p.status?.phase === 'Failed' ? p : undefined;
    }, { what: 'ro-outside Failed' });
    expect(failed.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).not.toBe(0);
    expect(c.podLog('ro-outside')).toMatch(/Read-only file system/);
    expect(existsSync(outside)).toBe(false);
    // without the flag the same write works
    await waitFor(async () => (await read('rw-outside')).status?.phase === 'Succeeded', { what: 'rw-outside Succeeded' });
    expect(existsSync(`${outside}.rw`)).toBe(true);
  });

  it('runs the nats image as the built nats-server with its args and mounted config, and Services resolve by name', async () => {
    const port = await freePort();
    await c.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'nats-conf' }, data: { 'nats.conf': `server_name: from-config\nport: ${port}\n` } } });
    await c.core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'nats' }, spec: { selector: { app: 'nats' }, ports: [{ port }] } } });
    const p = pod('nats-0', { image: 'nats:2.11-alpine', volumes: [{ name: 'config', configMap: { name: 'nats-conf' } }, { name: 'data', emptyDir: {} }] });
    p.metadata!.labels = { app: 'nats' };
    p.spec!.containers[0]!.args = ['--config=/etc/nats/nats.conf', '--jetstream', '--store_dir=/data'];
    p.spec!.containers[0]!.volumeMounts = [{ name: 'config', mountPath: '/etc/nats', readOnly: true }, { name: 'data', mountPath: '/data' }];
    p.spec!.containers[0]!.securityContext = { readOnlyRootFilesystem: true };
    await c.core.createNamespacedPod({ namespace: ns, body: p });
    await waitFor(() => c.podLog('nats-0').includes('Server is ready') || undefined, { what: 'nats-server ready', timeoutMs: 30_000 });
    expect(c.podLog('nats-0')).toContain('from-config');
    expect(c.podLog('nats-0')).toMatch(/Starting JetStream/);
    // a pod started after the Service reaches it by its cluster-DNS name
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('dial-nats', { command: ['sh', '-c', `getent hosts nats.default.svc.cluster.local && exec ${process.execPath} -e "require('net').connect(${port}, 'nats.default.svc', function () { console.log('connected'); process.exit(0); })"`] }),
    });
    await waitFor(async () => (await read('dial-nats')).status?.phase === 'Succeeded', { what: 'dial-nats Succeeded' });
    expect(c.podLog('dial-nats')).toContain('connected');
    await c.core.deleteNamespacedPod({ name: 'nats-0', namespace: ns });
    await waitFor(() => gone('nats-0'), { what: 'nats-0 gone' });
  });

  it('leaves a pod that does not fit Pending, Unschedulable', async () => {
    await c.core.createNamespacedPod({ namespace: ns, body: pod('too-big', { gpus: 8 }) });
    const cond = await waitFor(async () => (await read('too-big')).status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False'), {
      what: 'too-big PodScheduled=False',
    });
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toContain('nvidia.com/gpu');
    const p = await read('too-big');
    expect(p.status?.phase).toBe('Pending');
    expect(p.spec?.nodeName).toBeUndefined();
    await c.core.deleteNamespacedPod({ name: 'too-big', namespace: ns });
  });

  it('SIGTERMs a deleted pod, waits for it, and lets the object go away', async () => {
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('graceful', { command: ['sh', '-c', 'trap "echo got SIGTERM; exit 0" TERM; echo up; while :; do sleep 1; done'] }),
    });
    await waitFor(async () => (await read('graceful')).status?.phase === 'Running' && c.podLog('graceful').includes('up'), { what: 'graceful Running' });
    const [pid] = c.kubelet.pidsOf('graceful');
    await c.core.deleteNamespacedPod({ name: 'graceful', namespace: ns });
    await waitFor(() => gone('graceful'), { what: 'pod graceful to be gone from the API' });
    expect(c.podLog('graceful')).toContain('got SIGTERM');
    expect(pidAlive(pid!)).toBe(false);
  });

  it('lets the scheduler preempt a low-priority GPU pod for a higher-priority one', async () => {
    await c.scheduling.createPriorityClass({ body: { metadata: { name: 'swarm' }, value: -20, preemptionPolicy: 'Never' } });
    await c.scheduling.createPriorityClass({ body: { metadata: { name: 'urgent' }, value: 1000 } });
    // gpu-pod holds 1 of 2 GPUs; the victim takes the other
    await c.core.createNamespacedPod({
      namespace: ns,
      body: pod('victim', { gpus: 1, priorityClassName: 'swarm', command: ['sh', '-c', 'trap "echo preempted; exit 0" TERM; while :; do sleep 1; done'] }),
    });
    await waitFor(async () => (await read('victim')).status?.phase === 'Running', { what: 'victim Running' });
    await c.core.createNamespacedPod({ namespace: ns, body: pod('vip', { gpus: 1, priorityClassName: 'urgent' }) });
    await waitFor(() => gone('victim'), { what: 'victim to be preempted and gone', timeoutMs: 60_000 });
    expect(c.podLog('victim')).toContain('preempted');
    await waitFor(async () => (await read('vip')).status?.phase === 'Running', { what: 'vip Running on the freed GPU', timeoutMs: 60_000 });
  }, 90_000);

  it('removeNode stops the node\'s pods and deletes the Node', async () => {
    await c.kubelet.addNode({ name: 'gpu-temp', gpus: 1, labels: { pool: 'temp' } });
    await c.core.createNamespacedPod({ namespace: ns, body: pod('on-temp', { gpus: 1, nodeSelector: { pool: 'temp' } }) });
    await waitFor(async () => (await read('on-temp')).status?.phase === 'Running', { what: 'on-temp Running' });
    const [pid] = c.kubelet.pidsOf('on-temp');
    expect(pid).toBeDefined();
    await c.kubelet.removeNode('gpu-temp');
    expect(pidAlive(pid!)).toBe(false);
    expect(c.kubelet.nodeNames()).not.toContain('gpu-temp');
    await waitFor(async () => (await c.core.listNode({ fieldSelector: 'metadata.name=gpu-temp' })).items.length === 0, { what: 'Node gpu-temp deleted' });
  });

  it('failNode kills the node\'s pods and the node-lifecycle controller marks it unreachable', async () => {
    await c.kubelet.addNode({ name: 'gpu-doomed', gpus: 1, labels: { pool: 'doomed' } });
    await c.core.createNamespacedPod({ namespace: ns, body: pod('on-doomed', { gpus: 1, nodeSelector: { pool: 'doomed' } }) });
    await waitFor(async () => (await read('on-doomed')).status?.phase === 'Running', { what: 'on-doomed Running' });
    const [pid] = c.kubelet.pidsOf('on-doomed');
    await c.kubelet.failNode('gpu-doomed');
    expect(pidAlive(pid!)).toBe(false);
    const node = await waitFor(
      async () => {
        const n = await c.core.readNode({ name: 'gpu-doomed' });
        return n.spec?.taints?.some((t) => t.key === 'node.kubernetes.io/unreachable') ? n : undefined;
      },
      { what: 'gpu-doomed tainted unreachable', timeoutMs: 60_000 },
    );
    expect(node.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('Unknown');
    // the healthy node is untouched
    const healthy = await c.core.readNode({ name: 'gpu-0' });
    expect(healthy.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
  }, 90_000);

  it('stop() leaves no pod or control-plane process running', async () => {
    const podPids = c.kubelet.pods().flatMap((p) => (p.pid ? [p.pid] : []));
    expect(podPids.length).toBeGreaterThanOrEqual(2); // gpu-pod and vip
    const all = [...podPids, ...Object.values(c.cp.pids)];
    expect(all.every(pidAlive)).toBe(true);
    await c.stop();
    expect(all.filter(pidAlive)).toEqual([]);
  }, 60_000);
});
