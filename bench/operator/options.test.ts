import { parseOptions, UsageError, type BenchOptions } from './options.ts';

const parse = (args: string[], env: Record<string, string> = {}): BenchOptions => {
  const p = parseOptions(args, env, '/repo');
  if (p.help) throw new Error('unexpected --help');
  return p.options;
};

describe('bench:operator options', () => {
  it('BIND (one cluster) by default: 100 swarms x 3 peers on 500 nodes x 4 GPUs, the operator default cluster name', () => {
    expect(parse([])).toMatchObject({
      clusters: 1, fill: false, swarms: 100, nodes: 500, gpusPerNode: 4, peers: 3, maxPending: 1, pods: 300, gpus: 2000,
      applyConcurrency: 10, floorConcurrency: 10, registerConcurrency: 16, heartbeatMs: 10_000, timeoutMs: 300_000, baseline: true,
      nodesPerCluster: [500], clusterNames: ['local'], logDir: '/repo/.tmp/bench/operator', operatorConcurrency: undefined,
    });
  });

  it('FILL with --clusters 2: 200 swarms wanting 1.6x the 2,000 GPUs, nodes split evenly, clusters dc1 and dc2', () => {
    expect(parse(['--clusters', '2'])).toMatchObject({
      clusters: 2, fill: true, swarms: 200, nodes: 2000, gpusPerNode: 1, peers: 16, pods: 3200, gpus: 2000,
      floorConcurrency: 32, timeoutMs: 600_000, nodesPerCluster: [1000, 1000], clusterNames: ['dc1', 'dc2'],
    });
    expect(parse(['--clusters', '3', '--nodes', '11', '--swarms', '4']).nodesPerCluster).toEqual([4, 4, 3]);
  });

  it('takes a flag over its environment variable, and the operator concurrency for its worker count', () => {
    expect(parse(['--swarms', '7'], { SPOTSWARM_BENCH_SWARMS: '9' }).swarms).toBe(7);
    expect(parse([], { SPOTSWARM_BENCH_SWARMS: '9', SPOTSWARM_BENCH_SKIP: '' }).swarms).toBe(9);
    const o = parse(['--skip-baseline', '--log-dir', '/logs'], { SPOTSWARM_BENCH_OPERATOR_CONCURRENCY: '4' });
    expect(o).toMatchObject({ baseline: false, logDir: '/logs', operatorConcurrency: '4', operatorWorkers: 4 });
  });

  it('says which flag or variable is wrong', () => {
    expect(() => parse(['--swarms', '0'])).toThrow(new UsageError('flag=0: must be an integer >= 1'));
    expect(() => parse([], { SPOTSWARM_BENCH_NODES: 'x' })).toThrow(new UsageError('SPOTSWARM_BENCH_NODES=x: must be an integer >= 1'));
    expect(() => parse(['--operator-concurrency', 'abc'])).toThrow(UsageError);
    expect(() => parse(['--nodes', '1', '--gpus-per-node', '1'])).toThrow(/cannot hold 300 one-GPU pods/);
    expect(() => parse(['--clusters', '2', '--nodes', '10', '--peers', '1', '--swarms', '2'])).toThrow(/filling needs more demand than GPUs/);
  });

  it('--sweep: FILL runs at each node count, each with its own peers and log dir', () => {
    const o = parse(['--clusters', '2', '--sweep', '500, 1000,2000']);
    expect(o.sweepNodes).toEqual([500, 1000, 2000]);
    const step = parseOptions(['--clusters', '2', '--sweep', '500,1000,2000'], {}, '/repo', 500);
    expect(step.help ? undefined : step.options).toMatchObject({ nodes: 500, gpus: 500, peers: 4, nodesPerCluster: [250, 250], sweepNodes: [], logDir: '/repo/.tmp/bench/operator/nodes-500' });
    expect(parse([], { SPOTSWARM_BENCH_CLUSTERS: '2', SPOTSWARM_BENCH_SWEEP: '10,20' }).sweepNodes).toEqual([10, 20]);
    expect(() => parse(['--sweep', '500'])).toThrow(/needs --clusters 2 or more/);
    expect(() => parse(['--clusters', '2', '--sweep', '500', '--nodes', '500'])).toThrow(/leave out --nodes/);
    expect(() => parse(['--clusters', '2', '--sweep', '500,,1000'])).toThrow(new UsageError('--sweep=500,,1000: each node count must be an integer >= 2'));
  });

  it('returns help alone for --help', () => {
    expect(parseOptions(['--help', '--swarms', '0'], {}, '/repo')).toEqual({ help: true });
  });
});
