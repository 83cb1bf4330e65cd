/**
 * node bench/operator/cache.ts [--sizes 500,1000,2000]
 *
 * How much heap the operator's pod and node caches hold, with and without
 * the projection of operator/kube/projection.ts, at several cluster sizes,
 * without control planes (bench:operator measures the whole operator; this
 * isolates its caches, in seconds, on a busy machine too).
 *
 * Per size N: N nodes as the fake kubelet registers them (testkit/kubelet's
 * manifest and status) and 1.2 x N trainer pods from the operator's own pod
 * template (the fill benchmark's shape: one bound pod per GPU, and waiting
 * pods), each with what the apiserver and scheduler add (defaults, the
 * service-account token volume, a node name, PodScheduled, managedFields
 * derived from the object's own fields, as the apiserver records them). Each
 * object goes through JSON text and JSON.parse as a watch delivers it, then
 * into a map by name: as it is ("raw", what the cache held before) or
 * projected. Each (size, mode) runs in a child process of its own with
 * --expose-gc: heap used after a full GC once every line is parsed and
 * released, minus heap used before the first line was made, is what the
 * cache holds. stdout: a table, then ONE JSON line.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { GPU_RESOURCE } from '../../api/index.ts';
import { projectNode, projectPod } from '../../operator/kube/projection.ts';
import { trainerPod } from '../../operator/reconcile/pod-template.ts';
import { tinySwarm } from '../../operator/reconcile/testing.ts';
import { nodeManifest, nodeStatusPatch } from '../../testkit/kubelet/node.ts';
import { round } from './stats.ts';

type Mode = 'raw' | 'projected';

/** managedFields as the apiserver records them: every field path of the object, in its FieldsV1 form. */
function fieldsV1(o: unknown): unknown {
  if (Array.isArray(o)) return Object.fromEntries(o.map((x, i) => [`k:{"name":"${(x as { name?: string }).name ?? i}"}`, fieldsV1(x)]));
  if (o && typeof o === 'object') return Object.fromEntries(Object.entries(o).map(([k, v]) => [`f:${k}`, fieldsV1(v)]));
  return {};
}

const managed = (manager: string, subresource: string | undefined, fields: unknown) => ({
  manager, operation: 'Update', apiVersion: 'v1', time: new Date('2026-01-01T00:00:00Z'), fieldsType: 'FieldsV1', fieldsV1: fieldsV1(fields), ...(subresource ? { subresource } : {}),
});

function apiNode(i: number): V1Node {
  const name = `dc1-gpu-${String(i).padStart(4, '0')}`;
  const manifest = nodeManifest({ name, gpus: 1 });
  const status = (nodeStatusPatch({ name, gpus: 1 }, new Date('2026-01-01T00:10:00Z'), new Date('2026-01-01T00:00:00Z')) as { status: V1Node['status'] }).status;
  return {
    ...manifest,
    metadata: {
      ...manifest.metadata, uid: `0000-${i}`, resourceVersion: String(1000 + i), creationTimestamp: new Date('2026-01-01T00:00:00Z'),
      annotations: { 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' },
      managedFields: [managed('bench', undefined, { metadata: manifest.metadata, spec: manifest.spec }), managed('bench', 'status', { status }), managed('kube-controller-manager', undefined, { metadata: { annotations: {} }, spec: { podCIDR: '', podCIDRs: [] } })],
    },
    spec: { ...manifest.spec, podCIDR: `10.244.${i % 250}.0/24`, podCIDRs: [`10.244.${i % 250}.0/24`] },
    status,
  };
}

function apiPod(i: number, bound: boolean): V1Pod {
  const swarm = tinySwarm((s) => {
    s.metadata.name = `swarm-${i % 200}`;
    s.spec.trainer.resources.gpus = 1;
  });
  const p = trainerPod(swarm, { placement: { name: 'dc1', weight: 1, network: { mode: 'PodNetwork' } }, remote: false });
  const name = `${swarm.metadata.name}-peer-${i}`;
  p.metadata = { ...p.metadata, name, namespace: 'bench-spotswarm', uid: `1111-${i}`, resourceVersion: String(5000 + i), creationTimestamp: new Date('2026-01-01T00:00:00Z') };
  const spec = p.spec!;
  spec.containers = spec.containers.map((c) => ({ ...c, terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File', volumeMounts: [...(c.volumeMounts ?? []), { name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] }));
  Object.assign(spec, {
    dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', serviceAccount: 'default', serviceAccountName: 'default', enableServiceLinks: true, priority: 0, preemptionPolicy: 'PreemptLowerPriority',
    terminationGracePeriodSeconds: 30,
    tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    volumes: [...(spec.volumes ?? []), { name: 'kube-api-access', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } }] } }],
    ...(bound ? { nodeName: `dc1-gpu-${String(i).padStart(4, '0')}` } : {}),
  });
  p.status = {
    phase: 'Pending', qosClass: 'Burstable',
    conditions: [bound
      ? { type: 'PodScheduled', status: 'True', lastTransitionTime: new Date('2026-01-01T00:00:01Z') }
      : { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1000 nodes are available: 1000 Insufficient nvidia.com/gpu. preemption: 0/1000 nodes are available: 1000 No preemption victims found for incoming pod.', lastTransitionTime: new Date('2026-01-01T00:00:01Z') }],
  };
  p.metadata.managedFields = [managed('spotswarm-operator', undefined, { metadata: p.metadata, spec: p.spec }), managed('kube-scheduler', 'status', { status: { conditions: p.status.conditions } })];
  return p;
}

/** Child: builds one cache and prints the heap it holds, in bytes. */
function measure(nodes: number, mode: Mode): void {
  const gc = (globalThis as { gc?: () => void }).gc!;
  gc();
  const before = process.memoryUsage().heapUsed;
  // The watch's JSON text; each line is released once parsed, so only the cache is left at the end.
  const lines: (string | undefined)[] = [];
  for (let i = 0; i < nodes; i++) lines.push(JSON.stringify(apiNode(i)));
  const pods = Math.round(nodes * 1.2);
  for (let i = 0; i < pods; i++) lines.push(JSON.stringify(apiPod(i, i < nodes)));
  const cache = new Map<string, unknown>();
  for (let i = 0; i < lines.length; i++) {
    const obj = JSON.parse(lines[i]!) as V1Node & V1Pod;
    lines[i] = undefined;
    const isNode = i < nodes;
    cache.set(`${isNode ? 'node' : 'pod'}/${obj.metadata!.name}`, mode === 'raw' ? obj : isNode ? projectNode(obj) : projectPod(obj));
  }
  gc();
  const held = process.memoryUsage().heapUsed - before;
  process.stdout.write(`${JSON.stringify({ held, objects: cache.size })}\n`);
}

function main(): void {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { sizes: { type: 'string' }, child: { type: 'string' } } });
  if (values.child) {
    const [n, mode] = values.child.split(':') as [string, Mode];
    return measure(Number(n), mode);
  }
  const sizes = (values.sizes ?? '500,1000,2000').split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) {
      process.stderr.write(`bench/operator/cache.ts: --sizes=${values.sizes}: each size must be an integer >= 1\n`);
      process.exit(2);
    }
    return n;
  });
  const run = (n: number, mode: Mode): number => {
    const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', `${n}:${mode}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`child ${n}:${mode} failed: ${r.stderr}`);
    return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { held: number }).held;
  };
  const mib = (b: number): number => round(b / 2 ** 20, 1);
  const rows = sizes.map((n) => {
    const raw = run(n, 'raw');
    const projected = run(n, 'projected');
    return { nodes: n, pods: Math.round(n * 1.2), raw_mib: mib(raw), projected_mib: mib(projected), projected_over_raw: round(projected / raw, 3) };
  });
  process.stdout.write([
    `operator caches (nodes and 1.2 x nodes trainer pods, heap held after GC; GPU resource ${GPU_RESOURCE})`,
    ...rows.map((r) => `  ${String(r.nodes).padStart(6)} nodes, ${String(r.pods).padStart(6)} pods   raw ${r.raw_mib} MiB   projected ${r.projected_mib} MiB   (${r.projected_over_raw} of raw)`),
    '',
  ].join('\n'));
  process.stdout.write(`${JSON.stringify({ bench: 'operator-cache', sizes: rows })}\n`);
}

main();
