/**
 * npm run bench:operator [-- --swarms 100 --nodes 500 --peers 3 --gpus-per-node 4]
 * npm run bench:operator -- --clusters 2 [--swarms 200 --nodes 2000 --peers 16 --max-pending 1]
 *
 * Two modes, one set of parts (control planes, fake nodes, the operator
 * process, its /metrics, pod watches):
 *
 * BIND (--clusters 1, the default). How fast does the operator get N swarms'
 * trainer pods placed, compared with what the built-in ReplicaSet controller
 * achieves for the same pods, on the same control plane, in the same run?
 * Capacity exceeds demand: every pod can bind.
 *
 * FILL (--clusters 2 or more; issue 5's benchmark with the defaults: 200
 * swarms, 2,000 fake GPU nodes of 1 GPU split over 2 clusters, each swarm
 * wanting up to 16 peers). The swarms together want more peers than there
 * are GPUs. How long until every GPU in every cluster is used by a bound
 * trainer pod, how many pods are left waiting, and what does that cost the
 * operator in API requests/s, latency, reconciles, CPU and RSS?
 *
 *   1. Real control planes (etcd, kube-apiserver, kube-scheduler,
 *      kube-controller-manager with default client QPS) on free ports, started
 *      concurrently. FILL: dc1 is the operator's home cluster, dc2.. remote.
 *   2. M fake GPU nodes (split evenly over the clusters), registered from this
 *      process with the test kubelet's FakeNode (Ready, no not-ready taint, a
 *      Lease renewed every --heartbeat-seconds, status every 6th beat), all
 *      clusters concurrently, --register-concurrency per cluster. No pod runs
 *      as a process: binding is what is measured. Bound pods stay Pending,
 *      which the operator treats as "scheduled, not running" and leaves alone.
 *      The bench's API calls share one connection per cluster (see
 *      keepAliveKubeConfig); its pod watches get connections of their own;
 *      the operator's clients are left as they ship.
 *   3. FILL: every remote cluster gets the PriorityClass and the namespaces,
 *      and a kubeconfig Secret in spotswarm-system of dc1 names it (the
 *      MultiKueue pattern the operator uses). The bench then measures the
 *      apiservers' idle request rate (node heartbeats, controllers) for 10 s.
 *   4. The operator as its own process (leader election on, production lease
 *      timings), metrics on a free 127.0.0.1 port.
 *   5. Probe: a swarm in namespace bench-probe (BIND: one peer; FILL: two
 *      peers over every placement, which must land one per cluster); the spec
 *      of the pod the operator makes for it becomes the baselines' pod (same
 *      GPU, CPU and memory requests, PriorityClass, env), then swarm and pods
 *      are removed. An operator that cannot make a pod (or cannot reach a
 *      placement) fails the bench here.
 *   6. Floor phase, namespace bench-direct: the bench creates pods itself
 *      (BIND: the N x P pods; FILL: one pod per GPU in every cluster, all
 *      clusters at once), with --floor-concurrency creates in flight per
 *      cluster. Only the apiservers and schedulers work here, so this is the
 *      fastest any controller could be on this machine today (as long as
 *      it keeps no more creates in flight than the floor does).
 *   7. BIND only. Baseline phase, namespace bench-replicaset: N ReplicaSets
 *      (replicas = P) with that pod as template (restartPolicy Always, as
 *      ReplicaSets require), handled by kube-controller-manager.
 *   8. spotswarm phase, namespace bench-spotswarm: N TrainingSwarms based on
 *      crds/examples/tiny-cpu.yaml (peers min 1, max P, maxPending
 *      --max-pending, 1 GPU each, the default PriorityClass, a NATS URL nobody
 *      dials; FILL: one placement per cluster, equal weights), created through
 *      the API. Afterwards the bench waits until the operator is quiet (its
 *      reconcile and request counters stop moving for 3 s, at most 60 s) and
 *      reads its /metrics: API requests by cluster, verb and resource, their
 *      latency (spotswarm_api_request_duration_seconds), reconciles and their
 *      latency, Events (counted from the API), status writes. Peak RSS is the
 *      max of VmRSS sampled every second and VmHWM from /proc at the end.
 *
 * BIND times every phase from its first create until the bench's pod watch
 * has seen every pod bound (spec.nodeName set). Phases run one after another
 * on the same nodes; after the floor and baseline phases their namespace is
 * emptied (ReplicaSets deleted, pods force-deleted with grace 0, since no
 * kubelet would finish a graceful delete) and the bench waits until it is,
 * so every phase starts on the same empty nodes. Capacity only has to fit
 * one phase: nodes x gpus-per-node >= N x P. Ratio = spotswarm bind-all
 * seconds / replicaset bind-all seconds (below 1: the operator is faster
 * than the built-in controller). The baseline is the built-in controller as
 * shipped: kube-controller-manager's default client rate limit (20 QPS,
 * burst 30), which a controller's creates and its Events share. The operator
 * has no client-side rate limit. All phases share the scheduler's (50 QPS,
 * burst 100).
 *
 * FILL times the floor and the spotswarm phase from the first create until
 * the pod watches have seen as many pods bound in each cluster as it has
 * GPUs (free GPUs = 0 everywhere); it needs N x P > GPUs. Ratio = spotswarm
 * fill seconds / floor fill seconds. Waiting pods (trainer pods not bound and
 * not terminating) are sampled every 250 ms per swarm and cluster: the peak
 * during the fill, the peak after it, and the count once the operator is
 * quiet. Once the GPUs are full a swarm may keep at most maxPending waiting
 * pods per cluster (README, spec.peers.maxPending); the settled count above
 * that bound fails the run (waiting_bounded false, exit 1). Bound pods that
 * go away (bound_pods_removed_by_cluster) are GPUs given up: no ceiling drops
 * here, so it should stay 0 (no kubelet would finish such a delete either).
 * The time from a
 * swarm's create to its first pod's creationTimestamp shows the operator's
 * work queue. Fill times are also given by the apiserver's clock
 * (PodScheduled transitions, whole seconds), with the watches' delivery lag,
 * so a slow watch cannot pass for a slow operator.
 *
 * Swarm applies take as long as the apiserver needs, so they are part of the
 * measured time in every phase. Progress goes to stderr every 5 s; stdout
 * gets a summary and ends with ONE JSON line. Logs (control planes, operator,
 * fake nodes) stay in .tmp/bench/operator/. Every process this starts is
 * stopped by PID at the end, on failure and on Ctrl-C. Exit code 0 only when
 * every phase reached its goal (and, FILL, waiting stayed bounded).
 *
 * Flags (and env): --clusters (SPOTSWARM_BENCH_CLUSTERS, 1), --swarms
 * (SPOTSWARM_BENCH_SWARMS, BIND 100 / FILL 200), --nodes, all clusters
 * together (SPOTSWARM_BENCH_NODES, 500 / 2000), --peers, max per swarm
 * (SPOTSWARM_BENCH_PEERS, 3 / ceil(1.6 x GPUs / swarms), at least 2),
 * --gpus-per-node (SPOTSWARM_BENCH_GPUS_PER_NODE, 4 / 1), --max-pending
 * (SPOTSWARM_BENCH_MAX_PENDING, 1), --operator-concurrency
 * (SPOTSWARM_BENCH_OPERATOR_CONCURRENCY, the operator's default),
 * --apply-concurrency (10), --floor-concurrency per cluster (BIND: the
 * apply concurrency / FILL: 32), --register-concurrency per cluster (16),
 * --heartbeat-seconds (10), --timeout seconds per phase
 * (SPOTSWARM_BENCH_TIMEOUT_SECONDS, 300 / 600), --skip-baseline (the floor
 * and ReplicaSet phases), --log-dir.
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
import { DEFAULT_PRIORITY_CLASS, GROUP, LABEL_SWARM, PLURAL, VERSION, type Placement, type TrainingSwarm } from '../../api/index.ts';
import { parseConfig } from '../../operator/config.ts';
import { freePort, httpGet, makeLogger, pidAlive, startControlPlane, toolPath, type ControlPlane, type Logger } from '../../testkit/cluster/index.ts';
import { runKubectl, startOperator, type OperatorProcess } from '../../testkit/harness/index.ts';
import { FakeNode, NOT_READY_TAINT } from '../../testkit/kubelet/index.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const NS_BASELINE = 'bench-replicaset';
const NS_SWARMS = 'bench-spotswarm';
const NS_DIRECT = 'bench-direct';
const NS_PROBE = 'bench-probe';
const NS_OPERATOR = 'spotswarm-system';
const PROGRESS_MS = 5_000;
/** The spotswarm phase gives up early when the operator made no pod this long while its reconciles fail. */
const STALL_MS = 60_000;
/** How long the swarms' status may take, once the operator is quiet, to agree with what the watches saw. */
const STATUS_SETTLE_MS = 30_000;
/** Label the bench puts on the pods it creates itself (floor, ReplicaSets), grouping them like swarms. */
const LABEL_SET = 'bench.spotswarm.dev/set';

// ---------------------------------------------------------------- options

const { values: flags } = parseArgs({
  options: {
    clusters: { type: 'string' },
    swarms: { type: 'string' },
    nodes: { type: 'string' },
    peers: { type: 'string' },
    'gpus-per-node': { type: 'string' },
    'max-pending': { type: 'string' },
    'operator-concurrency': { type: 'string' },
    'apply-concurrency': { type: 'string' },
    'floor-concurrency': { type: 'string' },
    'register-concurrency': { type: 'string' },
    'heartbeat-seconds': { type: 'string' },
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

function usage(message: string): never {
  process.stderr.write(`bench:operator: ${message}\n`);
  process.exit(2);
}

function intOpt(flag: string | undefined, envName: string, def: number, min: number): number {
  const raw = flag ?? process.env[envName];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) usage(`${flag !== undefined ? 'flag' : envName}=${raw}: must be an integer >= ${min}`);
  return v;
}

const CLUSTERS = intOpt(flags.clusters, 'SPOTSWARM_BENCH_CLUSTERS', 1, 1);
/** Two or more clusters: fill the free GPUs (issue 5); one: bind every pod against the baselines. */
const FILL = CLUSTERS > 1;
const swarmsOpt = intOpt(flags.swarms, 'SPOTSWARM_BENCH_SWARMS', FILL ? 200 : 100, 1);
const nodesOpt = intOpt(flags.nodes, 'SPOTSWARM_BENCH_NODES', FILL ? 2000 : 500, CLUSTERS);
const gpusPerNodeOpt = intOpt(flags['gpus-per-node'], 'SPOTSWARM_BENCH_GPUS_PER_NODE', FILL ? 1 : 4, 1);
const applyConcurrencyOpt = intOpt(flags['apply-concurrency'], 'SPOTSWARM_BENCH_APPLY_CONCURRENCY', 10, 1);
const opt = {
  clusters: CLUSTERS,
  swarms: swarmsOpt,
  nodes: nodesOpt,
  gpusPerNode: gpusPerNodeOpt,
  // FILL: enough peers per swarm that the swarms want 1.6x the GPUs, so waiting pods pile up unless maxPending holds them.
  peers: intOpt(flags.peers, 'SPOTSWARM_BENCH_PEERS', FILL ? Math.max(2, Math.ceil((1.6 * nodesOpt * gpusPerNodeOpt) / swarmsOpt)) : 3, 1),
  maxPending: intOpt(flags['max-pending'], 'SPOTSWARM_BENCH_MAX_PENDING', 1, 0),
  operatorConcurrency: flags['operator-concurrency'] ?? process.env['SPOTSWARM_BENCH_OPERATOR_CONCURRENCY'],
  applyConcurrency: applyConcurrencyOpt,
  // FILL: the operator may keep (its concurrency x 8) creates in flight; the floor must not be held below that.
  floorConcurrency: intOpt(flags['floor-concurrency'], 'SPOTSWARM_BENCH_FLOOR_CONCURRENCY', FILL ? 32 : applyConcurrencyOpt, 1),
  registerConcurrency: intOpt(flags['register-concurrency'], 'SPOTSWARM_BENCH_REGISTER_CONCURRENCY', 16, 1),
  heartbeatMs: intOpt(flags['heartbeat-seconds'], 'SPOTSWARM_BENCH_HEARTBEAT_SECONDS', 10, 1) * 1000,
  timeoutMs: intOpt(flags.timeout, 'SPOTSWARM_BENCH_TIMEOUT_SECONDS', FILL ? 600 : 300, 10) * 1000,
  baseline: !flags['skip-baseline'],
  logDir: resolve(flags['log-dir'] ?? join(ROOT, '.tmp', 'bench', 'operator')),
};
/** Reconciles the operator runs at once: the flag, or the operator's own default (its config parser says which). */
const OPERATOR_WORKERS = ((): number => {
  try {
    return parseConfig(opt.operatorConcurrency ? { SPOTSWARM_CONCURRENCY: opt.operatorConcurrency } : {}, false).concurrency;
  } catch (err) {
    return usage(`--operator-concurrency: ${(err as Error).message}`);
  }
})();
/** BIND: every trainer pod of every swarm. */
const PODS = opt.swarms * opt.peers;
const GPUS = opt.nodes * opt.gpusPerNode;
/** Nodes per cluster: an even split, the first clusters taking the remainder. */
const NODES_PER_CLUSTER = Array.from({ length: CLUSTERS }, (_, i) => Math.floor(opt.nodes / CLUSTERS) + (i < opt.nodes % CLUSTERS ? 1 : 0));
/** Cluster (and placement) names; BIND keeps the operator's default cluster name. */
const CLUSTER_NAMES = FILL ? Array.from({ length: CLUSTERS }, (_, i) => `dc${i + 1}`) : ['local'];
if (!FILL && GPUS < PODS) usage(`${opt.nodes} nodes x ${opt.gpusPerNode} GPUs cannot hold ${PODS} one-GPU pods; raise --nodes or --gpus-per-node`);
if (FILL && PODS <= GPUS) usage(`${opt.swarms} swarms x ${opt.peers} peers = ${PODS} want no more than the ${GPUS} GPUs; filling needs more demand than GPUs (raise --peers or --swarms)`);

// ---------------------------------------------------------------- small helpers

const t = (): number => performance.now();
const started = t();
const secs = (ms: number): number => Math.round(ms) / 1000;
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;
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

/** p in [0, 1] of a list of numbers (nearest rank), or null when empty. */
function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

/**
 * A KubeConfig whose API calls share one connection (HTTP/2 where the
 * apiserver offers it). client-node 2.0.1 builds a new undici Agent for every
 * request (applySecurityAuthentication → createDispatcher), so each call pays
 * a fresh TCP + TLS handshake. Measured on 2 cores: ~9 ms and ~4 ms of client
 * CPU per sequential GET, against ~3 ms and ~1 ms on one shared connection;
 * a fake node costs ~19 ms of bench CPU to register instead of ~6. The
 * bench's own clients (fake-node heartbeats, floor pods, watches) must not
 * take that CPU from what is measured; the operator is left as it ships.
 * Watches stay off this connection: with the pod watches multiplexed on it
 * next to 1,000 nodes' heartbeats (~150 requests/s), pod events reached the
 * bench up to ~110 s late in a 2,000-node run; on their own connections the
 * lag was 2.5 s p50, 7.7 s max.
 */
function keepAliveKubeConfig(path: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  const apply = kc.applySecurityAuthentication.bind(kc);
  type Ctx = Parameters<KubeConfig['applySecurityAuthentication']>[0];
  let shared: ReturnType<Ctx['getDispatcher']>;
  kc.applySecurityAuthentication = async (ctx: Ctx): Promise<void> => {
    await apply(ctx);
    const d = ctx.getDispatcher();
    if (!d) return;
    shared ??= d;
    if (d === shared) return;
    ctx.setDispatcher(shared);
    void d.close().catch(() => undefined); // never used: no connection to close
  };
  return kc;
}

// ---------------------------------------------------------------- the operator's /metrics

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

/** A Prometheus histogram: cumulative count per upper bound (le, Infinity last), plus the sum. */
interface Histo {
  buckets: Map<number, number>;
  sum: number;
}

const emptyHisto = (): Histo => ({ buckets: new Map(), sum: 0 });

function addToHisto(h: Histo, s: Sample): void {
  if (s.name.endsWith('_bucket')) {
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    h.buckets.set(le, (h.buckets.get(le) ?? 0) + s.value);
  } else if (s.name.endsWith('_sum')) {
    h.sum += s.value;
  }
}

function diffHisto(after: Histo | undefined, before: Histo | undefined): Histo {
  const h = emptyHisto();
  for (const [le, c] of after?.buckets ?? []) h.buckets.set(le, c - (before?.buckets.get(le) ?? 0));
  h.sum = (after?.sum ?? 0) - (before?.sum ?? 0);
  return h;
}

function mergeHistos(hs: Histo[]): Histo {
  const h = emptyHisto();
  for (const x of hs) {
    for (const [le, c] of x.buckets) h.buckets.set(le, (h.buckets.get(le) ?? 0) + c);
    h.sum += x.sum;
  }
  return h;
}

/**
 * The q-quantile in milliseconds, interpolated inside its bucket as
 * Prometheus' histogram_quantile does; null when there is no observation, or
 * when it lies beyond the largest finite bucket (reported as `over_ms`).
 */
function histoQuantileMs(h: Histo, q: number): number | null {
  const bs = [...h.buckets].sort((a, b) => a[0] - b[0]);
  const total = bs[bs.length - 1]?.[1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of bs) {
    if (c >= rank) {
      if (le === Infinity) return null;
      return round((prevLe + (le - prevLe) * ((rank - prevCount) / Math.max(1, c - prevCount))) * 1000, 1);
    }
    prevLe = le;
    prevCount = c;
  }
  return null;
}

/** count, mean and percentiles of a histogram (ms), and the share beyond its largest finite bucket. */
function histoSummary(h: Histo): { count: number; mean_ms: number | null; p50_ms: number | null; p90_ms: number | null; p99_ms: number | null; over_ms: number | null; over_share: number } {
  const bs = [...h.buckets].sort((a, b) => a[0] - b[0]);
  const count = bs[bs.length - 1]?.[1] ?? 0;
  const finite = bs.filter(([le]) => le !== Infinity);
  const lastFinite = finite[finite.length - 1];
  return {
    count,
    mean_ms: count > 0 ? round((h.sum / count) * 1000, 1) : null,
    p50_ms: histoQuantileMs(h, 0.5),
    p90_ms: histoQuantileMs(h, 0.9),
    p99_ms: histoQuantileMs(h, 0.99),
    over_ms: lastFinite ? lastFinite[0] * 1000 : null,
    over_share: count > 0 && lastFinite ? round((count - lastFinite[1]) / count, 4) : 0,
  };
}

interface OperatorCounters {
  /** When scraped (bench clock, ms). */
  at: number;
  requests: number;
  reconciles: number;
  /** "verb resource code" (all clusters) → requests. */
  byRequest: Record<string, number>;
  /** "cluster verb resource code" → requests. */
  byClusterRequest: Record<string, number>;
  byCluster: Record<string, number>;
  byResult: Record<string, number>;
  reconcileSecondsSum: number;
  reconcileHisto: Histo;
  /** "cluster verb resource" → latency histogram of spotswarm_api_request_duration_seconds. */
  requestHistos: Map<string, Histo>;
  podsCreated: number;
  leader: number;
}

function countersOf(samples: Sample[]): OperatorCounters {
  const c: OperatorCounters = {
    at: t(), requests: 0, reconciles: 0, byRequest: {}, byClusterRequest: {}, byCluster: {}, byResult: {},
    reconcileSecondsSum: 0, reconcileHisto: emptyHisto(), requestHistos: new Map(), podsCreated: 0, leader: 0,
  };
  const inc = (m: Record<string, number>, k: string, v: number): void => void (m[k] = (m[k] ?? 0) + v);
  for (const s of samples) {
    if (s.name === 'spotswarm_api_requests_total') {
      const { cluster = '', verb = '', resource = '', code = '' } = s.labels;
      c.requests += s.value;
      inc(c.byRequest, `${verb} ${resource} ${code}`, s.value);
      inc(c.byClusterRequest, `${cluster} ${verb} ${resource} ${code}`, s.value);
      inc(c.byCluster, cluster, s.value);
    } else if (s.name === 'spotswarm_reconcile_total') {
      c.reconciles += s.value;
      inc(c.byResult, s.labels['result'] ?? '', s.value);
    } else if (s.name === 'spotswarm_reconcile_duration_seconds_sum') {
      c.reconcileSecondsSum += s.value;
      addToHisto(c.reconcileHisto, s);
    } else if (s.name === 'spotswarm_reconcile_duration_seconds_bucket') {
      addToHisto(c.reconcileHisto, s);
    } else if (s.name.startsWith('spotswarm_api_request_duration_seconds_') && !s.name.endsWith('_count')) {
      const k = `${s.labels['cluster']} ${s.labels['verb']} ${s.labels['resource']}`;
      let h = c.requestHistos.get(k);
      if (!h) c.requestHistos.set(k, (h = emptyHisto()));
      addToHisto(h, s);
    } else if (s.name === 'spotswarm_pods_created_total') {
      c.podsCreated += s.value;
    } else if (s.name === 'spotswarm_leader') {
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

/** Request latency between two scrapes: overall, per cluster, and per "cluster verb resource". */
function requestLatency(after: OperatorCounters, before: OperatorCounters): { all: ReturnType<typeof histoSummary>; byCluster: Record<string, ReturnType<typeof histoSummary>>; byKind: Record<string, ReturnType<typeof histoSummary>> } {
  const diffs = new Map([...after.requestHistos].map(([k, h]) => [k, diffHisto(h, before.requestHistos.get(k))]));
  const byCluster: Record<string, ReturnType<typeof histoSummary>> = {};
  for (const cl of new Set([...diffs.keys()].map((k) => k.split(' ')[0]!))) {
    const s = histoSummary(mergeHistos([...diffs].filter(([k]) => k.split(' ')[0] === cl).map(([, h]) => h)));
    if (s.count > 0) byCluster[cl] = s;
  }
  const byKind: Record<string, ReturnType<typeof histoSummary>> = {};
  for (const [k, h] of [...diffs].sort((a, b) => a[0].localeCompare(b[0]))) {
    const s = histoSummary(h);
    if (s.count > 0) byKind[k] = s;
  }
  return { all: histoSummary(mergeHistos([...diffs.values()])), byCluster, byKind };
}

// ---------------------------------------------------------------- state, and stopping it all

/** One control plane with its fake nodes and the bench's clients for it. */
interface Cluster {
  /** Placement name (FILL: dc1, dc2, ...; BIND: the operator's default, local). */
  name: string;
  cp: ControlPlane;
  kc: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  coord: CoordinationV1Api;
  /**
   * For the pod watches: client-node as it ships, so every watch has a
   * connection of its own instead of sharing one with a thousand nodes' heartbeats.
   */
  watchKc: KubeConfig;
  watchCore: CoreV1Api;
  nodes: number;
  gpus: number;
}

const controlPlanes: ControlPlane[] = [];
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
    await Promise.all(controlPlanes.map((cp) => cp.stop().catch(() => undefined)));
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

const failedResult = (error: string): Record<string, unknown> => ({
  bench: 'operator', mode: FILL ? 'fill' : 'bind', complete: false, error,
  clusters: opt.clusters, swarms: opt.swarms, nodes: opt.nodes, ...(FILL ? { gpus: GPUS, peers_max_per_swarm: opt.peers } : { pods: PODS }),
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (finishing) process.exit(130);
    say(`${sig}: stopping every process the bench started`);
    void finish(failedResult(`interrupted by ${sig}`), 130);
  });
}

// ---------------------------------------------------------------- watching binds

interface PodEntry {
  seenAt: number;
  boundAt?: number;
  /** Wall-clock ms: when the watch delivered the pod, its creationTimestamp, and its PodScheduled=True transition (1 s resolution). */
  seenWall: number;
  createdWall?: number;
  boundWall?: number;
  /** Deleted, or terminating: no longer a peer, no longer waiting. */
  gone?: boolean;
  /** The swarm (or bench set) the pod belongs to. */
  group: string;
}

interface TrackerCounts {
  live: number;
  bound: number;
  /** Live pods not bound to a node. */
  waiting: number;
}

/**
 * Watches one namespace's pods in one cluster and remembers when each was
 * first seen, and first seen bound. Counts are kept as events arrive, so
 * reading them every 50 ms costs nothing at thousands of pods.
 */
class BindTracker {
  readonly cluster: string;
  readonly namespace: string;
  readonly #lw: ListWatch<V1Pod>;
  /** uid → entry */
  readonly #pods = new Map<string, PodEntry>();
  readonly #waitingByGroup = new Map<string, number>();
  readonly #boundByGroup = new Map<string, number>();
  readonly #firstCreatedWallByGroup = new Map<string, number>();
  #live = 0;
  #bound = 0;
  #boundRemoved = 0;
  #stopped = false;

  constructor(c: Cluster, namespace: string, groupLabel: string) {
    this.cluster = c.name;
    this.namespace = namespace;
    this.#lw = new ListWatch<V1Pod>(`/api/v1/namespaces/${namespace}/pods`, new Watch(c.watchKc), () => c.watchCore.listNamespacedPod({ namespace }), false);
    const bump = (m: Map<string, number>, k: string, d: number): void => void m.set(k, (m.get(k) ?? 0) + d);
    const upsert = (p: V1Pod): void => {
      const uid = p.metadata?.uid ?? '';
      let e = this.#pods.get(uid);
      if (!e) {
        e = { seenAt: t(), seenWall: Date.now(), group: p.metadata?.labels?.[groupLabel] ?? '' };
        const created = wallMs(p.metadata?.creationTimestamp);
        if (created !== undefined) {
          e.createdWall = created;
          this.#firstCreatedWallByGroup.set(e.group, Math.min(created, this.#firstCreatedWallByGroup.get(e.group) ?? Infinity));
        }
        this.#pods.set(uid, e);
        this.#live++;
        bump(this.#waitingByGroup, e.group, 1);
      }
      if (e.gone) return;
      if (p.spec?.nodeName && e.boundAt === undefined) {
        e.boundAt = t();
        const scheduled = wallMs(p.status?.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'True')?.lastTransitionTime);
        if (scheduled !== undefined) e.boundWall = scheduled;
        this.#bound++;
        bump(this.#waitingByGroup, e.group, -1);
        bump(this.#boundByGroup, e.group, 1);
      }
      if (p.metadata?.deletionTimestamp) this.#remove(e);
    };
    this.#lw.on('add', upsert);
    this.#lw.on('update', upsert);
    this.#lw.on('delete', (p) => {
      const e = this.#pods.get(p.metadata?.uid ?? '');
      if (e) this.#remove(e);
    });
    this.#lw.on('error', (err: unknown) => {
      if (this.#stopped) return;
      say(`pod watch in ${c.name}/${namespace} failed (${(err as Error)?.message ?? String(err)}); restarting`);
      setTimeout(() => void this.#lw.start().catch(() => undefined), 1_000);
    });
  }

  #remove(e: PodEntry): void {
    if (e.gone) return;
    e.gone = true;
    this.#live--;
    const m = e.boundAt !== undefined ? this.#boundByGroup : this.#waitingByGroup;
    m.set(e.group, (m.get(e.group) ?? 0) - 1);
    if (e.boundAt !== undefined) {
      this.#bound--;
      this.#boundRemoved++;
    }
  }

  start(): Promise<void> {
    return this.#lw.start();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#lw.stop();
  }

  counts(): TrackerCounts {
    return { live: this.#live, bound: this.#bound, waiting: this.#live - this.#bound };
  }

  /** Pods that went away (deleted or deleting) after they were bound: GPUs given up. */
  boundRemoved(): number {
    return this.#boundRemoved;
  }

  /** The most pods any one group (swarm) has waiting here. */
  maxWaitingPerGroup(): number {
    let m = 0;
    for (const v of this.#waitingByGroup.values()) m = Math.max(m, v);
    return m;
  }

  boundByGroup(): ReadonlyMap<string, number> {
    return this.#boundByGroup;
  }

  /** The creationTimestamp (wall ms, whole seconds) of each group's first pod. */
  firstCreatedWallByGroup(): ReadonlyMap<string, number> {
    return this.#firstCreatedWallByGroup;
  }

  /** When the k-th (1-based) pod that is still live was bound, in bind order; undefined if fewer are bound. */
  nthBoundAt(k: number): number | undefined {
    const times = [...this.#pods.values()].filter((e) => !e.gone && e.boundAt !== undefined).map((e) => e.boundAt!).sort((a, b) => a - b);
    return times[k - 1];
  }

  /** The same by the apiserver's clock (PodScheduled lastTransitionTime, whole seconds), immune to watch delays. */
  nthBoundWall(k: number): number | undefined {
    const times = [...this.#pods.values()].filter((e) => !e.gone && e.boundWall !== undefined).map((e) => e.boundWall!).sort((a, b) => a - b);
    return times[k - 1];
  }

  /**
   * How late the watch delivered each pod: seen minus creationTimestamp, in ms.
   * creationTimestamp is truncated to the second, so a prompt watch shows 0-1000 ms.
   */
  watchLagMs(): number[] {
    return [...this.#pods.values()].filter((e) => e.createdWall !== undefined).map((e) => e.seenWall - e.createdWall!);
  }

  summary(): { everCreated: number; lastSeenAt: number; lastBoundAt: number; bindLatencyMs: number[] } {
    const live = [...this.#pods.values()].filter((e) => !e.gone);
    const bound = live.filter((e) => e.boundAt !== undefined);
    return {
      everCreated: this.#pods.size,
      lastSeenAt: live.reduce((m, e) => Math.max(m, e.seenAt), 0),
      lastBoundAt: bound.reduce((m, e) => Math.max(m, e.boundAt!), 0),
      bindLatencyMs: bound.map((e) => e.boundAt! - e.seenAt),
    };
  }
}

/** Kubernetes times arrive as strings from watches and as Dates from typed list calls. */
function wallMs(x: Date | string | undefined): number | undefined {
  if (x === undefined) return undefined;
  const ms = new Date(x).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

const sumCounts = (cs: TrackerCounts[]): TrackerCounts => cs.reduce((a, c) => ({ live: a.live + c.live, bound: a.bound + c.bound, waiting: a.waiting + c.waiting }), { live: 0, bound: 0, waiting: 0 });

// ---------------------------------------------------------------- one timed phase

interface PhaseResult {
  name: string;
  complete: boolean;
  /** The bench clock (ms), and the wall clock, at the phase's first create. */
  startedAt: number;
  startedWall: number;
  /** How late the pod watches delivered pods (ms, see BindTracker.watchLagMs). */
  watchLagMs: { p50: number | null; p99: number | null; max: number | null };
  applySeconds: number;
  /** BIND: until the watches had seen every expected pod exist. */
  allCreatedSeconds: number | null;
  /** Until the goal held, by the watches' timestamps (BIND: every pod bound; FILL: every GPU used). */
  doneSeconds: number | null;
  /** The same by the apiserver's clock (PodScheduled transitions, whole seconds), when the phase says how. */
  doneSecondsApiserver: number | null;
  bound: number;
  created: number;
  /** Per pod, from the watch seeing it created to seeing it bound: the scheduler's share. */
  meanBindLatencyMs: number | null;
  maxBindLatencyMs: number | null;
  /** CPU seconds each process used during the phase (first create to goal). */
  cpu: Record<string, number>;
}

function cpuSnapshot(): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const [i, cp] of controlPlanes.entries()) {
    for (const [k, pid] of Object.entries(cp.pids)) pids[FILL ? `${CLUSTER_NAMES[i]}/${k}` : k] = pid;
  }
  if (operator) pids['operator'] = operator.pid;
  const out: Record<string, number> = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const u = process.cpuUsage();
  out['bench'] = (u.user + u.system) / 1e6;
  return out;
}

/** Called every 50 ms during a phase; throws to abort it. Returns extra words for the progress line. */
type PhaseCheck = (elapsedMs: number, c: TrackerCounts) => string;

interface PhaseSpec {
  name: string;
  /** What is created, for the first progress line. */
  what: string;
  trackers: BindTracker[];
  create: () => Promise<void>;
  /** The goal, checked every 50 ms once the creates have returned. */
  done: (per: TrackerCounts[]) => boolean;
  /** When the goal was reached, by the watches' timestamps. */
  doneAt: () => number;
  /** When the goal was reached by the apiserver's clock (wall ms). */
  doneAtWall?: () => number;
  /** BIND: pods expected, for allCreatedSeconds. */
  expected?: number;
  progress: (per: TrackerCounts[]) => string;
  check: PhaseCheck;
}

async function runPhase(s: PhaseSpec): Promise<PhaseResult> {
  const cpu0 = cpuSnapshot();
  const t0 = t();
  const wall0 = Date.now();
  say(`${s.name}: creating ${s.what}`);
  let applySeconds: number | null = null;
  let applyError: unknown;
  const applied = s.create().then(() => void (applySeconds = secs(t() - t0)), (err: unknown) => void (applyError = err ?? new Error('create failed')));
  let nextReport = t0 + PROGRESS_MS;
  let complete = false;
  for (;;) {
    const per = s.trackers.map((tr) => tr.counts());
    if (applySeconds !== null && s.done(per)) {
      complete = true;
      break;
    }
    if (applyError !== undefined) throw applyError;
    if (t() - t0 > opt.timeoutMs) {
      say(`${s.name}: timed out after ${opt.timeoutMs / 1000}s: ${s.progress(per)}`);
      break;
    }
    const extra = s.check(t() - t0, sumCounts(per));
    if (t() >= nextReport) {
      say(`${s.name}: ${secs(t() - t0).toFixed(0)}s  ${s.progress(per)}${extra}`);
      nextReport += PROGRESS_MS;
    }
    await sleep(50);
  }
  const cpu1 = cpuSnapshot();
  await applied;
  const c = sumCounts(s.trackers.map((tr) => tr.counts()));
  const sums = s.trackers.map((tr) => tr.summary());
  const latencies = sums.flatMap((x) => x.bindLatencyMs);
  const lags = s.trackers.flatMap((tr) => tr.watchLagMs());
  const r: PhaseResult = {
    name: s.name,
    complete,
    startedAt: t0,
    startedWall: wall0,
    watchLagMs: { p50: percentile(lags, 0.5), p99: percentile(lags, 0.99), max: percentile(lags, 1) },
    applySeconds: applySeconds ?? secs(t() - t0),
    allCreatedSeconds: s.expected !== undefined && c.live >= s.expected ? secs(Math.max(...sums.map((x) => x.lastSeenAt)) - t0) : null,
    doneSeconds: complete ? secs(s.doneAt() - t0) : null,
    doneSecondsApiserver: complete && s.doneAtWall ? secs(s.doneAtWall() - wall0) : null,
    bound: c.bound,
    created: sums.reduce((a, x) => a + x.everCreated, 0),
    meanBindLatencyMs: latencies.length ? Math.round(latencies.reduce((a, b) => a + b, 0) / latencies.length) : null,
    maxBindLatencyMs: latencies.length ? Math.round(latencies.reduce((a, b) => Math.max(a, b), 0)) : null,
    cpu: Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, round(v - (cpu0[k] ?? 0), 2)])),
  };
  say(`${s.name}: ${complete ? `goal reached in ${r.doneSeconds}s` : 'INCOMPLETE'}: ${s.progress(s.trackers.map((tr) => tr.counts()))} (apply took ${r.applySeconds}s, mean create-to-bind ${r.meanBindLatencyMs} ms)`);
  return r;
}

// ---------------------------------------------------------------- set-up steps

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

/** Creates a namespace in every cluster and waits for its default ServiceAccount (pods need it). */
async function createNamespace(clusters: Cluster[], namespace: string): Promise<void> {
  await Promise.all(clusters.map(async (c) => {
    await c.core.createNamespace({ body: { metadata: { name: namespace } } });
    await waitServiceAccount(c.core, namespace);
  }));
}

/** Force-deletes every pod (and ReplicaSet) in a namespace of every cluster until none is left. */
async function emptyNamespace(clusters: Cluster[], namespace: string): Promise<void> {
  const t0 = t();
  // No ReplicaSets left to recreate pods, then force-delete the pods: with no kubelet a graceful delete never finishes.
  await Promise.all(clusters.map((c) => c.apps.deleteCollectionNamespacedReplicaSet({ namespace, propagationPolicy: 'Background' })));
  for (;;) {
    let left = 0;
    for (const c of clusters) {
      const rs = (await c.apps.listNamespacedReplicaSet({ namespace })).items.length;
      const pods = (await c.core.listNamespacedPod({ namespace })).items.length;
      if (pods > 0) await c.core.deleteCollectionNamespacedPod({ namespace, gracePeriodSeconds: 0 });
      left += rs + pods;
    }
    if (left === 0) return;
    if (t() - t0 > 120_000) throw new Error(`cleanup of ${namespace}: ${left} ReplicaSets and pods left after 120s`);
    await sleep(500);
  }
}

/** Registers every cluster's fake nodes concurrently, then waits until each cluster sees all of them Ready and untainted. */
async function registerNodes(clusters: Cluster[], log: Logger): Promise<{ registerSeconds: number; readySeconds: number }> {
  const t0 = t();
  const registered = clusters.map(() => 0);
  const line = (): string => `${clusters.map((c, i) => `${c.name} ${registered[i]}/${c.nodes}`).join(', ')} registered (${Math.round(registered.reduce((a, b) => a + b, 0) / ((t() - t0) / 1000))}/s)`;
  const progress = setInterval(() => say(`nodes: ${line()}`), PROGRESS_MS);
  timers.push(progress);
  await Promise.all(clusters.map((c, ci) => {
    const width = String(c.nodes - 1).length;
    const specs = Array.from({ length: c.nodes }, (_, i) => ({
      name: `${FILL ? `${c.name}-gpu-` : 'bench-gpu-'}${String(i).padStart(width, '0')}`,
      gpus: opt.gpusPerNode,
      cpu: String(Math.max(8, 2 * opt.gpusPerNode)),
      memory: `${Math.max(64, 16 * opt.gpusPerNode)}Gi`,
    }));
    // FakeNode: registers, reports Ready, lifts the not-ready taint and renews its Lease every heartbeat.
    return pool(specs, opt.registerConcurrency, async (spec) => {
      const n = new FakeNode(spec, c.core, c.coord, log);
      fakeNodes.push(n);
      await n.register(opt.heartbeatMs);
      registered[ci]!++;
    });
  }));
  clearInterval(progress);
  const registerSeconds = secs(t() - t0);
  say(`nodes: ${line()} in ${registerSeconds}s`);
  // The schedulers must see every node schedulable before a phase starts.
  await Promise.all(clusters.map(async (c) => {
    for (;;) {
      const nodes = (await c.core.listNode({ labelSelector: 'spotswarm.dev/fake-node=true' })).items;
      const ready = nodes.filter((n) => n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') &&
        !(n.spec?.taints ?? []).some((tn) => tn.key === NOT_READY_TAINT || tn.effect === 'NoSchedule' || tn.effect === 'NoExecute'));
      if (ready.length === c.nodes) return;
      if (t() - t0 > 180_000 + 30 * opt.nodes) throw new Error(`${c.name}: only ${ready.length}/${c.nodes} nodes Ready and untainted`);
      await sleep(1_000);
    }
  }));
  return { registerSeconds, readySeconds: secs(t() - t0) };
}

/** Requests the cluster's apiserver has served so far (apiserver_request_total, every verb and code). */
async function apiserverRequests(c: Cluster): Promise<number> {
  const r = await httpGet(`${c.cp.server}/metrics`, { ca: readFileSync(c.cp.caFile, 'utf8'), token: c.cp.token, timeoutMs: 30_000 });
  if (r.status !== 200) throw new Error(`${c.name} apiserver /metrics: HTTP ${r.status}`);
  let total = 0;
  for (const line of r.body.split('\n')) if (line.startsWith('apiserver_request_total{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

interface ApiserverMark {
  at: number;
  requests: number[];
}

async function markApiservers(clusters: Cluster[]): Promise<ApiserverMark> {
  const requests = await Promise.all(clusters.map((c) => apiserverRequests(c)));
  return { at: t(), requests };
}

/** Requests/s each apiserver served between two marks, by cluster name. */
function apiserverRates(clusters: Cluster[], a: ApiserverMark, b: ApiserverMark): Record<string, number> {
  const dt = (b.at - a.at) / 1000;
  return Object.fromEntries(clusters.map((c, i) => [c.name, round((b.requests[i]! - a.requests[i]!) / dt, 1)]));
}

// ---------------------------------------------------------------- main

async function main(): Promise<Record<string, unknown>> {
  rmSync(opt.logDir, { recursive: true, force: true });
  mkdirSync(opt.logDir, { recursive: true });
  const log = makeLogger('bench', 'warn', { path: join(opt.logDir, 'bench.log') });
  say(FILL
    ? `fill: ${opt.swarms} swarms x up to ${opt.peers} peers (${PODS} wanted) over ${opt.clusters} clusters of ${NODES_PER_CLUSTER.join('+')} fake nodes x ${opt.gpusPerNode} GPUs (${GPUS} GPUs), maxPending ${opt.maxPending}; logs in ${opt.logDir}`
    : `${opt.swarms} swarms x ${opt.peers} peers = ${PODS} pods over ${opt.nodes} fake nodes x ${opt.gpusPerNode} GPUs; logs in ${opt.logDir}`);
  toolPath('kubectl'); // builds the kubernetes tools on a fresh machine (progress on stderr)

  const tCp = t();
  const clusters: Cluster[] = await Promise.all(CLUSTER_NAMES.map(async (name, i) => {
    const cp = await startControlPlane({ name: FILL ? `bench-${name}` : 'bench-operator', log, logDir: join(opt.logDir, FILL ? `controlplane-${name}` : 'controlplane') });
    controlPlanes[i] = cp;
    const kc = keepAliveKubeConfig(cp.kubeconfigPath);
    const watchKc = new KubeConfig();
    watchKc.loadFromFile(cp.kubeconfigPath);
    return {
      name, cp, kc, watchKc, watchCore: watchKc.makeApiClient(CoreV1Api),
      core: kc.makeApiClient(CoreV1Api), apps: kc.makeApiClient(AppsV1Api), custom: kc.makeApiClient(CustomObjectsApi), coord: kc.makeApiClient(CoordinationV1Api),
      nodes: NODES_PER_CLUSTER[i]!, gpus: NODES_PER_CLUSTER[i]! * opt.gpusPerNode,
    };
  }));
  const controlPlaneStartSeconds = secs(t() - tCp);
  say(`control plane${FILL ? 's' : ''} ready in ${controlPlaneStartSeconds}s (pids ${JSON.stringify(Object.fromEntries(clusters.map((c) => [c.name, c.cp.pids])))})`);
  const home = clusters[0]!;
  const remotes = clusters.slice(1);

  const crd = await runKubectl(home.cp.kubeconfigPath, ['apply', '-f', join(ROOT, 'crds/')]);
  if (crd.code !== 0) throw new Error(`kubectl apply -f crds/: ${crd.stderr.trim()}`);
  const est = await runKubectl(home.cp.kubeconfigPath, ['wait', '--for', 'condition=established', 'crd/trainingswarms.spotswarm.dev', '--timeout=60s']);
  if (est.code !== 0) throw new Error(`CRD not established: ${est.stderr.trim()}`);
  await home.core.createNamespace({ body: { metadata: { name: NS_OPERATOR } } });
  // Remote clusters need the PriorityClass and the swarms' namespaces; their kubeconfigs go into Secrets at home.
  for (const c of remotes) {
    const pc = await runKubectl(c.cp.kubeconfigPath, ['apply', '-f', join(ROOT, 'crds/priorityclass.yaml')]);
    if (pc.code !== 0) throw new Error(`${c.name}: kubectl apply -f crds/priorityclass.yaml: ${pc.stderr.trim()}`);
    await home.core.createNamespacedSecret({ namespace: NS_OPERATOR, body: { metadata: { name: `${c.name}-kubeconfig` }, stringData: { kubeconfig: readFileSync(c.cp.kubeconfigPath, 'utf8') } } });
  }

  const { registerSeconds, readySeconds: nodesRegisterSeconds } = await registerNodes(clusters, log);
  say(`${opt.nodes} nodes Ready in ${nodesRegisterSeconds}s`);

  // What the apiservers serve with nothing but node heartbeats and the controllers going.
  let apiserverIdle: Record<string, number> | null = null;
  if (FILL) {
    const a = await markApiservers(clusters);
    await sleep(10_000);
    apiserverIdle = apiserverRates(clusters, a, await markApiservers(clusters));
    say(`apiservers idle (heartbeats every ${opt.heartbeatMs / 1000}s, controllers): ${JSON.stringify(apiserverIdle)} requests/s`);
  }

  // The operator, as a process of its own, with production lease timings (the harness's short ones could lose the lease under load).
  const metricsPort = await freePort();
  operator = startOperator({
    kubeconfigPath: home.cp.kubeconfigPath,
    identity: 'bench-operator',
    logDir: opt.logDir,
    env: {
      SPOTSWARM_METRICS_PORT: String(metricsPort),
      SPOTSWARM_METRICS_HOST: '127.0.0.1',
      SPOTSWARM_LEASE_DURATION_SECONDS: '15',
      SPOTSWARM_RENEW_DEADLINE_SECONDS: '10',
      SPOTSWARM_RETRY_PERIOD_SECONDS: '2',
      ...(FILL ? { SPOTSWARM_CLUSTER_NAME: home.name } : {}),
      ...(opt.operatorConcurrency ? { SPOTSWARM_CONCURRENCY: opt.operatorConcurrency } : {}),
    },
  });
  const op = operator;
  const checkOperator = (): void => {
    if (!pidAlive(op.pid)) throw new Error(`the operator (pid ${op.pid}) exited; last lines of ${op.logFile}:\n${op.log().trimEnd().split('\n').slice(-15).join('\n')}`);
  };
  const lastReconcileError = (): string => op.log().split('\n').reverse().find((l) => l.includes('reconcile failed')) ?? '(no reconcile error in its log)';
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
  const placements: Placement[] = clusters.map((c, i) => ({
    name: c.name,
    weight: 1,
    network: { mode: 'PodNetwork' },
    ...(i > 0 ? { kubeconfigSecretRef: { name: `${c.name}-kubeconfig`, key: 'kubeconfig' } } : {}),
  }));
  const swarmName = (i: number): string => `swarm-${String(i).padStart(String(opt.swarms - 1).length, '0')}`;
  const swarmOf = (i: number, namespace: string): TrainingSwarm => {
    const s = structuredClone(example);
    s.metadata = { name: swarmName(i), namespace };
    s.spec.priorityClassName = DEFAULT_PRIORITY_CLASS;
    s.spec.peers = { ...s.spec.peers, min: 1, max: opt.peers, maxPending: opt.maxPending };
    s.spec.trainer.resources.gpus = 1;
    s.spec.nats = { ...s.spec.nats, url: 'nats://127.0.0.1:4222' }; // trainers never start here
    if (FILL) s.spec.placements = structuredClone(placements);
    return s;
  };

  // Probe: the baselines use exactly the pod the operator makes, and a broken operator (or placement) fails here, fast.
  const podSpec = await probeTrainerPod(swarmOf(0, NS_PROBE));
  const plainPod = (name: string, labels: Record<string, string>): V1Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, labels }, spec: structuredClone(podSpec) });
  /** Creates a swarm of one peer per cluster, takes the spec of the pod the operator makes at home, then removes both. */
  async function probeTrainerPod(swarm: TrainingSwarm): Promise<V1PodSpec> {
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
    say(`probe: ${FILL ? `one pod in each of ${clusters.map((c) => c.name).join(', ')}; ` : ''}the operator's trainer pod taken as the baselines' template in ${secs(t() - t0)}s`);
    // What the apiserver and scheduler filled in would be rejected or ignored in a template.
    const spec = structuredClone(pods[0]!.spec!);
    delete spec.nodeName;
    delete spec.priority;
    delete spec.preemptionPolicy;
    return spec;
  }

  const ctx: ModeContext = { clusters, home, log, op, scrape, checkOperator, lastReconcileError, swarmName, swarmOf, plainPod, peakRss: () => (peakRssKiB = Math.max(peakRssKiB, procKiB(op.pid, 'VmRSS'), procKiB(op.pid, 'VmHWM'))) };
  const common = { controlplane_start_seconds: controlPlaneStartSeconds, nodes_register_seconds: nodesRegisterSeconds };
  return FILL ? fillMode(ctx, { ...common, nodes_registered_seconds: registerSeconds, apiserver_idle_requests_per_second: apiserverIdle }) : bindMode(ctx, common);
}

interface ModeContext {
  clusters: Cluster[];
  home: Cluster;
  log: Logger;
  op: OperatorProcess;
  scrape: () => Promise<OperatorCounters>;
  checkOperator: () => void;
  lastReconcileError: () => string;
  swarmName: (i: number) => string;
  swarmOf: (i: number, namespace: string) => TrainingSwarm;
  plainPod: (name: string, labels: Record<string, string>) => V1Pod;
  /** Peak RSS of the operator so far (KiB), VmHWM included. */
  peakRss: () => number;
}

/** A namespace in every cluster, watched; the phase runs; baselines empty it again afterwards. */
async function trackedPhase(ctx: ModeContext, namespace: string, groupLabel: string, spec: (trackers: BindTracker[]) => PhaseSpec, cleanup: boolean): Promise<PhaseResult> {
  await createNamespace(ctx.clusters, namespace);
  const trs = ctx.clusters.map((c) => new BindTracker(c, namespace, groupLabel));
  trackers.push(...trs);
  await Promise.all(trs.map((tr) => tr.start()));
  const r = await runPhase(spec(trs));
  if (!cleanup) return r;
  const tClean = t();
  await emptyNamespace(ctx.clusters, namespace);
  await Promise.all(trs.map((tr) => tr.stop()));
  say(`${r.name}: namespace ${namespace} emptied in ${secs(t() - tClean)}s`);
  await sleep(3_000); // let the schedulers, GC and informers settle before the next phase
  return r;
}

/** Waits until the operator is quiet: no new reconcile or request for 3 s (at most 60 s). */
async function waitQuiet(ctx: ModeContext, from: OperatorCounters): Promise<{ after: OperatorCounters; quietAfterSeconds: number }> {
  const t0 = t();
  let last = from;
  let stillFor = 0;
  while (stillFor < 3_000 && t() - t0 < 60_000) {
    await sleep(1_000);
    ctx.checkOperator();
    const now = await ctx.scrape();
    stillFor = now.reconciles === last.reconciles && now.requests === last.requests ? stillFor + 1_000 : 0;
    last = now;
  }
  return { after: last, quietAfterSeconds: secs(t() - t0 - stillFor) };
}

/** Events the operator recorded in a namespace of its home cluster, by reason. */
async function operatorEvents(c: Cluster, namespace: string): Promise<Record<string, number>> {
  const byReason: Record<string, number> = {};
  for (const e of (await c.core.listNamespacedEvent({ namespace })).items) {
    if (e.source?.component !== 'spotswarm-operator' && e.reportingComponent !== 'spotswarm-operator') continue;
    byReason[e.reason ?? ''] = (byReason[e.reason ?? ''] ?? 0) + (e.count ?? 1);
  }
  return byReason;
}

/** The spotswarm phase's progress words: the operator's counters, and a fast failure when it only fails. */
function operatorCheck(ctx: ModeContext, before: OperatorCounters, during: () => OperatorCounters): PhaseCheck {
  return (elapsedMs, c) => {
    ctx.checkOperator();
    const now = during();
    const failed = (now.byResult['error'] ?? 0) - (before.byResult['error'] ?? 0);
    if (elapsedMs > STALL_MS && c.live === 0 && failed > 0) {
      throw new Error(`the operator created no pod in ${STALL_MS / 1000}s and failed ${failed} reconciles; last: ${ctx.lastReconcileError().slice(0, 400)}`);
    }
    return `; operator: ${now.reconciles - before.reconciles} reconciles (${failed} failed), ${now.requests - before.requests} API requests`;
  };
}

// ---------------------------------------------------------------- BIND: every pod bound, against the baselines

async function bindMode(ctx: ModeContext, common: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { home, swarmName, swarmOf, plainPod } = ctx;
  const bindPhase = (name: string, what: string, namespace: string, groupLabel: string, create: () => Promise<void>, cleanup: boolean, check: PhaseCheck = () => (ctx.checkOperator(), '')): Promise<PhaseResult> =>
    trackedPhase(ctx, namespace, groupLabel, (trs) => ({
      name, what: `${what} (${PODS} pods of 1 GPU)`, trackers: trs, create, check, expected: PODS,
      done: (per) => {
        const c = sumCounts(per);
        return c.bound >= PODS && c.live === c.bound;
      },
      doneAt: () => Math.max(...trs.map((tr) => tr.summary().lastBoundAt)),
      progress: (per) => {
        const c = sumCounts(per);
        return `${c.bound}/${PODS} bound, ${c.live} pods exist`;
      },
    }), cleanup);
  const each = (fn: (i: number) => Promise<unknown>) => () => pool(Array.from({ length: opt.swarms }, (_, i) => i), opt.applyConcurrency, async (i) => void (await fn(i)));

  let direct: PhaseResult | undefined;
  let baseline: PhaseResult | undefined;
  if (opt.baseline) {
    // Floor: the bench creates the pods itself (--floor-concurrency, by default the applies'); only the apiserver and the scheduler work.
    direct = await bindPhase('direct-pods', `${PODS} pods directly`, NS_DIRECT, LABEL_SET, () => pool(Array.from({ length: PODS }, (_, j) => j), opt.floorConcurrency, async (j) => {
      const i = Math.floor(j / opt.peers);
      await home.core.createNamespacedPod({ namespace: NS_DIRECT, body: plainPod(`${swarmName(i)}-${j % opt.peers}`, { [LABEL_SET]: swarmName(i) }) });
    }), true);
    // Baseline: ReplicaSets through kube-controller-manager.
    baseline = await bindPhase('replicaset', `${opt.swarms} ReplicaSets`, NS_BASELINE, LABEL_SET, each((i) => {
      const labels = { [LABEL_SET]: swarmName(i) };
      const rs: V1ReplicaSet = {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: swarmName(i), namespace: NS_BASELINE },
        spec: { replicas: opt.peers, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { ...plainPod('', labels).spec!, restartPolicy: 'Always' } } },
      };
      return home.apps.createNamespacedReplicaSet({ namespace: NS_BASELINE, body: rs });
    }), true);
  }

  // ------------------------------------------------ spotswarm: TrainingSwarms through the operator
  ctx.checkOperator();
  const before = await ctx.scrape();
  // The operator's counters in the progress lines, and a fast failure when it only fails.
  let during = before;
  const opScraper = setInterval(() => void ctx.scrape().then((c) => void (during = c), () => undefined), 2_000);
  timers.push(opScraper);
  const swarmsPhase = await bindPhase('spotswarm', `${opt.swarms} TrainingSwarms`, NS_SWARMS, LABEL_SWARM, each((i) =>
    home.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS, body: swarmOf(i, NS_SWARMS) })), false,
  operatorCheck(ctx, before, () => during));
  clearInterval(opScraper);
  const atBound = await ctx.scrape();
  const { after, quietAfterSeconds } = await waitQuiet(ctx, atBound);
  const eventsByReason = await operatorEvents(home, NS_SWARMS);
  const events = Object.values(eventsByReason).reduce((a, b) => a + b, 0);
  const swarmList = (await home.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS })) as { items: TrainingSwarm[] };
  const statusScheduled = swarmList.items.filter((s) => s.status?.peers?.scheduled === opt.peers).length;
  const peakRssKiB = ctx.peakRss();

  const requests = after.requests - before.requests;
  const reconciles = after.reconciles - before.reconciles;
  const reconcileSeconds = after.reconcileSecondsSum - before.reconcileSecondsSum;
  const over = (a: PhaseResult, b: PhaseResult | undefined): number | null =>
    b?.doneSeconds && a.doneSeconds !== null ? round(a.doneSeconds / b.doneSeconds) : null;
  const ratio = over(swarmsPhase, baseline);

  const result = {
    bench: 'operator',
    mode: 'bind',
    complete: swarmsPhase.complete && (baseline?.complete ?? true) && (direct?.complete ?? true),
    clusters: 1,
    swarms: opt.swarms,
    nodes: opt.nodes,
    peers_per_swarm: opt.peers,
    gpus_per_node: opt.gpusPerNode,
    pods: PODS,
    operator_concurrency: opt.operatorConcurrency ? Number(opt.operatorConcurrency) : null,
    ...common,
    spotswarm_bind_all_seconds: swarmsPhase.doneSeconds,
    replicaset_bind_all_seconds: baseline?.doneSeconds ?? null,
    direct_bind_all_seconds: direct?.doneSeconds ?? null,
    ratio_spotswarm_over_replicaset: ratio,
    ratio_spotswarm_over_direct: over(swarmsPhase, direct),
    ratio_replicaset_over_direct: baseline ? over(baseline, direct) : null,
    spotswarm_create_all_seconds: swarmsPhase.allCreatedSeconds,
    replicaset_create_all_seconds: baseline?.allCreatedSeconds ?? null,
    direct_create_all_seconds: direct?.allCreatedSeconds ?? null,
    spotswarm_apply_seconds: swarmsPhase.applySeconds,
    replicaset_apply_seconds: baseline?.applySeconds ?? null,
    direct_apply_seconds: direct?.applySeconds ?? null,
    spotswarm_mean_create_to_bind_ms: swarmsPhase.meanBindLatencyMs,
    replicaset_mean_create_to_bind_ms: baseline?.meanBindLatencyMs ?? null,
    direct_mean_create_to_bind_ms: direct?.meanBindLatencyMs ?? null,
    spotswarm_max_create_to_bind_ms: swarmsPhase.maxBindLatencyMs,
    spotswarm_bound: swarmsPhase.bound,
    replicaset_bound: baseline?.bound ?? null,
    direct_bound: direct?.bound ?? null,
    spotswarm_pods_created: swarmsPhase.created,
    operator_api_requests: requests,
    operator_reconciles: reconciles,
    operator_requests_per_reconcile: reconciles > 0 ? round(requests / reconciles) : null,
    operator_requests_per_swarm: round(requests / opt.swarms),
    operator_reconciles_per_swarm: round(reconciles / opt.swarms),
    operator_api_requests_at_all_bound: atBound.requests - before.requests,
    operator_reconciles_at_all_bound: atBound.reconciles - before.reconciles,
    operator_quiet_after_all_bound_seconds: quietAfterSeconds,
    operator_mean_reconcile_ms: reconciles > 0 ? round((reconcileSeconds / reconciles) * 1000, 1) : null,
    operator_reconcile_ms: histoSummary(diffHisto(after.reconcileHisto, before.reconcileHisto)),
    operator_api_latency_ms: requestLatency(after, before).all,
    operator_event_creates: events,
    operator_events_by_reason: eventsByReason,
    operator_requests_by_kind: diffCounts(after.byRequest, before.byRequest),
    operator_reconciles_by_result: diffCounts(after.byResult, before.byResult),
    operator_peak_rss_mib: round(peakRssKiB / 1024, 1),
    swarms_status_scheduled: statusScheduled,
    spotswarm_cpu_seconds: swarmsPhase.cpu,
    replicaset_cpu_seconds: baseline?.cpu ?? null,
    direct_cpu_seconds: direct?.cpu ?? null,
  };

  const line = (label: string, r: PhaseResult | undefined): string => r
    ? `  ${label.padEnd(26)}all bound in ${r.doneSeconds ?? 'INCOMPLETE'}s (all created ${r.allCreatedSeconds ?? '-'}s, apply ${r.applySeconds}s, mean create-to-bind ${r.meanBindLatencyMs} ms)`
    : `  ${label.padEnd(26)}skipped`;
  process.stdout.write([
    '',
    `operator bench: ${opt.swarms} swarms x ${opt.peers} peers = ${PODS} pods, ${opt.nodes} nodes x ${opt.gpusPerNode} GPUs`,
    `  control plane start       ${common['controlplane_start_seconds']}s; nodes registered and Ready in ${common['nodes_register_seconds']}s`,
    line('direct pods (floor)', direct),
    line('replicaset (baseline)', baseline),
    line('spotswarm', swarmsPhase),
    `  spotswarm / replicaset    ${ratio ?? '-'}   (spotswarm / direct ${result.ratio_spotswarm_over_direct ?? '-'})`,
    `  operator                  ${requests} API requests / ${reconciles} reconciles = ${result.operator_requests_per_reconcile} per reconcile (+${events} Events); mean reconcile ${result.operator_mean_reconcile_ms} ms; quiet ${quietAfterSeconds}s after all bound`,
    `  operator peak RSS         ${result.operator_peak_rss_mib} MiB`,
    `  swarm status scheduled=${opt.peers} ${statusScheduled}/${opt.swarms}`,
    '',
  ].join('\n') + '\n');
  return result;
}

// ---------------------------------------------------------------- FILL: every GPU in every cluster used

async function fillMode(ctx: ModeContext, common: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { clusters, home, swarmName, swarmOf, plainPod } = ctx;
  const names = clusters.map((c) => c.name);
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  const byCluster = <T>(f: (c: Cluster, i: number) => T): Record<string, T> => Object.fromEntries(clusters.map((c, i) => [c.name, f(c, i)]));
  /** Goal: as many pods bound in each cluster as it has GPUs (each pod asks for one), i.e. no free GPU left. */
  const fillGoal = (trs: BindTracker[]): Pick<PhaseSpec, 'done' | 'doneAt' | 'doneAtWall' | 'progress'> => ({
    done: (per) => per.every((c, i) => c.bound >= clusters[i]!.gpus),
    doneAt: () => Math.max(...trs.map((tr, i) => tr.nthBoundAt(clusters[i]!.gpus) ?? Infinity)),
    doneAtWall: () => Math.max(...trs.map((tr, i) => tr.nthBoundWall(clusters[i]!.gpus) ?? Infinity)),
    progress: (per) => per.map((c, i) => `${clusters[i]!.name} ${c.bound}/${clusters[i]!.gpus} GPUs used, ${c.waiting} waiting`).join('; '),
  });

  // ------------------------------------------------ floor: the bench fills every cluster's GPUs itself, all clusters at once
  let floor: PhaseResult | undefined;
  if (opt.baseline) {
    floor = await trackedPhase(ctx, NS_DIRECT, LABEL_SET, (trs) => ({
      name: 'floor', what: `one pod per GPU directly in ${names.join(' and ')} (${GPUS} pods of 1 GPU)`, trackers: trs, ...fillGoal(trs),
      check: () => (ctx.checkOperator(), ''),
      create: async () => {
        await Promise.all(clusters.map((c) => pool(range(c.gpus), opt.floorConcurrency, async (j) => {
          await c.core.createNamespacedPod({ namespace: NS_DIRECT, body: plainPod(`floor-${j}`, { [LABEL_SET]: swarmName(j % opt.swarms) }) });
        })));
      },
    }), true);
  }

  // ------------------------------------------------ spotswarm: the swarms want more peers than there are GPUs
  ctx.checkOperator();
  const before = await ctx.scrape();
  const series: OperatorCounters[] = [before];
  let during = before;
  const opScraper = setInterval(() => void ctx.scrape().then((c) => {
    during = c;
    series.push(c);
  }, () => undefined), 2_000);
  timers.push(opScraper);
  const apiBefore = await markApiservers(clusters);
  const appliedWall: number[] = [];
  // Waiting pods (live, unbound), sampled every 250 ms: while GPUs are free, and after every GPU is used.
  let trs: BindTracker[] = [];
  let filled = false;
  const waiting = { peakTotal: 0, peakPerSwarmCluster: 0, afterFillPeakTotal: 0, afterFillPeakPerSwarmCluster: 0 };
  const sampleWaiting = (): void => {
    const total = trs.reduce((a, tr) => a + tr.counts().waiting, 0);
    const per = trs.reduce((a, tr) => Math.max(a, tr.maxWaitingPerGroup()), 0);
    waiting.peakTotal = Math.max(waiting.peakTotal, total);
    waiting.peakPerSwarmCluster = Math.max(waiting.peakPerSwarmCluster, per);
    if (filled) {
      waiting.afterFillPeakTotal = Math.max(waiting.afterFillPeakTotal, total);
      waiting.afterFillPeakPerSwarmCluster = Math.max(waiting.afterFillPeakPerSwarmCluster, per);
    }
  };
  const waitingSampler = setInterval(sampleWaiting, 250);
  timers.push(waitingSampler);
  const rateNow = (): number => {
    const [a, b] = series.slice(-2);
    return a && b && b.at > a.at ? Math.round((b.requests - a.requests) / ((b.at - a.at) / 1000)) : 0;
  };
  const baseCheck = operatorCheck(ctx, before, () => during);
  const phase = await trackedPhase(ctx, NS_SWARMS, LABEL_SWARM, (trackers) => {
    trs = trackers;
    const goal = fillGoal(trackers);
    return {
      name: 'spotswarm', what: `${opt.swarms} TrainingSwarms placing in ${names.join(' and ')} (up to ${PODS} peers for ${GPUS} GPUs)`, trackers,
      create: () => pool(range(opt.swarms), opt.applyConcurrency, async (i) => {
        await home.custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS, body: swarmOf(i, NS_SWARMS) });
        appliedWall[i] = Date.now();
      }),
      ...goal,
      done: (per) => (filled = goal.done(per)),
      progress: (per) => `${goal.progress(per)} (most per swarm and cluster: ${trackers.reduce((a, tr) => Math.max(a, tr.maxWaitingPerGroup()), 0)})`,
      check: (elapsedMs, c) => `${baseCheck(elapsedMs, c)} (${rateNow()}/s now), RSS ${Math.round(procKiB(ctx.op.pid, 'VmRSS') / 1024)} MiB`,
    };
  }, false);
  const atFill = await ctx.scrape();
  series.push(atFill);
  clearInterval(opScraper);
  const apiAtFill = await markApiservers(clusters);
  say('spotswarm: waiting until the operator is quiet');
  const { after, quietAfterSeconds } = await waitQuiet(ctx, atFill);
  sampleWaiting();
  clearInterval(waitingSampler);
  const settled = trs.map((tr) => tr.counts());
  const boundRemoved = byCluster((_, i) => trs[i]!.boundRemoved());
  const settledPerSwarmCluster = trs.reduce((a, tr) => Math.max(a, tr.maxWaitingPerGroup()), 0);
  const waitingBounded = settledPerSwarmCluster <= opt.maxPending;
  const peakRssKiB = ctx.peakRss();

  // The swarms: how the GPUs were shared, how long each waited for its first pod (the work queue), what status says.
  const swarmNames = range(opt.swarms).map(swarmName);
  const boundOf = (n: string): number => trs.reduce((a, tr) => a + (tr.boundByGroup().get(n) ?? 0), 0);
  const bound = swarmNames.map(boundOf);
  // By the apiserver's clock (creationTimestamp, whole seconds): how long each swarm waited in the operator's queue.
  const firstPodSeconds: number[] = [];
  for (const [i, n] of swarmNames.entries()) {
    const first = Math.min(...trs.map((tr) => tr.firstCreatedWallByGroup().get(n) ?? Infinity));
    if (Number.isFinite(first) && appliedWall[i] !== undefined) firstPodSeconds.push(Math.max(0, Math.round((first - appliedWall[i]!) / 1000)));
  }
  // Status is written by reconciles the operator may still have queued (a retry after a conflict,
  // a capacity debounce), so it is read until it agrees with the watches, for at most STATUS_SETTLE_MS.
  const statusT0 = t();
  let statusMatches = 0;
  let statusFreeGpus: Record<string, number> = {};
  for (;;) {
    const swarmList = ((await home.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace: NS_SWARMS })) as { items: TrainingSwarm[] }).items;
    statusMatches = swarmList.filter((s) => s.status?.peers?.scheduled === boundOf(s.metadata.name ?? '')).length;
    statusFreeGpus = byCluster((c) => swarmList.reduce((m, s) => Math.max(m, s.status?.clusters?.find((x) => x.name === c.name)?.freeGpus ?? 0), 0));
    const watchedFree = byCluster((c, i) => Math.max(0, c.gpus - settled[i]!.bound));
    const agrees = statusMatches === opt.swarms && Object.keys(watchedFree).every((k) => watchedFree[k] === statusFreeGpus[k]);
    if (agrees || t() - statusT0 > STATUS_SETTLE_MS) break;
    await sleep(500);
  }
  const statusSettleSeconds = secs(t() - statusT0);
  const eventsByReason = await operatorEvents(home, NS_SWARMS);
  const events = Object.values(eventsByReason).reduce((a, b) => a + b, 0);

  // The operator's work: requests/s while filling, and everything until it was quiet.
  const fillWindowSeconds = (atFill.at - before.at) / 1000;
  const atFillRequests = atFill.requests - before.requests;
  let peakRate = 0;
  for (let i = 1; i < series.length; i++) {
    const dt = (series[i]!.at - series[i - 1]!.at) / 1000;
    if (dt > 0.5) peakRate = Math.max(peakRate, (series[i]!.requests - series[i - 1]!.requests) / dt);
  }
  const requests = after.requests - before.requests;
  const reconciles = after.reconciles - before.reconciles;
  const byKind = diffCounts(after.byClusterRequest, before.byClusterRequest);
  const sumKinds = (test: (cluster: string, verb: string, resource: string, code: string) => boolean): number =>
    Object.entries(byKind).reduce((a, [k, v]) => a + (test(...(k.split(' ') as [string, string, string, string])) ? v : 0), 0);
  const latency = requestLatency(after, before);
  const over = (a: PhaseResult, b: PhaseResult | undefined): number | null =>
    b?.doneSeconds && a.doneSeconds !== null ? round(a.doneSeconds / b.doneSeconds) : null;
  const operatorCpu = phase.cpu['operator'] ?? 0;
  /** Share of the operator's worker time spent reconciling: near 1, swarms wait in its work queue. */
  const busy = (a: OperatorCounters, b: OperatorCounters): number => round((a.reconcileSecondsSum - b.reconcileSecondsSum) / (((a.at - b.at) / 1000) * OPERATOR_WORKERS), 2);
  const sorted = [...bound].sort((a, b) => a - b);

  const result = {
    bench: 'operator',
    mode: 'fill',
    complete: phase.complete && (floor?.complete ?? true),
    clusters: opt.clusters,
    cluster_names: names,
    swarms: opt.swarms,
    nodes: opt.nodes,
    nodes_per_cluster: NODES_PER_CLUSTER,
    gpus_per_node: opt.gpusPerNode,
    gpus: GPUS,
    peers_max_per_swarm: opt.peers,
    peers_wanted: PODS,
    max_pending: opt.maxPending,
    operator_concurrency: opt.operatorConcurrency ? Number(opt.operatorConcurrency) : null,
    floor_concurrency_per_cluster: opt.floorConcurrency,
    heartbeat_seconds: opt.heartbeatMs / 1000,
    ...common,
    nodes_registered_per_second: round(opt.nodes / (common['nodes_registered_seconds'] as number), 1),
    spotswarm_fill_seconds: phase.doneSeconds,
    floor_fill_seconds: floor?.doneSeconds ?? null,
    ratio_spotswarm_over_floor: over(phase, floor),
    spotswarm_fill_seconds_apiserver_clock: phase.doneSecondsApiserver,
    floor_fill_seconds_apiserver_clock: floor?.doneSecondsApiserver ?? null,
    spotswarm_watch_lag_ms: phase.watchLagMs,
    floor_watch_lag_ms: floor?.watchLagMs ?? null,
    spotswarm_fill_seconds_by_cluster: byCluster((c, i) => {
      const at = trs[i]!.nthBoundAt(c.gpus);
      return at === undefined ? null : secs(at - phase.startedAt);
    }),
    spotswarm_apply_seconds: phase.applySeconds,
    floor_apply_seconds: floor?.applySeconds ?? null,
    spotswarm_mean_create_to_bind_ms: phase.meanBindLatencyMs,
    floor_mean_create_to_bind_ms: floor?.meanBindLatencyMs ?? null,
    bound_by_cluster: byCluster((_, i) => settled[i]!.bound),
    free_gpus_by_cluster: byCluster((c, i) => Math.max(0, c.gpus - settled[i]!.bound)),
    spotswarm_pods_created: after.podsCreated - before.podsCreated,
    spotswarm_pods_seen: trs.reduce((a, tr) => a + tr.summary().everCreated, 0),
    operator_pod_deletes: sumKinds((_c, verb, resource) => verb === 'delete' && resource === 'pods'),
    // Nothing lowers a ceiling here, so the operator should only ever shed waiting pods; a bound one removed is a GPU given up.
    bound_pods_removed_by_cluster: boundRemoved,
    waiting_allowed_per_swarm_cluster: opt.maxPending,
    waiting_allowed_total: opt.swarms * opt.clusters * opt.maxPending,
    waiting_peak_total: waiting.peakTotal,
    waiting_peak_per_swarm_cluster: waiting.peakPerSwarmCluster,
    waiting_after_fill_peak_total: waiting.afterFillPeakTotal,
    waiting_after_fill_peak_per_swarm_cluster: waiting.afterFillPeakPerSwarmCluster,
    waiting_settled_total: settled.reduce((a, c) => a + c.waiting, 0),
    waiting_settled_by_cluster: byCluster((_, i) => settled[i]!.waiting),
    waiting_settled_per_swarm_cluster_max: settledPerSwarmCluster,
    waiting_bounded: waitingBounded,
    swarms_first_pod_seconds: { p50: percentile(firstPodSeconds, 0.5), p90: percentile(firstPodSeconds, 0.9), max: percentile(firstPodSeconds, 1) },
    swarms_without_pod: opt.swarms - firstPodSeconds.length,
    swarms_without_bound_peer: bound.filter((b) => b === 0).length,
    swarms_at_max: bound.filter((b) => b >= opt.peers).length,
    bound_per_swarm: { min: sorted[0] ?? 0, p50: percentile(sorted, 0.5), max: sorted[sorted.length - 1] ?? 0 },
    operator_api_requests_at_fill: atFillRequests,
    operator_api_requests_per_second: round(atFillRequests / fillWindowSeconds, 1),
    operator_api_requests_per_second_peak: round(peakRate, 1),
    operator_api_requests_per_second_by_cluster: byCluster((c) => round(((atFill.byCluster[c.name] ?? 0) - (before.byCluster[c.name] ?? 0)) / fillWindowSeconds, 1)),
    operator_api_requests: requests,
    operator_requests_by_kind: byKind,
    operator_api_latency_ms: latency.all,
    operator_api_latency_by_cluster_ms: latency.byCluster,
    operator_api_latency_by_kind_ms: latency.byKind,
    operator_reconciles: reconciles,
    operator_reconciles_at_fill: atFill.reconciles - before.reconciles,
    operator_reconciles_per_swarm: round(reconciles / opt.swarms),
    operator_reconciles_by_result: diffCounts(after.byResult, before.byResult),
    operator_reconcile_ms: histoSummary(diffHisto(after.reconcileHisto, before.reconcileHisto)),
    operator_workers: OPERATOR_WORKERS,
    operator_workers_busy_share_to_fill: busy(atFill, before),
    operator_workers_busy_share: busy(after, before),
    operator_status_writes: sumKinds((_c, _v, resource) => resource === `${PLURAL}/status`),
    operator_status_conflicts: sumKinds((_c, _v, resource, code) => resource === `${PLURAL}/status` && code === '409'),
    operator_event_creates: events,
    operator_events_by_reason: eventsByReason,
    operator_quiet_after_fill_seconds: quietAfterSeconds,
    operator_peak_rss_mib: round(peakRssKiB / 1024, 1),
    operator_cpu_seconds_to_fill: operatorCpu,
    operator_cpu_ms_per_request: atFillRequests > 0 ? round((operatorCpu * 1000) / atFillRequests, 2) : null,
    apiserver_requests_per_second_to_fill: apiserverRates(clusters, apiBefore, apiAtFill),
    status_scheduled_matches_watch: statusMatches,
    status_settle_seconds: statusSettleSeconds,
    status_free_gpus_max_by_cluster: statusFreeGpus,
    spotswarm_cpu_seconds: phase.cpu,
    floor_cpu_seconds: floor?.cpu ?? null,
  };

  const lat = (s: ReturnType<typeof histoSummary>): string => `p50 ${s.p50_ms ?? '-'} / p90 ${s.p90_ms ?? '-'} / p99 ${s.p99_ms ?? `>${s.over_ms}`} ms`;
  process.stdout.write([
    '',
    `operator bench (fill): ${opt.swarms} swarms x up to ${opt.peers} peers = ${PODS} wanted, ${opt.clusters} clusters x ${NODES_PER_CLUSTER.join('/')} nodes x ${opt.gpusPerNode} GPU = ${GPUS} GPUs, maxPending ${opt.maxPending}`,
    `  control planes start      ${common['controlplane_start_seconds']}s; ${opt.nodes} nodes registered in ${common['nodes_registered_seconds']}s (${result.nodes_registered_per_second}/s), Ready in ${common['nodes_register_seconds']}s; apiservers idle ${JSON.stringify(common['apiserver_idle_requests_per_second'])} req/s`,
    `  floor (direct pods)       ${floor ? `every GPU used in ${floor.doneSeconds ?? 'INCOMPLETE'}s (apiserver clock ${floor.doneSecondsApiserver ?? '-'}s; apply ${floor.applySeconds}s; watch lag p50/max ${floor.watchLagMs.p50}/${floor.watchLagMs.max} ms)` : 'skipped'}`,
    `  spotswarm                 every GPU used in ${phase.doneSeconds ?? 'INCOMPLETE'}s (apiserver clock ${phase.doneSecondsApiserver ?? '-'}s; apply ${phase.applySeconds}s; by cluster ${JSON.stringify(result.spotswarm_fill_seconds_by_cluster)}; watch lag p50/max ${phase.watchLagMs.p50}/${phase.watchLagMs.max} ms)`,
    `  spotswarm / floor         ${result.ratio_spotswarm_over_floor ?? '-'}`,
    `  waiting pods              peak ${waiting.peakTotal} (${waiting.peakPerSwarmCluster} per swarm and cluster), after fill peak ${waiting.afterFillPeakTotal} (${waiting.afterFillPeakPerSwarmCluster}), settled ${result.waiting_settled_total} (${settledPerSwarmCluster} per swarm and cluster; allowed ${opt.maxPending}): ${waitingBounded ? 'bounded' : 'NOT BOUNDED'}`,
    `  bound pods removed        ${JSON.stringify(boundRemoved)} (of ${result.operator_pod_deletes} operator deletes)`,
    `  swarms                    ${result.swarms_at_max} at max, ${result.swarms_without_bound_peer} without a bound peer; first pod after apply p50 ${result.swarms_first_pod_seconds.p50}s, max ${result.swarms_first_pod_seconds.max}s`,
    `  operator API requests     ${atFillRequests} to fill = ${result.operator_api_requests_per_second}/s (peak ${result.operator_api_requests_per_second_peak}/s; by cluster ${JSON.stringify(result.operator_api_requests_per_second_by_cluster)}); ${requests} until quiet (${quietAfterSeconds}s after fill)`,
    `  operator API latency      ${lat(latency.all)}; ${Object.entries(latency.byCluster).map(([k, v]) => `${k} ${lat(v)}`).join('; ')}`,
    `  operator reconciles       ${reconciles} (${result.operator_reconciles_per_swarm}/swarm; ${JSON.stringify(result.operator_reconciles_by_result)}), ${lat(result.operator_reconcile_ms)}; ${OPERATOR_WORKERS} workers busy ${result.operator_workers_busy_share_to_fill} of the time to fill; ${result.operator_status_writes} status writes (${result.operator_status_conflicts} conflicts), ${events} Events`,
    `  operator CPU / RSS        ${operatorCpu}s CPU to fill (${result.operator_cpu_ms_per_request} ms per request), peak RSS ${result.operator_peak_rss_mib} MiB`,
    `  apiservers to fill        ${JSON.stringify(result.apiserver_requests_per_second_to_fill)} req/s`,
    '',
  ].join('\n') + '\n');
  return result;
}

main().then(
  (result) => finish(result, result['complete'] === true && result['waiting_bounded'] !== false ? 0 : 1),
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    if (!finishing) say(`failed: ${msg}`);
    return finish(failedResult(msg.split('\n')[0] ?? msg), 1);
  },
);
