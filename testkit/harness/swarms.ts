/**
 * The shared setup of operator e2e tests: a test cluster with the CRD and the
 * spotswarm-system namespace, a nats-server, and helpers to apply the example
 * swarm and read its status and pods.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { parse, stringify } from 'yaml';
import { GROUP, LABEL_SWARM, PLURAL, VERSION, type TrainingSwarm } from '../../api/index.ts';
import { REPO_ROOT, startTestCluster, type TestCluster, type TestClusterOptions } from './cluster.ts';
import { startNats, type NatsServer } from './nats.ts';
import { startOperator, type OperatorOptions, type OperatorProcess } from './operator.ts';

export interface SwarmEnv {
  c: TestCluster;
  nats: NatsServer;
  /** The tiny example swarm, named and pointed at this env's NATS; patch it before applying. */
  tinySwarm(name?: string): TrainingSwarm;
  apply(swarm: TrainingSwarm): Promise<void>;
  status(name: string, namespace?: string): Promise<NonNullable<TrainingSwarm['status']>>;
  /** The swarm's pods that are not being deleted. */
  pods(name: string, namespace?: string): Promise<V1Pod[]>;
  startOperator(identity: string, opts?: Partial<OperatorOptions>): OperatorProcess;
  stop(): Promise<void>;
}

/** Installs crds/ into a fresh test cluster; pass `operator` to start one operator process. */
export async function startSwarmEnv(opts: TestClusterOptions & { operator?: Partial<OperatorOptions> & { identity: string } }): Promise<SwarmEnv> {
  const c = await startTestCluster(opts);
  const nats = await startNats();
  const operators: OperatorProcess[] = [];
  const env: SwarmEnv = {
    c,
    nats,
    tinySwarm(name = 'tiny') {
      const s = parse(readFileSync(join(REPO_ROOT, 'crds/examples/tiny.yaml'), 'utf8')) as TrainingSwarm;
      s.metadata.name = name;
      s.spec.nats = { ...s.spec.nats, url: nats.url };
      return s;
    },
    async apply(swarm) {
      const r = await c.kubectl(['apply', '-f', '-'], { input: stringify(swarm) });
      if (r.code !== 0) throw new Error(`kubectl apply ${swarm.metadata.name}: ${r.stderr}`);
    },
    async status(name, namespace = 'default') {
      const s = (await c.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as TrainingSwarm;
      return s.status ?? {};
    },
    pods(name, namespace = 'default') {
      return livePods(c, `${LABEL_SWARM}=${name}`, namespace);
    },
    startOperator(identity, o = {}) {
      const op = startOperator({ kubeconfigPath: c.cp.kubeconfigPath, identity, logDir: c.logDir, ...o });
      operators.push(op);
      return op;
    },
    async stop() {
      for (const op of operators) await op.kill();
      await c.stop();
      await nats.stop();
    },
  };
  try {
    const crd = await c.kubectl(['apply', '-f', join(REPO_ROOT, 'crds/')]);
    if (crd.code !== 0) throw new Error(`kubectl apply crds/: ${crd.stderr}`);
    await c.kubectl(['wait', '--for', 'condition=established', 'crd/trainingswarms.spotswarm.dev', '--timeout=60s']);
    await c.createNamespace('spotswarm-system');
    if (opts.operator) env.startOperator(opts.operator.identity, opts.operator);
  } catch (err) {
    await env.stop();
    throw err;
  }
  return env;
}

/**
 * A second datacenter for `env`: a test cluster with the PriorityClass (remote clusters need
 * it, not the CRD), and its kubeconfig in the home cluster's Secret
 * spotswarm-system/<secretName> (key `kubeconfig`), for a placement's kubeconfigSecretRef.
 * The caller stops it.
 */
export async function startRemoteCluster(env: SwarmEnv, opts: TestClusterOptions & { secretName: string }): Promise<TestCluster> {
  const remote = await startTestCluster(opts);
  try {
    const pc = await remote.kubectl(['apply', '-f', join(REPO_ROOT, 'crds/priorityclass.yaml')]);
    if (pc.code !== 0) throw new Error(`kubectl apply priorityclass in ${opts.name}: ${pc.stderr}`);
    const secret = await env.c.kubectl(['-n', 'spotswarm-system', 'create', 'secret', 'generic', opts.secretName, `--from-file=kubeconfig=${remote.cp.kubeconfigPath}`]);
    if (secret.code !== 0) throw new Error(`creating Secret ${opts.secretName}: ${secret.stderr}`);
  } catch (err) {
    await remote.stop();
    throw err;
  }
  return remote;
}

/** The pods in `namespace` of cluster `c` that match `labelSelector` and are not being deleted. */
export async function livePods(c: TestCluster, labelSelector: string, namespace = 'default'): Promise<V1Pod[]> {
  return (await c.core.listNamespacedPod({ namespace, labelSelector })).items.filter((p) => !p.metadata?.deletionTimestamp);
}

export const running = (ps: V1Pod[]): number => ps.filter((p) => p.status?.phase === 'Running').length;
export const waiting = (ps: V1Pod[]): number => ps.filter((p) => p.status?.phase === 'Pending' && !p.spec?.nodeName).length;
