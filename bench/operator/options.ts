/**
 * The bench's flags and their environment variables (listed in main.ts),
 * checked and completed with the mode's defaults and the sizes that follow
 * from them.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../operator/config.ts';

/** A flag or variable the bench cannot run with; main.ts prints it and exits 2. */
export class UsageError extends Error {}

export interface BenchOptions {
  clusters: number;
  /** Two or more clusters: fill every free GPU; one: bind every pod against the baselines. */
  fill: boolean;
  swarms: number;
  /** Fake nodes, all clusters together. */
  nodes: number;
  gpusPerNode: number;
  /** Most peers per swarm. */
  peers: number;
  maxPending: number;
  /** SPOTSWARM_CONCURRENCY for the operator, when given. */
  operatorConcurrency: string | undefined;
  applyConcurrency: number;
  /** Creates in flight per cluster in the floor phase. */
  floorConcurrency: number;
  registerConcurrency: number;
  heartbeatMs: number;
  /** Per phase. */
  timeoutMs: number;
  /** Whether the floor (and, BIND, the ReplicaSet) phase runs. */
  baseline: boolean;
  logDir: string;
  /** Reconciles the operator runs at once: the flag, or the operator's own default (its config parser says which). */
  operatorWorkers: number;
  /** Every trainer pod of every swarm (BIND: all of them bind; FILL: more than the GPUs). */
  pods: number;
  gpus: number;
  /** Nodes per cluster: an even split, the first clusters taking the remainder. */
  nodesPerCluster: number[];
  /** Cluster (and placement) names; BIND keeps the operator's default cluster name. */
  clusterNames: string[];
  /** FILL: node counts to run one after another (each on fresh control planes); empty: one run at `nodes`. */
  sweepNodes: number[];
}

export type ParsedArgs = { help: true } | { help: false; options: BenchOptions };

/**
 * Parses `args` (without node and the script); `env` supplies what no flag
 * sets; the default log dir is under `repoRoot`. `sweepStep`, one of the
 * sweep's node counts, gives that run's options: its nodes, the peers that
 * follow from them, and a log dir of its own.
 */
export function parseOptions(args: string[], env: Readonly<Record<string, string | undefined>>, repoRoot: string, sweepStep?: number): ParsedArgs {
  const { values: flags } = parseArgs({
    args,
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
      sweep: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (flags.help) return { help: true };

  const intOpt = (flag: string | undefined, envName: string, def: number, min: number): number => {
    const raw = flag ?? env[envName];
    if (raw === undefined || raw === '') return def;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min) throw new UsageError(`${flag !== undefined ? 'flag' : envName}=${raw}: must be an integer >= ${min}`);
    return v;
  };

  const clusters = intOpt(flags.clusters, 'SPOTSWARM_BENCH_CLUSTERS', 1, 1);
  const fill = clusters > 1;
  const swarms = intOpt(flags.swarms, 'SPOTSWARM_BENCH_SWARMS', fill ? 200 : 100, 1);
  const sweepRaw = flags.sweep ?? env['SPOTSWARM_BENCH_SWEEP'];
  const sweepNodes = !sweepRaw ? [] : sweepRaw.split(',').map((s) => {
    const v = Number(s.trim());
    if (s.trim() === '' || !Number.isInteger(v) || v < clusters) throw new UsageError(`${flags.sweep !== undefined ? '--sweep' : 'SPOTSWARM_BENCH_SWEEP'}=${sweepRaw}: each node count must be an integer >= ${clusters}`);
    return v;
  });
  if (sweepNodes.length > 0 && !fill) throw new UsageError('--sweep runs the fill benchmark: it needs --clusters 2 or more');
  if (sweepNodes.length > 0 && (flags.nodes ?? env['SPOTSWARM_BENCH_NODES'])) throw new UsageError('--sweep gives the node counts; leave out --nodes (SPOTSWARM_BENCH_NODES)');
  const nodes = sweepStep ?? intOpt(flags.nodes, 'SPOTSWARM_BENCH_NODES', fill ? 2000 : 500, clusters);
  const gpusPerNode = intOpt(flags['gpus-per-node'], 'SPOTSWARM_BENCH_GPUS_PER_NODE', fill ? 1 : 4, 1);
  const applyConcurrency = intOpt(flags['apply-concurrency'], 'SPOTSWARM_BENCH_APPLY_CONCURRENCY', 10, 1);
  // FILL: enough peers per swarm that the swarms want 1.6x the GPUs, so waiting pods pile up unless maxPending holds them.
  const peers = intOpt(flags.peers, 'SPOTSWARM_BENCH_PEERS', fill ? Math.max(2, Math.ceil((1.6 * nodes * gpusPerNode) / swarms)) : 3, 1);
  const maxPending = intOpt(flags['max-pending'], 'SPOTSWARM_BENCH_MAX_PENDING', 1, 0);
  const operatorConcurrency = flags['operator-concurrency'] ?? env['SPOTSWARM_BENCH_OPERATOR_CONCURRENCY'];
  // FILL: the operator may keep (its concurrency x 8) creates in flight; the floor must not be held below that.
  const floorConcurrency = intOpt(flags['floor-concurrency'], 'SPOTSWARM_BENCH_FLOOR_CONCURRENCY', fill ? 32 : applyConcurrency, 1);
  const registerConcurrency = intOpt(flags['register-concurrency'], 'SPOTSWARM_BENCH_REGISTER_CONCURRENCY', 16, 1);
  const heartbeatMs = intOpt(flags['heartbeat-seconds'], 'SPOTSWARM_BENCH_HEARTBEAT_SECONDS', 10, 1) * 1000;
  const timeoutMs = intOpt(flags.timeout, 'SPOTSWARM_BENCH_TIMEOUT_SECONDS', fill ? 600 : 300, 10) * 1000;
  let operatorWorkers: number;
  try {
    operatorWorkers = parseConfig(operatorConcurrency ? { SPOTSWARM_CONCURRENCY: operatorConcurrency } : {}, false).concurrency;
  } catch (err) {
    throw new UsageError(`--operator-concurrency: ${(err as Error).message}`);
  }
  const pods = swarms * peers;
  const gpus = nodes * gpusPerNode;
  if (!fill && gpus < pods) throw new UsageError(`${nodes} nodes x ${gpusPerNode} GPUs cannot hold ${pods} one-GPU pods; raise --nodes or --gpus-per-node`);
  if (fill && pods <= gpus) throw new UsageError(`${swarms} swarms x ${peers} peers = ${pods} want no more than the ${gpus} GPUs; filling needs more demand than GPUs (raise --peers or --swarms)`);
  return {
    help: false,
    options: {
      clusters, fill, swarms, nodes, gpusPerNode, peers, maxPending, operatorConcurrency, applyConcurrency, floorConcurrency, registerConcurrency,
      heartbeatMs, timeoutMs,
      baseline: !flags['skip-baseline'],
      logDir: join(resolve(flags['log-dir'] ?? join(repoRoot, '.tmp', 'bench', 'operator')), sweepStep === undefined ? '' : `nodes-${sweepStep}`),
      operatorWorkers, pods, gpus,
      nodesPerCluster: Array.from({ length: clusters }, (_, i) => Math.floor(nodes / clusters) + (i < nodes % clusters ? 1 : 0)),
      clusterNames: fill ? Array.from({ length: clusters }, (_, i) => `dc${i + 1}`) : ['local'],
      sweepNodes: sweepStep === undefined ? sweepNodes : [],
    },
  };
}
