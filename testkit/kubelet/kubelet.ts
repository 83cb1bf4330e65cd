/**
 * The test kubelet: registers fake GPU nodes and runs the pods the real
 * scheduler binds to them as local processes of this repo's code. One
 * instance serves any number of nodes of one cluster.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { makeLogger, type Logger, toolPath } from '../cluster/index.ts';
import { startPodInformer, type PodInformer } from './informer.ts';
import { FakeNode, type NodeSpec } from './node.ts';
import { logFileName, type PodContext, PodWorker } from './pod.ts';
import { sandboxAvailable } from './sandbox.ts';
import { type KubeletServer, startKubeletServer } from './server.ts';

export interface KubeletOptions {
  kubeconfigPath: string;
  nodes: NodeSpec[];
  /** Root of this repo: our images' /app maps here. */
  repoRoot: string;
  /** Pod logs go to `<logDir>/<namespace>_<pod>.log`. */
  logDir: string;
  /** Per-pod files (kubeconfig, volumes, HOME); default a mkdtemp dir, removed by stop(). */
  stateDir?: string;
  log?: Logger;
  /** Node 22 binary for `node` commands; default `<repoRoot>/node_modules/.bin/node`, else this process's node. */
  nodeBin?: string;
  /** Env every pod process starts from (pods do not inherit the kubelet's env); default a standard PATH. */
  baseEnv?: Record<string, string>;
  /** Lease renewal period; default 10 s. */
  heartbeatMs?: number;
}

export interface PodProcessInfo {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  phase: PodWorker['phase'];
  pid: number | undefined;
  restartCount: number;
  logFile: string;
}

export interface Kubelet {
  /** Names of the nodes this kubelet serves. */
  nodeNames(): string[];
  addNode(spec: NodeSpec): Promise<void>;
  /** Stops the node's pods (SIGTERM, then SIGKILL after `graceMs`, default 5 s) and deletes the Node object. */
  removeNode(name: string, opts?: { graceMs?: number }): Promise<void>;
  /**
   * A machine dying: SIGKILL its pods and stop its heartbeat, leaving the Node
   * object. The node-lifecycle controller marks it NotReady after its grace
   * period (50 s by default) and taints it unreachable; its pods stay
   * Terminating once deleted, as on a real dead node.
   */
  failNode(name: string): Promise<void>;
  /** PIDs of the running process of a pod (empty when not running). */
  pidsOf(name: string, namespace?: string): number[];
  /** The pod's log file (it may not exist yet). */
  logFileOf(name: string, namespace?: string): string;
  /** Pods this kubelet knows, with their process state. */
  pods(): PodProcessInfo[];
  /** Kills every pod process (SIGTERM, SIGKILL after `graceMs`, default 3 s) and stops heartbeats and watches. Leaves API objects alone. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Server URL and CA (PEM) of the kubeconfig's current cluster. */
function clusterOf(kc: KubeConfig): { server: string; caPem: string } {
  const c = kc.getCurrentCluster();
  if (!c) throw new Error('kubeconfig has no current cluster');
  const caPem = c.caData ? Buffer.from(c.caData, 'base64').toString('utf8') : c.caFile ? readFileSync(c.caFile, 'utf8') : '';
  return { server: c.server, caPem };
}

export async function startKubelet(opts: KubeletOptions): Promise<Kubelet> {
  const log = opts.log ?? makeLogger('kubelet');
  const kc = new KubeConfig();
  kc.loadFromFile(opts.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const coord = kc.makeApiClient(CoordinationV1Api);
  mkdirSync(opts.logDir, { recursive: true });
  const ownState = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'spotswarm-kubelet-'));
  mkdirSync(stateDir, { recursive: true });
  const repoNode = join(opts.repoRoot, 'node_modules', '.bin', 'node');
  const { server, caPem } = clusterOf(kc);
  const sandbox = sandboxAvailable();
  if (!sandbox) {
    log.warn('unprivileged user namespaces are unavailable (unshare --user --mount failed): pods run without their own /etc/hosts (no Service names) and readOnlyRootFilesystem is not enforced');
  }
  const ctx: PodContext = {
    core,
    log,
    repoRoot: opts.repoRoot,
    nodeBin: opts.nodeBin ?? (existsSync(repoNode) ? repoNode : process.execPath),
    natsServerBin: toolPath('nats-server'),
    sandbox,
    logDir: opts.logDir,
    stateDir,
    server,
    caPem,
    baseEnv: opts.baseEnv ?? { PATH: DEFAULT_PATH },
  };

  const nodes = new Map<string, FakeNode>();
  const failed = new Set<string>();
  const workers = new Map<string, PodWorker>(); // by pod uid

  const upsert = (pod: V1Pod): void => {
    const node = pod.spec?.nodeName ?? '';
    const uid = pod.metadata?.uid ?? '';
    if (!nodes.has(node) || failed.has(node) || !uid) return;
    let w = workers.get(uid);
    if (!w) {
      w = new PodWorker(pod, ctx);
      workers.set(uid, w);
    }
    w.pod = pod;
    if (pod.metadata?.deletionTimestamp) {
      if (w.phase === 'deleting') return; // already on its way out
      const worker = w;
      void worker.terminate().finally(() => {
        if (workers.get(uid) === worker) workers.delete(uid);
      });
    } else {
      w.start();
    }
  };
  const remove = (pod: V1Pod): void => {
    const uid = pod.metadata?.uid ?? '';
    const w = workers.get(uid);
    if (!w) return;
    workers.delete(uid);
    const graceS = pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    if (w.phase !== 'deleting') log.info(`pod ${w.namespace}/${w.name}: removed from the API; stopping it`);
    void w.abandon(graceS * 1000);
  };

  const find = (name: string, namespace: string) => [...workers.values()].filter((w) => w.name === name && w.namespace === namespace);
  const logServer: KubeletServer | undefined = await startKubeletServer(
    stateDir,
    {
      logFile: (ns, pod) => find(pod, ns)[0]?.logFile,
      running: (ns, pod) => find(pod, ns).some((w) => ['pending', 'running', 'backoff'].includes(w.phase)),
    },
    log,
  );

  let informer: PodInformer | undefined;
  const addNode = async (spec: NodeSpec): Promise<void> => {
    if (nodes.has(spec.name)) throw new Error(`node ${spec.name} already registered by this kubelet`);
    const n = new FakeNode(spec, core, coord, log, logServer?.port ?? 0);
    await n.register(opts.heartbeatMs);
    nodes.set(spec.name, n);
    failed.delete(spec.name);
    // pods may have been bound to this node before we served it
    for (const p of informer?.list() ?? []) if (p.spec?.nodeName === spec.name) upsert(p);
  };

  const workersOn = (node: string) => [...workers.values()].filter((w) => w.node === node);

  try {
    for (const spec of opts.nodes) await addNode(spec);
    informer = await startPodInformer(kc, core, 'spec.nodeName!=', { upsert, remove }, log);
    for (const p of informer.list()) upsert(p);
  } catch (err) {
    for (const n of nodes.values()) n.stopHeartbeat();
    await informer?.stop();
    await logServer?.close();
    throw err;
  }
  log.info(`kubelet serving ${[...nodes.keys()].join(', ')}; pod logs in ${opts.logDir}`);

  return {
    nodeNames: () => [...nodes.keys()],
    addNode,
    async removeNode(name, o = {}) {
      const n = nodes.get(name);
      if (!n) throw new Error(`node ${name} is not served by this kubelet`);
      nodes.delete(name);
      n.stopHeartbeat();
      await Promise.all(
        workersOn(name).map(async (w) => {
          workers.delete(w.uid);
          await w.abandon(o.graceMs ?? 5_000);
        }),
      );
      await n.delete();
      log.info(`node ${name} removed`);
    },
    async failNode(name) {
      const n = nodes.get(name);
      if (!n) throw new Error(`node ${name} is not served by this kubelet`);
      failed.add(name);
      n.stopHeartbeat();
      await Promise.all(
        workersOn(name).map((w) => {
          workers.delete(w.uid);
          return w.kill();
        }),
      );
      log.info(`node ${name} failed: pods killed, heartbeat stopped`);
    },
    pidsOf(name, namespace = 'default') {
      return find(name, namespace)
        .map((w) => w.pid)
        .filter((p): p is number => p !== undefined);
    },
    logFileOf: (name, namespace = 'default') => join(opts.logDir, logFileName(namespace, name)),
    pods: () =>
      [...workers.values()].map((w) => ({
        namespace: w.namespace,
        name: w.name,
        uid: w.uid,
        node: w.node,
        phase: w.phase,
        pid: w.pid,
        restartCount: w.restartCount,
        logFile: w.logFile,
      })),
    async stop(o = {}) {
      await informer?.stop();
      for (const n of nodes.values()) n.stopHeartbeat();
      await Promise.all([...workers.values()].map((w) => w.abandon(o.graceMs ?? 3_000)));
      workers.clear();
      await logServer?.close();
      if (ownState) rmSync(stateDir, { recursive: true, force: true });
      log.info('kubelet stopped');
    },
  };
}
