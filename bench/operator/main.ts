/**
 * npm run bench:operator [-- --swarms 100 --nodes 500 --peers 3 --gpus-per-node 4]
 * npm run bench:operator -- --clusters 2 [--swarms 200 --nodes 2000 --peers 16 --max-pending 1]
 * npm run bench:operator -- --clusters 2 --sweep 500,1000,2000
 *
 * Two modes, one set of parts (control planes, fake nodes, the operator
 * process, its /metrics, pod watches):
 *
 * BIND (--clusters 1, the default). How fast does the operator get N swarms'
 * trainer pods placed, compared with what the built-in ReplicaSet controller
 * achieves for the same pods, on the same control plane, in the same run?
 * Capacity exceeds demand: every pod can bind.
 *
 * FILL (--clusters 2 or more; the multi-cluster fill benchmark, with the
 * defaults: 200 swarms, 2,000 fake GPU nodes of 1 GPU split over 2 clusters,
 * each swarm wanting up to 16 peers). The swarms together want more peers
 * than there are GPUs. How long until every GPU in every cluster is used by
 * a bound trainer pod, how many pods are left waiting, and what does that
 * cost the operator in API requests/s, latency, reconciles, CPU and RSS?
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
 *      crds/examples/tiny.yaml (peers min 1, max P, maxPending
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
 * SWEEP (--sweep with FILL): the fill run once per node count, one after
 * another, each on fresh control planes with the peers per swarm that follow
 * from its GPUs, logs in <log-dir>/nodes-<count>/ (with that run's full JSON
 * result in result.json). It shows how the operator's peak RSS and the fill
 * ratio grow with the cluster: stdout gets one line per size and ends with
 * one JSON line holding every size's RSS, fill times and ratio, and the RSS
 * growth over the node growth from the smallest to the largest size (below
 * 1: sub-linear).
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
 * and ReplicaSet phases), --log-dir, --sweep node counts, comma-separated
 * (SPOTSWARM_BENCH_SWEEP; FILL only, instead of --nodes).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../testkit/harness/index.ts';
import { bindMode } from './bind.ts';
import { say, secs, t } from './clock.ts';
import { fillMode } from './fill.ts';
import { parseOptions, UsageError, type BenchOptions } from './options.ts';
import { BenchProcesses } from './processes.ts';
import { setUp } from './setup.ts';
import { sweepResult } from './sweep.ts';

function parsedOptions(sweepStep?: number): BenchOptions {
  try {
    const parsed = parseOptions(process.argv.slice(2), process.env, REPO_ROOT, sweepStep);
    if (!parsed.help) return parsed.options;
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '') + '\n');
    process.exit(0);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench:operator: ${err.message}\n`);
    process.exit(2);
  }
}

const o = parsedOptions();
const startedAt = t();
/** What the run under way started (a sweep starts a new set per size). */
let started = new BenchProcesses();

let finishing = false;
/** Stops everything, then prints the one JSON line last and exits. The first caller wins. */
async function finish(result: Record<string, unknown>, code: number): Promise<void> {
  if (finishing) return;
  finishing = true;
  await started.stopAll();
  say(`done in ${secs(t() - startedAt)}s; every process the bench started is stopped`);
  // Open watches or sockets must not keep the bench alive.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(code));
}

const failedResult = (error: string): Record<string, unknown> => ({
  bench: 'operator', mode: o.sweepNodes.length > 0 ? 'fill-sweep' : o.fill ? 'fill' : 'bind', complete: false, error, clusters: o.clusters, swarms: o.swarms,
  ...(o.sweepNodes.length > 0 ? { sweep_nodes: o.sweepNodes } : { nodes: o.nodes, ...(o.fill ? { gpus: o.gpus, peers_max_per_swarm: o.peers } : { pods: o.pods }) }),
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (finishing) process.exit(130);
    say(`${sig}: stopping every process the bench started`);
    void finish(failedResult(`interrupted by ${sig}`), 130);
  });
}

async function runOnce(opts: BenchOptions): Promise<Record<string, unknown>> {
  const s = await setUp(opts, started);
  const common = { controlplane_start_seconds: s.controlPlaneStartSeconds, nodes_register_seconds: s.nodesRegisterSeconds };
  return opts.fill
    ? fillMode(s.ctx, { ...common, nodes_registered_seconds: s.registerSeconds, apiserver_idle_requests_per_second: s.apiserverIdle })
    : bindMode(s.ctx, common);
}

/** Each size in turn, on fresh control planes; a size that fails ends the sweep. */
async function runSweep(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown>[] = [];
  for (const nodes of o.sweepNodes) {
    const step = parsedOptions(nodes);
    say(`sweep: ${nodes} nodes`);
    const r = await runOnce(step);
    writeFileSync(join(step.logDir, 'result.json'), `${JSON.stringify(r)}\n`);
    results.push(r);
    await started.stopAll();
    started = new BenchProcesses();
    if (r['complete'] !== true) break;
  }
  const sweep = sweepResult(results, o.sweepNodes);
  process.stdout.write(`\n${sweep.summary}\n`);
  return sweep.result;
}

const run = (): Promise<Record<string, unknown>> => (o.sweepNodes.length > 0 ? runSweep() : runOnce(o));

run().then(
  (result) => finish(result, result['complete'] === true && result['waiting_bounded'] !== false ? 0 : 1),
  (err: unknown) => {
    const msg = err instanceof Error ? err.message : String(err);
    if (!finishing) say(`failed: ${msg}`);
    return finish(failedResult(msg.split('\n')[0] ?? msg), 1);
  },
);
