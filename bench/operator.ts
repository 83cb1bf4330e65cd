/**
 * npm run bench:operator [-- --swarms 100 --nodes 500 --peers 3 --gpus-per-node 4]
 *
 * How fast does the operator get N swarms' trainer pods placed, compared with
 * what the built-in ReplicaSet controller achieves for the same pods, on the
 * same control plane, in the same run?
 *
 *   1. A real control plane (etcd, kube-apiserver, kube-scheduler,
 *      kube-controller-manager with default client QPS) on free ports.
 *   2. M fake GPU nodes registered from this process with the test kubelet's
 *      FakeNode (Ready, no not-ready taint, a Lease renewed every 10 s). No
 *      pod runs as a process: binding is what is measured, and 500 node
 *      processes would swamp 2 cores. Bound pods stay Pending, which the
 *      operator treats as "scheduled, not running" and leaves alone.
 *   3. The operator as its own process (leader election on, production lease
 *      timings), metrics on a free 127.0.0.1 port.
 *   4. Probe: a one-peer swarm in namespace bench-probe; the spec of the pod
 *      the operator makes for it becomes the baselines' pod (same GPU, CPU
 *      and memory requests, PriorityClass, env), then swarm and pod are
 *      removed. An operator that cannot make a pod fails the bench here.
 *   5. Floor phase, namespace bench-direct: the bench creates the N x P
 *      pods itself, with the same create concurrency as the other phases. Only the apiserver and the scheduler work here, so
 *      this is the fastest any controller could be on this machine today.
 *   6. Baseline phase, namespace bench-replicaset: N ReplicaSets (replicas =
 *      P) with that pod as template (restartPolicy Always, as ReplicaSets
 *      require), handled by kube-controller-manager.
 *   7. kubeswarm phase, namespace bench-kubeswarm: N TrainingSwarms based on
 *      crds/examples/tiny-cpu.yaml (peers 1..P, 1 GPU each, the default
 *      PriorityClass, a NATS URL nobody dials), created through the API.
 *      Afterwards the bench waits until the operator is quiet (its reconcile
 *      and request counters stop moving) and reads its /metrics: API
 *      requests and reconciles during the phase, their ratio, and the Events
 *      it created (Events are not in kubeswarm_api_requests_total; they are
 *      counted from the API). Peak RSS is the max of VmRSS sampled every
 *      second and VmHWM from /proc at the end.
 *
 * Every phase is timed from its first create until the bench's pod watch has
 * seen every pod bound (spec.nodeName set). Phases run one after another on
 * the same nodes; after the floor and baseline phases their namespace is
 * emptied (ReplicaSets deleted, pods force-deleted with grace 0, since no
 * kubelet would finish a graceful delete) and the bench waits until it is,
 * so every phase starts on the same empty nodes. Capacity only has to fit
 * one phase: nodes x gpus-per-node >= N x P.
 *
 * Ratio = kubeswarm bind-all seconds / replicaset bind-all seconds (below 1:
 * the operator is faster than the built-in controller). The baseline is the
 * built-in controller as shipped: kube-controller-manager's default client
 * rate limit (20 QPS, burst 30), which a controller's creates and its Events
 * share. The operator has no client-side rate limit. All phases share the
 * scheduler's (50 QPS, burst 100). Swarm applies take as long as the
 * apiserver needs, so they are part of the measured time in every phase.
 *
 * Progress goes to stderr; stdout gets a summary and ends with ONE JSON line.
 * Logs (control plane, operator, fake nodes) stay in .tmp/bench/operator/.
 * Every process this starts is stopped by PID at the end, on failure and on
 * Ctrl-C. Exit code 0 only when every phase bound every pod.
 *
 * Flags (and env): --swarms (KUBESWARM_BENCH_SWARMS, 100), --nodes
 * (KUBESWARM_BENCH_NODES, 500), --peers (KUBESWARM_BENCH_PEERS, 3),
 * --gpus-per-node (KUBESWARM_BENCH_GPUS_PER_NODE, 4), --operator-concurrency
 * (KUBESWARM_BENCH_OPERATOR_CONCURRENCY, the operator's default),
 * --apply-concurrency (10), --timeout seconds per phase
 * (KUBESWARM_BENCH_TIMEOUT_SECONDS, 300), --skip-baseline (the floor and
 * ReplicaSet phases), --log-dir.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  AppsV1Api, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, ListWatch, Watch,
  type V1Pod, type V1PodSpec, type V1ReplicaSet,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DEFAULT_PRIORITY_CLASS, GROUP, PLURAL, VERSION, type TrainingSwarm } from '../api/index.ts';
import { startControlPlane, type ControlPlane } from '../e2e/cluster/controlplane.ts';
import { makeLogger } from '../e2e/cluster/log.ts';
import { freePort } from '../e2e/cluster/ports.ts';
import { pidAlive } from '../e2e/cluster/proc.ts';
import { toolPath } from '../e2e/cluster/tools.ts';
import { runKubectl } from '../e2e/harness/cluster.ts';
import { startOperator, type OperatorProcess } from '../e2e/harness/operator.ts';
import { FakeNode, NOT_READY_TAINT } from '../e2e/kubelet/node.ts';

const ROOT = resolve(import.meta.dirname, '..');
const NS_BASELINE = 'bench-replicaset';
const NS_SWARMS = 'bench-kubeswarm';
const NS_DIRECT = 'bench-direct';
const NS_PROBE = 'bench-probe';
const PROGRESS_MS = 5_000;
/** The kubeswarm phase gives up early when the operator made no pod this long while its reconciles fail. */
const STALL_MS = 60_000;

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    swarms: { type: 'string' },
    nodes: { type: 'string' },
    peers: { type: 'string' },
    'gpus-per-node': { type: 'string' },
    'operator-concurrency': { type: 'string' },
    'apply-concurrency': { type: 'string' },
    timeout: { type: 'string' },
    'skip-baseline': { type: 'boolean', default: false },
    'log-dir': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
  process.exit(0);
}

function intOpt(flag: string | undefined, envName: string, def: number, min: number): number {
  const raw = flag ?? process.env[envName];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`bench:operator: ${flag !== undefined ? 'flag' : envName}=${raw}: must be an integer >= ${min}\n`);
    process.exit(2);
  }
  return v;
}

const opt = {
  swarms: intOpt(flags.swarms, 'KUBESWARM_BENCH_SWARMS', 100, 1),
  nodes: intOpt(flags.nodes, 'KUBESWARM_BENCH_NODES', 500, 1),
  peers: intOpt(flags.peers, 'KUBESWARM_BENCH_PEERS', 3, 1),
  gpusPerNode: intOpt(flags['gpus-per-node'], 'KUBESWARM_BENCH_GPUS_PER_NODE', 4, 1),
  operatorConcurrency: flags['operator-concurrency'] ?? process.env['KUBESWARM_BENCH_OPERATOR_CONCURRENCY'],
  applyConcurrency: intOpt(flags['apply-concurrency'], 'KUBESWARM_BENCH_APPLY_CONCURRENCY', 10, 1),
  timeoutMs: intOpt(flags.timeout, 'KUBESWARM_BENCH_TIMEOUT_SECONDS', 300, 10) * 1000,
  baseline: !flags['skip-baseline'],
  logDir: resolve(flags['log-dir'] ?? join(ROOT, '.tmp', 'bench', 'operator')),
};
const PODS = opt.swarms * opt.peers;
if (opt.nodes * opt.gpusPerNode < PODS) {
  process.stderr.write(`bench:operator: ${opt.nodes} nodes x ${opt.gpusPerNode} GPUs cannot hold ${PODS} one-GPU pods; raise --nodes or --gpus-per-node\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- small helpers

const t = (): number => performance.now();
const started = t();
const secs = (ms: number): number => Math.round(ms) / 1000;
const say = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} [bench] ${line}\n`);

/** Runs `fn` over `items` with at most `n` in flight. */
async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  }));
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User+system CPU seconds a process has used so far (0 if it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based)
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** A /proc/<pid>/status field in KiB (VmRSS, VmHWM), or 0. */
function procKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format, enough for counters, gauges and histogram series. */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

interface OperatorCounters {
  requests: number;
  reconciles: number;
  byRequest: Record<string, number>;
  byResult: Record<string, number>;
  reconcileSecondsSum: number;
  leader: number;
}

function countersOf(samples: Sample[]): OperatorCounters {
  const c: OperatorCounters = { requests: 0, reconciles: 0, byRequest: {}, byResult: {}, reconcileSecondsSum: 0, leader: 0 };
  for (const s of samples) {
    if (s.name === 'kubeswarm_api_requests_total') {
      c.requests += s.value;
      const k = `${s.labels['verb']} ${s.labels['resource']} ${s.labels['code']}`;
      c.byRequest[k] = (c.byRequest[k] ?? 0) + s.value;
    } else if (s.name === 'kubeswarm_reconcile_total') {
      c.reconciles += s.value;
      const k = s.labels['result'] ?? '';
      c.byResult[k] = (c.byResult[k] ?? 0) + s.value;
    } else if (s.name === 'kubeswarm_reconcile_duration_seconds_sum') {
      c.reconcileSecondsSum += s.value;
    } else if (s.name === 'kubeswarm_leader') {
      c.leader = s.value;
    }
  }
  return c;
}

function diffCounts(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0);
  return out;
}

// ---------------------------------------------------------------- state, and stopping it all

let cp: ControlPlane | undefined;
let operator: OperatorProcess | undefined;
const fakeNodes: FakeNode[] = [];
const trackers: BindTracker[] = [];
const timers: NodeJS.Timeout[] = [];
let stopping: Promise<void> | undefined;

function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const tm of timers) clearInterval(tm);
    for (const n of fakeNodes) n.stopHeartbeat();
    await Promise.all(trackers.map((tr) => tr.stop().catch(() => undefined)));
    await operator?.stop().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
  })();
  return stopping;
}

let finishing = false;
/** Stops everything, then prints the one JSON line last and exits. The first caller wins. */
async function finish(result: Record<string, unknown>, code: number): Promise<void> {
  if (finishing) return;
  finishing = true;
  await stopAll();
  say(`done in ${secs(t() - started)}s; every process the bench started is stopped`);
  // Open watches or sockets must not keep the bench alive.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(code));
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (finishing) process.exit(130);
    say(`${sig}: stopping every process the bench started`);
    void finish({ bench: 'operator', complete: false, error: `interrupted by ${sig}`, swarms: opt.swarms, nodes: opt.nodes, pods: PODS }, 130);
  });
}

// ---------------------------------------------------------------- watching binds

/** Watches one namespace's pods and remembers when each was first seen, and first seen bound. */
class BindTracker {
  readonly namespace: string;
  readonly #lw: ListWatch<V1Pod>;
  /** uid -> first seen (ms), first seen bound (ms) */
  readonly #pods = new Map<string, { seenAt: number; boundAt?: number; gone?: boolean }>();
  #stopped = false;

  constructor(kc: KubeConfig, core: CoreV1Api, namespace: string) {
    this.namespace = namespace;
    this.#lw = new ListWatch<V1Pod>(`/api/v1/namespaces/${namespace}/pods`, new Watch(kc), () => core.listNamespacedPod({ namespace }), false);
    const upsert = (p: V1Pod): void => {
      const uid = p.metadata?.uid ?? '';
      let e = this.#pods.get(uid);
      if (!e) {
        e = { seenAt: t() };
        this.#pods.set(uid, e);
      }
      if (p.spec?.nodeName && e.boundAt === undefined) e.boundAt = t();
    };
    this.#lw.on('add', upsert);
    this.#lw.on('update', upsert);
    this.#lw.on('delete', (p) => {
      const e = this.#pods.get(p.metadata?.uid ?? '');
      if (e) e.gone = true;
    });
    this.#lw.on('error', (err: unknown) => {
      if (this.#stopped) return;
      say(`pod watch in ${namespace} failed (${(err as Error)?.message ?? String(err)}); restarting`);
      setTimeout(() => void this.#lw.start().catch(() => undefined), 1_000);
    });
  }

  start(): Promise<void> {
    return this.#lw.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#lw.stop();
  }

  live(): { seenAt: number; boundAt?: number }[] {
    return [...this.#pods.values()].filter((e) => !e.gone);
  }

  counts(): { live: number; bound: number; everCreated: number; lastSeenAt: number; lastBoundAt: number; bindLatencyMs: number[] } {
    const live = this.live();
    const bound = live.filter((e) => e.boundAt !== undefined);
    return {
      live: live.length,
      bound: bound.length,
      everCreated: this.#pods.size,
      lastSeenAt: Math.max(0, ...live.map((e) => e.seenAt)),
      lastBoundAt: Math.max(0, ...bound.map((e) => e.boundAt!)),
      bindLatencyMs: bound.map((e) => e.boundAt! - e.seenAt),
    };
  }
}

// ---------------------------------------------------------------- one timed phase

interface PhaseResult {
  name: string;
  complete: boolean;
  applySeconds: number;
  /** Until the watch had seen every expected pod exist. */
  allCreatedSeconds: number | null;
  /** Until the watch had seen every expected pod bound. */
  allBoundSeconds: number | null;
  bound: number;
  created: number;
  /** Per pod, from the watch seeing it created to seeing it bound: the scheduler's share. */
  meanBindLatencyMs: number | null;
  maxBindLatencyMs: number | null;
  /** CPU seconds each process used during the phase (apply to all bound). */
  cpu: Record<string, number>;
}

function cpuSnapshot(): Record<string, number> {
  const pids: Record<string, number> = { ...(cp?.pids ?? {}) };
  if (operator) pids['operator'] = operator.pid;
  const out: Record<string, number> = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const u = process.cpuUsage();
  out['bench'] = (u.user + u.system) / 1e6;
  return out;
}

/** Called every 50 ms during a phase; throws to abort it. Returns extra words for the progress line. */
type PhaseCheck = (elapsedMs: number, c: { live: number; bound: number }) => string;

async function runPhase(name: string, what: string, tracker: BindTracker, create: () => Promise<void>, check: PhaseCheck): Promise<PhaseResult> {
  const cpu0 = cpuSnapshot();
  const t0 = t();
  say(`${name}: creating ${what} (${PODS} pods of 1 GPU)`);
  let applySeconds: number | null = null;
  let applyError: unknown;
  const applied = create().then(() => void (applySeconds = secs(t() - t0)), (err: unknown) => void (applyError = err ?? new Error('create failed')));
  let nextReport = t0 + PROGRESS_MS;
  let complete = false;
  for (;;) {
    const c = tracker.counts();
    if (applySeconds !== null && c.bound >= PODS && c.live === c.bound) {
      complete = true;
      break;
    }
    if (applyError !== undefined) throw applyError;
    if (t() - t0 > opt.timeoutMs) {
      say(`${name}: timed out after ${opt.timeoutMs / 1000}s with ${c.bound}/${PODS} bound`);
      break;
    }
    const extra = check(t() - t0, c);
    if (t() >= nextReport) {
      say(`${name}: ${secs(t() - t0).toFixed(0)}s  ${c.bound}/${PODS} bound, ${c.live} pods exist${extra}`);
      nextReport += PROGRESS_MS;
    }
    await sleep(50);
  }
  await applied;
  const c = tracker.counts();
  const cpu1 = cpuSnapshot();
  const r: PhaseResult = {
    name,
    complete,
    applySeconds: applySeconds ?? secs(t() - t0),
    allCreatedSeconds: c.live >= PODS ? secs(c.lastSeenAt - t0) : null,
    allBoundSeconds: complete ? secs(c.lastBoundAt - t0) : null,
    bound: c.bound,
    created: c.everCreated,
    meanBindLatencyMs: c.bindLatencyMs.length ? Math.round(c.bindLatencyMs.reduce((a, b) => a + b, 0) / c.bindLatencyMs.length) : null,
    maxBindLatencyMs: c.bindLatencyMs.length ? Math.round(Math.max(...c.bindLatencyMs)) : null,
    cpu: Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, Math.round((v - (cpu0[k] ?? 0)) * 100) / 100])),
  };
  say(`${name}: ${complete ? `all ${PODS} pods bound in ${r.allBoundSeconds}s` : `INCOMPLETE (${r.bound}/${PODS} bound)`} (all created by ${r.allCreatedSeconds ?? '-'}s, apply took ${r.applySeconds}s, mean create-to-bind ${r.meanBindLatencyMs} ms)`);
  return r;
}

// ---------------------------------------------------------------- main

async function main(): Promise<Record<string, unknown>> {
  rmSync(opt.logDir, { recursive: true, force: true });
  mkdirSync(opt.logDir, { recursive: true });
  const log = makeLogger('bench', 'warn', { path: join(opt.logDir, 'bench.log') });
  say(`${opt.swarms} swarms x ${opt.peers} peers = ${PODS} pods over ${opt.nodes} fake nodes x ${opt.gpusPerNode} GPUs; logs in ${opt.logDir}`);
  toolPath('kubectl'); // builds the kubernetes tools on a fresh machine (progress on stderr)

  const tCp = t();
  cp = await startControlPlane({ name: 'bench-operator', log, logDir: join(opt.logDir, 'controlplane') });
  const controlPlaneStartSeconds = secs(t() - tCp);
  say(`control plane ready in ${controlPlaneStartSeconds}s (pids ${JSON.stringify(cp.pids)})`);

  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const coord = kc.makeApiClient(CoordinationV1Api);

  const crd = await runKubectl(cp.kubeconfigPath, ['apply', '-f', join(ROOT, 'crds/')]);
  if (crd.code !== 0) throw new Error(`kubectl apply -f crds/: ${crd.stderr.trim()}`);
  const est = await runKubectl(cp.kubeconfigPath, ['wait', '--for', 'condition=established', 'crd/trainingswarms.kubeswarm.io', '--timeout=60s']);
  if (est.code !== 0) throw new Error(`CRD not established: ${est.stderr.trim()}`);
  await core.createNamespace({ body: { metadata: { name: 'kubeswarm-system' } } });

  // Fake nodes: FakeNode registers, reports Ready, lifts the not-ready taint and renews its Lease every 10 s.
  const tNodes = t();
  const width = String(opt.nodes - 1).length;
  const specs = Array.from({ length: opt.nodes }, (_, i) => ({
    name: `bench-gpu-${String(i).padStart(width, '0')}`,
    gpus: opt.gpusPerNode,
    cpu: String(Math.max(8, 2 * opt.gpusPerNode)),
    memory: `${Math.max(64, 16 * opt.gpusPerNode)}Gi`,
  }));
  let registered = 0;
  const progress = setInterval(() => say(`nodes: ${registered}/${opt.nodes} registered`), PROGRESS_MS);
  timers.push(progress);
  await pool(specs, 16, async (spec) => {
    const n = new FakeNode(spec, core, coord, log);
    fakeNodes.push(n);
    await n.register(10_000);
    registered++;
  });
  clearInterval(progress);
  // The scheduler must see every node schedulable before a phase starts.
  for (;;) {
    const nodes = (await core.listNode({ labelSelector: 'kubeswarm.io/fake-node=true' })).items;
    const ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') &&
      !(n.spec?.taints ?? []).some((tn) => tn.key === NOT_READY_TAINT || tn.effect === 'NoSchedule' || tn.effect === 'NoExecute'));
    if (ready.length === opt.nodes) break;
    if (t() - tNodes > 180_000) throw new Error(`only ${ready.length}/${opt.nodes} nodes Ready and untainted after 180s`);
    await sleep(1_000);
  }
  const nodesRegisterSeconds = secs(t() - tNodes);
  say(`${opt.nodes} nodes Ready in ${nodesRegisterSeconds}s`);

  // The operator, as a process of its own, with production lease timings (the harness's short ones could lose the lease under load).
  const metricsPort = await freePort();
  operator = startOperator({
    kubeconfigPath: cp.kubeconfigPath,
    identity: 'bench-operator',
    logDir: opt.logDir,
    env: {
      KUBESWARM_METRICS_PORT: String(metricsPort),
      KUBESWARM_METRICS_HOST: '127.0.0.1',
      KUBESWARM_LEASE_DURATION_SECONDS: '15',
      KUBESWARM_RENEW_DEADLINE_SECONDS: '10',
      KUBESWARM_RETRY_PERIOD_SECONDS: '2',
      ...(opt.operatorConcurrency ? { KUBESWARM_CONCURRENCY: opt.operatorConcurrency } : {}),
    },
  });
  const op = operator;
  const checkOperator = (): void => {
    if (!pidAlive(op.pid)) throw new Error(`the operator (pid ${op.pid}) exited; last lines of ${op.logFile}:\n${op.log().trimEnd().split('\n').slice(-15).join('\n')}`);
  };
  const scrape = async (): Promise<OperatorCounters> => {
    const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`operator /metrics: HTTP ${res.status}`);
    return countersOf(parseMetrics(await res.text()));
  };
  let peakRssKiB = 0;
  const rssSampler = setInterval(() => (peakRssKiB = Math.max(peakRssKiB, procKiB(op.pid, 'VmRSS'))), 1_000);
  timers.push(rssSampler);
  const tOp = t();
  for (;;) {
    checkOperator();
    const leader = await scrape().then((c) => c.leader, () => 0);
    if (leader === 1) break;
    if (t() - tOp > 120_000) throw new Error(`operator not leading after 120s; see ${op.logFile}`);
    await sleep(250);
  }
  say(`operator (pid ${op.pid}) leading in ${secs(t() - tOp)}s; metrics on 127.0.0.1:${metricsPort}`);

  const example = parse(readFileSync(join(ROOT, 'crds/examples/tiny-cpu.yaml'), 'utf8')) as TrainingSwarm;
  const swarmName = (i: number): string => `swarm-${String(i).padStart(String(opt.swarms - 1).length, '0')}`;
  const swarmOf = (i: number, namespace: string): TrainingSwarm => {
    const s = structuredClone(example);
    s.metadata = { name: swarmName(i), namespace };
    s.spec.priorityClassName = DEFAULT_PRIORITY_CLASS;
    s.spec.peers = { ...s.spec.peers, min: 1, max: opt.peers };
    s.spec.trainer.resources.gpus = 1;
    s.spec.nats = { ...s.spec.nats, url: 'nats://127.0.0.1:4222' }; // trainers never start here
    return s;
  };

  // Probe: one swarm of one peer, so the baselines use exactly the pod the operator makes (and a broken operator fails here, fast).
  const podSpec = await probeTrainerPod(swarmOf(0, NS_PROBE));
  const plainPod = (labels: Record<string, string>): V1Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { labels }, spec: structuredClone(podSpec) });
  /** Creates a one-peer swarm, takes the spec of the pod the operator makes for it, then removes both. */
  async function probeTrainerPod(swarm: TrainingSwarm): Promise<V1PodSpec> {
    const t0 = t();
    await core.createNamespace({ body: { metadata: { name: NS_PROBE } } });
    await waitServiceAccount(core, NS_PROBE);
    swarm.metadata.name = 'probe';
    swarm.spec.peers = { ...swarm.spec.peers, min: 1, max: 1 };
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_PROBE, body: swarm });
    let pod: V1Pod | undefined;
    while (!pod) {
      checkOperator();
      pod = (await core.listNamespacedPod({ namespace: NS_PROBE })).items[0];
      if (pod) break;
      if (t() - t0 > STALL_MS) {
        const lastError = op.log().split('\n').reverse().find((l) => l.includes('reconcile failed')) ?? '(no reconcile error in its log)';
        throw new Error(`the operator made no pod for a one-peer probe swarm in ${STALL_MS / 1000}s; last: ${lastError.slice(0, 400)}`);
      }
      await sleep(200);
    }
    // Delete the swarm; the operator releases the pod's accounting finalizer, and grace 0 removes it without a kubelet.
    await custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_PROBE, name: 'probe' });
    for (;;) {
      const left = (await core.listNamespacedPod({ namespace: NS_PROBE })).items;
      const swarms = ((await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_PROBE })) as { items: unknown[] }).items;
      if (left.length === 0 && swarms.length === 0) break;
      if (left.length > 0) await core.deleteCollectionNamespacedPod({ namespace: NS_PROBE, gracePeriodSeconds: 0 });
      if (t() - t0 > 2 * STALL_MS) throw new Error(`probe cleanup: ${left.length} pods and ${swarms.length} swarms left`);
      await sleep(500);
    }
    say(`probe: the operator's trainer pod taken as the baselines' template in ${secs(t() - t0)}s`);
    // What the apiserver and scheduler filled in would be rejected or ignored in a template.
    const spec = structuredClone(pod.spec!);
    delete spec.nodeName;
    delete spec.priority;
    delete spec.preemptionPolicy;
    return spec;
  }
  const each = (fn: (i: number) => Promise<unknown>) => () => pool(Array.from({ length: opt.swarms }, (_, i) => i), opt.applyConcurrency, async (i) => void (await fn(i)));

  /** Times one phase in its own namespace, then (for baselines) empties the namespace again. */
  const phase = async (name: string, what: string, namespace: string, create: () => Promise<void>, cleanup: boolean, check: PhaseCheck = () => (checkOperator(), '')): Promise<PhaseResult> => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await waitServiceAccount(core, namespace);
    const tracker = new BindTracker(kc, core, namespace);
    trackers.push(tracker);
    await tracker.start();
    const r = await runPhase(name, what, tracker, create, check);
    if (!cleanup) return r;
    // No ReplicaSets left to recreate pods, then force-delete the pods: with no kubelet a graceful delete never finishes.
    const tClean = t();
    await apps.deleteCollectionNamespacedReplicaSet({ namespace, propagationPolicy: 'Background' });
    for (;;) {
      const rs = (await apps.listNamespacedReplicaSet({ namespace })).items.length;
      const pods = (await core.listNamespacedPod({ namespace })).items.length;
      if (rs === 0 && pods === 0) break;
      if (pods > 0) await core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
      if (t() - tClean > 120_000) throw new Error(`cleanup of ${namespace}: ${rs} ReplicaSets and ${pods} pods left after 120s`);
      await sleep(500);
    }
    await tracker.stop();
    say(`${name}: namespace ${namespace} emptied in ${secs(t() - tClean)}s`);
    await sleep(3_000); // let the scheduler, GC and informers settle before the next phase
    return r;
  };

  let direct: PhaseResult | undefined;
  let baseline: PhaseResult | undefined;
  if (opt.baseline) {
    // Floor: the bench creates the pods itself (same concurrency as the applies); only the apiserver and the scheduler work.
    direct = await phase('direct-pods', `${PODS} pods directly`, NS_DIRECT, () => pool(Array.from({ length: PODS }, (_, j) => j), opt.applyConcurrency, async (j) => {
      const i = Math.floor(j / opt.peers);
      const pod = plainPod({ 'bench.kubeswarm.io/set': swarmName(i) });
      pod.metadata!.name = `${swarmName(i)}-${j % opt.peers}`;
      await core.createNamespacedPod({ namespace: NS_DIRECT, body: pod });
    }), true);
    // Baseline: ReplicaSets through kube-controller-manager.
    baseline = await phase('replicaset', `${opt.swarms} ReplicaSets`, NS_BASELINE, each((i) => {
      const labels = { 'bench.kubeswarm.io/set': swarmName(i) };
      const pod = plainPod(labels);
      const rs: V1ReplicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: swarmName(i), namespace: NS_BASELINE },
        spec: { replicas: opt.peers, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { ...pod.spec!, restartPolicy: 'Always' } } },
      };
      return apps.createNamespacedReplicaSet({ namespace: NS_BASELINE, body: rs });
    }), true);
  }

  // ------------------------------------------------ kubeswarm: TrainingSwarms through the operator
  checkOperator();
  const before = await scrape();
  // The operator's counters in the progress lines, and a fast failure when it only fails.
  let during = before;
  const opScraper = setInterval(() => void scrape().then((c) => void (during = c), () => undefined), 2_000);
  timers.push(opScraper);
  const swarmsPhase = await phase('kubeswarm', `${opt.swarms} TrainingSwarms`, NS_SWARMS, each((i) =>
    custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS, body: swarmOf(i, NS_SWARMS) })), false,
  (elapsedMs, c) => {
    checkOperator();
    const failed = (during.byResult['error'] ?? 0) - (before.byResult['error'] ?? 0);
    if (elapsedMs > STALL_MS && c.live === 0 && failed > 0) {
      const lastError = op.log().split('\n').reverse().find((l) => l.includes('reconcile failed')) ?? '';
      throw new Error(`the operator created no pod in ${STALL_MS / 1000}s and failed ${failed} reconciles; last: ${lastError.slice(0, 400)}`);
    }
    return `; operator: ${during.reconciles - before.reconciles} reconciles (${failed} failed), ${during.requests - before.requests} API requests`;
  });
  clearInterval(opScraper);
  const atBound = await scrape();

  // Wait until the operator is quiet: no new reconcile or request for 3 s (at most 60 s).
  const tQuiet = t();
  let last = atBound;
  let stillFor = 0;
  while (stillFor < 3_000 && t() - tQuiet < 60_000) {
    await sleep(1_000);
    checkOperator();
    const now = await scrape();
    stillFor = now.reconciles === last.reconciles && now.requests === last.requests ? stillFor + 1_000 : 0;
    last = now;
  }
  const quietAfterSeconds = secs(t() - tQuiet - stillFor);
  const after = last;
  const eventsByReason: Record<string, number> = {};
  for (const e of (await core.listNamespacedEvent({ namespace: NS_SWARMS })).items) {
    if (e.source?.component !== 'kubeswarm-operator' && e.reportingComponent !== 'kubeswarm-operator') continue;
    eventsByReason[e.reason ?? ''] = (eventsByReason[e.reason ?? ''] ?? 0) + (e.count ?? 1);
  }
  const events = Object.values(eventsByReason).reduce((a, b) => a + b, 0);
  const swarmList = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS })) as { items: TrainingSwarm[] };
  const statusScheduled = swarmList.items.filter((s) => s.status?.peers?.scheduled === opt.peers).length;
  const peakHwmKiB = procKiB(op.pid, 'VmHWM');
  peakRssKiB = Math.max(peakRssKiB, peakHwmKiB);

  const requests = after.requests - before.requests;
  const reconciles = after.reconciles - before.reconciles;
  const reconcileSeconds = after.reconcileSecondsSum - before.reconcileSecondsSum;
  const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
  const over = (a: PhaseResult, b: PhaseResult | undefined): number | null =>
    b?.allBoundSeconds && a.allBoundSeconds !== null ? round(a.allBoundSeconds / b.allBoundSeconds) : null;
  const ratio = over(swarmsPhase, baseline);

  const result = {
    bench: 'operator',
    complete: swarmsPhase.complete && (baseline?.complete ?? true) && (direct?.complete ?? true),
    swarms: opt.swarms,
    nodes: opt.nodes,
    peers_per_swarm: opt.peers,
    gpus_per_node: opt.gpusPerNode,
    pods: PODS,
    operator_concurrency: opt.operatorConcurrency ? Number(opt.operatorConcurrency) : null,
    controlplane_start_seconds: controlPlaneStartSeconds,
    nodes_register_seconds: nodesRegisterSeconds,
    kubeswarm_bind_all_seconds: swarmsPhase.allBoundSeconds,
    replicaset_bind_all_seconds: baseline?.allBoundSeconds ?? null,
    direct_bind_all_seconds: direct?.allBoundSeconds ?? null,
    ratio_kubeswarm_over_replicaset: ratio,
    ratio_kubeswarm_over_direct: over(swarmsPhase, direct),
    ratio_replicaset_over_direct: baseline ? over(baseline, direct) : null,
    kubeswarm_create_all_seconds: swarmsPhase.allCreatedSeconds,
    replicaset_create_all_seconds: baseline?.allCreatedSeconds ?? null,
    direct_create_all_seconds: direct?.allCreatedSeconds ?? null,
    kubeswarm_apply_seconds: swarmsPhase.applySeconds,
    replicaset_apply_seconds: baseline?.applySeconds ?? null,
    direct_apply_seconds: direct?.applySeconds ?? null,
    kubeswarm_mean_create_to_bind_ms: swarmsPhase.meanBindLatencyMs,
    replicaset_mean_create_to_bind_ms: baseline?.meanBindLatencyMs ?? null,
    direct_mean_create_to_bind_ms: direct?.meanBindLatencyMs ?? null,
    kubeswarm_max_create_to_bind_ms: swarmsPhase.maxBindLatencyMs,
    kubeswarm_bound: swarmsPhase.bound,
    replicaset_bound: baseline?.bound ?? null,
    direct_bound: direct?.bound ?? null,
    kubeswarm_pods_created: swarmsPhase.created,
    operator_api_requests: requests,
    operator_reconciles: reconciles,
    operator_requests_per_reconcile: reconciles > 0 ? round(requests / reconciles) : null,
    operator_requests_per_swarm: round(requests / opt.swarms),
    operator_reconciles_per_swarm: round(reconciles / opt.swarms),
    operator_api_requests_at_all_bound: atBound.requests - before.requests,
    operator_reconciles_at_all_bound: atBound.reconciles - before.reconciles,
    operator_quiet_after_all_bound_seconds: quietAfterSeconds,
    operator_mean_reconcile_ms: reconciles > 0 ? round((reconcileSeconds / reconciles) * 1000, 1) : null,
    operator_event_creates: events,
    operator_events_by_reason: eventsByReason,
    operator_requests_by_kind: diffCounts(after.byRequest, before.byRequest),
    operator_reconciles_by_result: diffCounts(after.byResult, before.byResult),
    operator_peak_rss_mib: round(peakRssKiB / 1024, 1),
    swarms_status_scheduled: statusScheduled,
    kubeswarm_cpu_seconds: swarmsPhase.cpu,
    replicaset_cpu_seconds: baseline?.cpu ?? null,
    direct_cpu_seconds: direct?.cpu ?? null,
  };

  const line = (label: string, r: PhaseResult | undefined): string => r
    ? `  ${label.padEnd(26)}all bound in ${r.allBoundSeconds ?? 'INCOMPLETE'}s (all created ${r.allCreatedSeconds ?? '-'}s, apply ${r.applySeconds}s, mean create-to-bind ${r.meanBindLatencyMs} ms)`
    : `  ${label.padEnd(26)}skipped`;
  process.stdout.write([
    '',
    `operator bench: ${opt.swarms} swarms x ${opt.peers} peers = ${PODS} pods, ${opt.nodes} nodes x ${opt.gpusPerNode} GPUs`,
    `  control plane start       ${controlPlaneStartSeconds}s; nodes registered and Ready in ${nodesRegisterSeconds}s`,
    line('direct pods (floor)', direct),
    line('replicaset (baseline)', baseline),
    line('kubeswarm', swarmsPhase),
    `  kubeswarm / replicaset    ${ratio ?? '-'}   (kubeswarm / direct ${result.ratio_kubeswarm_over_direct ?? '-'})`,
    `  operator                  ${requests} API requests / ${reconciles} reconciles = ${result.operator_requests_per_reconcile} per reconcile (+${events} Events); mean reconcile ${result.operator_mean_reconcile_ms} ms; quiet ${quietAfterSeconds}s after all bound`,
    `  operator peak RSS         ${result.operator_peak_rss_mib} MiB`,
    `  swarm status scheduled=${opt.peers} ${statusScheduled}/${opt.swarms}`,
    '',
  ].join('\n') + '\n');
  return result;
}

async function waitServiceAccount(core: CoreV1Api, namespace: string): Promise<void> {
  const t0 = t();
  for (;;) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      return;
    } catch {
      if (t() - t0 > 60_000) throw new Error(`no default ServiceAccount in ${namespace} after 60s`);
      await sleep(200);
    }
  }
}

main().then(
  (result) => finish(result, result['complete'] === true ? 0 : 1),
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    if (!finishing) say(`failed: ${msg}`);
    return finish({ bench: 'operator', complete: false, error: msg.split('\n')[0], swarms: opt.swarms, nodes: opt.nodes, pods: PODS }, 1);
  },
);
