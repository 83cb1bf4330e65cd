/**
 * The shared e2e harness: a real control plane plus the test kubelet with
 * fake GPU nodes, API clients and a kubectl runner (waitFor is in wait.ts). One cluster per
 * test file (2 shared cores); stop it in afterAll.
 *
 *   const c = await startTestCluster({ name: 'my-test', nodes: [{ name: 'gpu-0', gpus: 4 }] });
 *   afterAll(() => c.stop());
 *
 * Logs (control-plane binaries, pod stdout/stderr, harness.log) are kept in
 * .tmp/e2e/<name>/ after the run, and replaced by the next run of that name.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, SchedulingV1Api } from '@kubernetes/client-node';
import { type ControlPlane, type ControlPlaneOptions, startControlPlane, makeLogger, type Logger, toolPath } from '../cluster/index.ts';
import { runCommand, type CommandResult } from './command.ts';
import { waitFor } from './wait.ts';
import { type Kubelet, type KubeletOptions, type NodeSpec, startKubelet } from '../kubelet/index.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type KubectlResult = CommandResult;

/** Runs the built kubectl against `kubeconfigPath`; never throws on a non-zero exit. */
export function runKubectl(kubeconfigPath: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<KubectlResult> {
  return runCommand(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], opts);
}

export interface TestClusterOptions {
  /** Names the control plane and the log dir .tmp/e2e/<name>; use the test file's name. */
  name: string;
  /** Fake nodes; default one node "gpu-0" with 4 GPUs. An empty list starts no nodes. */
  nodes?: NodeSpec[];
  /** Terminal log level; default "warn" (everything at info goes to harness.log). */
  logLevel?: string;
  controlPlane?: Partial<ControlPlaneOptions>;
  kubelet?: Partial<Omit<KubeletOptions, 'kubeconfigPath' | 'nodes'>>;
}

export interface TestCluster {
  readonly cp: ControlPlane;
  readonly kubelet: Kubelet;
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly coordination: CoordinationV1Api;
  readonly scheduling: SchedulingV1Api;
  readonly custom: CustomObjectsApi;
  /** .tmp/e2e/<name>: control-plane logs, pod logs, harness.log. */
  readonly logDir: string;
  readonly log: Logger;
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Creates a namespace and waits for its "default" ServiceAccount (pods are rejected before it exists). */
  createNamespace(name: string): Promise<void>;
  /** A pod's stdout+stderr so far ('' if none yet). */
  podLog(name: string, namespace?: string): string;
  /** Stops the kubelet's processes, then the control plane. Idempotent. */
  stop(): Promise<void>;
}

export async function startTestCluster(opts: TestClusterOptions): Promise<TestCluster> {
  const logDir = join(REPO_ROOT, '.tmp', 'e2e', opts.name);
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const log = makeLogger(opts.name, opts.logLevel ?? 'warn', { path: join(logDir, 'harness.log') });
  const cp = await startControlPlane({ name: opts.name, log, logDir: join(logDir, 'controlplane'), ...opts.controlPlane });
  let kubelet: Kubelet;
  try {
    kubelet = await startKubelet({
      kubeconfigPath: cp.kubeconfigPath,
      nodes: opts.nodes ?? [{ name: 'gpu-0', gpus: 4 }],
      repoRoot: REPO_ROOT,
      logDir: join(logDir, 'pods'),
      log,
      ...opts.kubelet,
    });
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  let stopped = false;
  return {
    cp,
    kubelet,
    kc,
    core,
    apps: kc.makeApiClient(AppsV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    scheduling: kc.makeApiClient(SchedulingV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    logDir,
    log,
    kubectl: (args, o) => runKubectl(cp.kubeconfigPath, args, o),
    async createNamespace(name) {
      await core.createNamespace({ body: { metadata: { name } } });
      await waitFor(() => core.readNamespacedServiceAccount({ name: 'default', namespace: name }), { what: `ServiceAccount ${name}/default` });
    },
    podLog(name, namespace = 'default') {
      try {
        return readFileSync(kubelet.logFileOf(name, namespace), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await kubelet.stop();
      } finally {
        await cp.stop();
        log.close();
      }
    },
  };
}
