/**
 * What both modes start from: the control planes (dc1 home, dc2.. remote in
 * FILL), the CRDs and remote kubeconfig Secrets, the fake nodes, the
 * apiservers' idle rate (FILL), the operator process leading, and the probe
 * that takes the operator's own trainer pod as the baselines' template.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DEFAULT_PRIORITY_CLASS, GROUP, PLURAL, VERSION, type Placement, type TrainingSwarm } from '../../api/index.ts';
import { freePort, makeLogger, pidAlive, startControlPlane, toolPath } from '../../testkit/cluster/index.ts';
import { REPO_ROOT, runKubectl, startOperator } from '../../testkit/harness/index.ts';
import { parseSamples } from '../../testkit/prometheus/index.ts';
import { apiserverRates, markApiservers } from './apiserver.ts';
import { say, secs, t } from './clock.ts';
import { connectCluster, createNamespace, type Cluster } from './clusters.ts';
import { NS_OPERATOR, NS_PROBE, STALL_MS } from './constants.ts';
import type { ModeContext } from './mode-context.ts';
import { registerNodes } from './nodes.ts';
import { countersOf, type OperatorCounters } from './operator-metrics.ts';
import type { BenchOptions } from './options.ts';
import { procKiB } from './proc.ts';
import type { BenchProcesses } from './processes.ts';

export interface SetUp {
  ctx: ModeContext;
  controlPlaneStartSeconds: number;
  /** Until every node was registered. */
  registerSeconds: number;
  /** Until every node was Ready and untainted. */
  nodesRegisterSeconds: number;
  /** FILL: requests/s each apiserver served with nothing but heartbeats and controllers going. */
  apiserverIdle: Record<string, number> | null;
}

export async function setUp(o: BenchOptions, started: BenchProcesses): Promise<SetUp> {
  rmSync(o.logDir, { recursive: true, force: true });
  mkdirSync(o.logDir, { recursive: true });
  const log = makeLogger('bench', 'warn', { path: join(o.logDir, 'bench.log') });
  say(o.fill
    ? `fill: ${o.swarms} swarms x up to ${o.peers} peers (${o.pods} wanted) over ${o.clusters} clusters of ${o.nodesPerCluster.join('+')} fake nodes x ${o.gpusPerNode} GPUs (${o.gpus} GPUs), maxPending ${o.maxPending}; logs in ${o.logDir}`
    : `${o.swarms} swarms x ${o.peers} peers = ${o.pods} pods over ${o.nodes} fake nodes x ${o.gpusPerNode} GPUs; logs in ${o.logDir}`);
  toolPath('kubectl'); // builds the kubernetes tools on a fresh machine (progress on stderr)

  const tCp = t();
  const clusters: Cluster[] = await Promise.all(o.clusterNames.map(async (name, i) => {
    const cp = await startControlPlane({ name: o.fill ? `bench-${name}` : 'bench-operator', log, logDir: join(o.logDir, o.fill ? `controlplane-${name}` : 'controlplane') });
    started.controlPlanes[i] = cp;
    return connectCluster(name, cp, o.nodesPerCluster[i]!, o.nodesPerCluster[i]! * o.gpusPerNode);
  }));
  const controlPlaneStartSeconds = secs(t() - tCp);
  say(`control plane${o.fill ? 's' : ''} ready in ${controlPlaneStartSeconds}s (pids ${JSON.stringify(Object.fromEntries(clusters.map((c) => [c.name, c.cp.pids])))})`);
  const home = clusters[0]!;
  const remotes = clusters.slice(1);

  const crd = await runKubectl(home.cp.kubeconfigPath, ['apply', '-f', join(REPO_ROOT, 'crds/')]);
  if (crd.code !== 0) throw new Error(`kubectl apply -f crds/: ${crd.stderr.trim()}`);
  const est = await runKubectl(home.cp.kubeconfigPath, ['wait', '--for', 'condition=established', 'crd/trainingswarms.spotswarm.dev', '--timeout=60s']);
  if (est.code !== 0) throw new Error(`CRD not established: ${est.stderr.trim()}`);
  await home.core.createNamespace({ body: { metadata: { name: NS_OPERATOR } } });
  // Remote clusters need the PriorityClass and the swarms' namespaces; their kubeconfigs go into Secrets at home.
  for (const c of remotes) {
    const pc = await runKubectl(c.cp.kubeconfigPath, ['apply', '-f', join(REPO_ROOT, 'crds/priorityclass.yaml')]);
    if (pc.code !== 0) throw new Error(`${c.name}: kubectl apply -f crds/priorityclass.yaml: ${pc.stderr.trim()}`);
    await home.core.createNamespacedSecret({ namespace: NS_OPERATOR, body: { metadata: { name: `${c.name}-kubeconfig` }, stringData: { kubeconfig: readFileSync(c.cp.kubeconfigPath, 'utf8') } } });
  }

  const { registerSeconds, readySeconds: nodesRegisterSeconds } = await registerNodes(o, started, clusters, log);
  say(`${o.nodes} nodes Ready in ${nodesRegisterSeconds}s`);

  // What the apiservers serve with nothing but node heartbeats and the controllers going.
  let apiserverIdle: Record<string, number> | null = null;
  if (o.fill) {
    const a = await markApiservers(clusters);
    await sleep(10_000);
    apiserverIdle = apiserverRates(clusters, a, await markApiservers(clusters));
    say(`apiservers idle (heartbeats every ${o.heartbeatMs / 1000}s, controllers): ${JSON.stringify(apiserverIdle)} requests/s`);
  }

  // The operator, as a process of its own, with production lease timings (the harness's short ones could lose the lease under load).
  const metricsPort = await freePort();
  const op = startOperator({
    kubeconfigPath: home.cp.kubeconfigPath,
    identity: 'bench-operator',
    logDir: o.logDir,
    env: {
      SPOTSWARM_METRICS_PORT: String(metricsPort),
      SPOTSWARM_METRICS_HOST: '127.0.0.1',
      SPOTSWARM_LEASE_DURATION_SECONDS: '15',
      SPOTSWARM_RENEW_DEADLINE_SECONDS: '10',
      SPOTSWARM_RETRY_PERIOD_SECONDS: '2',
      ...(o.fill ? { SPOTSWARM_CLUSTER_NAME: home.name } : {}),
      ...(o.operatorConcurrency ? { SPOTSWARM_CONCURRENCY: o.operatorConcurrency } : {}),
    },
  });
  started.operator = op;
  const checkOperator = (): void => {
    if (!pidAlive(op.pid)) throw new Error(`the operator (pid ${op.pid}) exited; last lines of ${op.logFile}:\n${op.log().trimEnd().split('\n').slice(-15).join('\n')}`);
  };
  const lastReconcileError = (): string => op.log().split('\n').reverse().find((l) => l.includes('reconcile failed')) ?? '(no reconcile error in its log)';
  const scrape = async (): Promise<OperatorCounters> => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`operator /metrics: HTTP ${res.status}`);
    return countersOf(parseSamples(await res.text()));
  };
  let peakRssKiB = 0;
  const rssSampler = setInterval(() => (peakRssKiB = Math.max(peakRssKiB, procKiB(op.pid, 'VmRSS'))), 1_000);
  started.timers.push(rssSampler);
  const tOp = t();
  for (;;) {
    checkOperator();
    const leader = await scrape().then((c) => c.leader, () => 0);
    if (leader === 1) break;
    if (t() - tOp > 120_000) throw new Error(`operator not leading after 120s; see ${op.logFile}`);
    await sleep(250);
  }
  say(`operator (pid ${op.pid}) leading in ${secs(t() - tOp)}s; metrics on 127.0.0.1:${metricsPort}`);

  const example = parse(readFileSync(join(REPO_ROOT, 'crds/examples/tiny.yaml'), 'utf8')) as TrainingSwarm;
  const placements: Placement[] = clusters.map((c, i) => ({
    name: c.name,
    weight: 1,
    network: { mode: 'PodNetwork' },
    ...(i > 0 ? { kubeconfigSecretRef: { name: `${c.name}-kubeconfig`, key: 'kubeconfig' } } : {}),
  }));
  const swarmName = (i: number): string => `swarm-${String(i).padStart(String(o.swarms - 1).length, '0')}`;
  const swarmOf = (i: number, namespace: string): TrainingSwarm => {
    const s = structuredClone(example);
    s.metadata = { name: swarmName(i), namespace };
    s.spec.priorityClassName = DEFAULT_PRIORITY_CLASS;
    s.spec.peers = { ...s.spec.peers, min: 1, max: o.peers, maxPending: o.maxPending };
    s.spec.trainer.resources.gpus = 1;
    s.spec.nats = { ...s.spec.nats, url: 'nats://127.0.0.1:4222' }; // trainers never start here
    if (o.fill) s.spec.placements = structuredClone(placements);
    return s;
  };

  // Probe: the baselines use exactly the pod the operator makes, and a broken operator (or placement) fails here, fast.
  const podSpec = await probeTrainerPod(o, clusters, swarmOf(0, NS_PROBE), checkOperator, lastReconcileError);
  const plainPod = (name: string, labels: Record<string, string>): V1Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: structuredClone(podSpec) });

  const ctx: ModeContext = {
    o, started, clusters, home, log, op, scrape, checkOperator, lastReconcileError, swarmName, swarmOf, plainPod,
    peakRss: () => (peakRssKiB = Math.max(peakRssKiB, procKiB(op.pid, 'VmRSS'), procKiB(op.pid, 'VmHWM'))),
  };
  return { ctx, controlPlaneStartSeconds, registerSeconds, nodesRegisterSeconds, apiserverIdle };
}

/** Creates a swarm of one peer per cluster, takes the spec of the pod the operator makes at home, then removes both. */
async function probeTrainerPod(o: BenchOptions, clusters: Cluster[], swarm: TrainingSwarm, checkOperator: () => void, lastReconcileError: () => string): Promise<V1PodSpec> {
  const home = clusters[0]!;
  const t0 = t();
  await createNamespace(clusters, NS_PROBE);
  swarm.metadata.name = 'probe';
  swarm.spec.peers = { ...swarm.spec.peers, min: clusters.length, max: clusters.length };
  await home.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_PROBE, body: swarm });
  let pods: (V1Pod | undefined)[] = [];
  for (;;) {
    checkOperator();
    pods = await Promise.all(clusters.map(async (c) => (await c.core.listNamespacedPod({ namespace: NS_PROBE })).items[0]));
    if (pods.every((p) => p !== undefined)) break;
    if (t() - t0 > STALL_MS) {
      const missing = clusters.filter((_, i) => !pods[i]).map((c) => c.name).join(', ');
      throw new Error(`the operator made no probe pod in ${missing} in ${STALL_MS / 1000}s; last: ${lastReconcileError().slice(0, 400)}`);
    }
    await sleep(200);
  }
  // Delete the swarm; the operator releases the pods' accounting finalizers (and, remote, deletes them), grace 0 removes them without a kubelet.
  await home.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_PROBE, name: 'probe' });
  for (;;) {
    let left = 0;
    for (const c of clusters) {
      const n = (await c.core.listNamespacedPod({ namespace: NS_PROBE })).items.length;
      if (n > 0) await c.core.deleteCollectionNamespacedPod({ namespace: NS_PROBE, gracePeriodSeconds: 0 });
      left += n;
    }
    const swarms = ((await home.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_PROBE })) as { items: unknown[] }).items;
    if (left === 0 && swarms.length === 0) break;
    if (t() - t0 > 2 * STALL_MS) throw new Error(`probe cleanup: ${left} pods and ${swarms.length} swarms left`);
    await sleep(500);
  }
  say(`probe: ${o.fill ? `one pod in each of ${clusters.map((c) => c.name).join(', ')}; ` : ''}the operator's trainer pod taken as the baselines' template in ${secs(t() - t0)}s`);
  // What the apiserver and scheduler filled in would be rejected or ignored in a template.
  const spec = structuredClone(pods[0]!.spec!);
  delete spec.nodeName;
  delete spec.priority;
  delete spec.preemptionPolicy;
  return spec;
}
