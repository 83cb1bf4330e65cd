import type { CustomObjectsApi, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { Registry } from 'prom-client';
import { createMetrics } from '../metrics.ts';
import { ACCOUNTING_FINALIZER } from '../reconcile/pods.ts';
import { placementsOf, type PlacementActions } from '../reconcile/reconcile.ts';
import { tinySwarm } from '../reconcile/testing.ts';
import { APPLY_STEPS, lookAgain, newApplyContext, TELEMETRY_RECHECK_MS, type ApplyDeps } from './apply.ts';
import type { ClusterCache } from './cluster.ts';
import { PodExpectations } from './expectations.ts';
import type { Observed } from './observe.ts';
import { REMOTE_RETRY_MS } from './placement-clusters.ts';
import type { RelayManager } from './relay.ts';
import { runSteps } from './steps.ts';
import type { SwarmObject } from './swarm-writes.ts';

type Seen = Pick<Observed, 'result' | 'telemetry' | 'inputs'>;

function seen(o: { requeueAfterMs?: number; telemetry?: boolean; unreachable?: boolean } = {}): Seen {
  return {
    result: { actions: {}, status: {}, events: [], ...(o.requeueAfterMs !== undefined ? { requeueAfterMs: o.requeueAfterMs } : {}) },
    ...(o.telemetry ? { telemetry: { activePeers: 1, epoch: 1, samplesPerSecond: 10, samplesAccumulated: 0, activeByCluster: { local: 1 }, backends: {}, syncing: 0, problems: [] } } : {}),
    inputs: [{ name: 'local', pods: [], reachable: true }, ...(o.unreachable ? [{ name: 'east', pods: [], reachable: false }] : [])],
  };
}

describe('lookAgain (pure step)', () => {
  it('asks for nothing when nothing may change on its own', async () => {
    expect(await lookAgain(undefined, undefined, seen())).toBeUndefined();
  });
  it('follows the reconciler', async () => {
    expect(await lookAgain(undefined, undefined, seen({ requeueAfterMs: 1_234 }))).toEqual({ requeueAfterMs: 1_234 });
  });
  it('looks again while peers report, so quiet ones drop out of status', async () => {
    expect(await lookAgain(undefined, undefined, seen({ telemetry: true }))).toEqual({ requeueAfterMs: TELEMETRY_RECHECK_MS });
  });
  it('looks again while a cluster is unreachable', async () => {
    expect(await lookAgain(undefined, undefined, seen({ unreachable: true }))).toEqual({ requeueAfterMs: REMOTE_RETRY_MS });
  });
  it('takes the soonest', async () => {
    expect(await lookAgain(undefined, undefined, seen({ requeueAfterMs: 60_000, telemetry: true, unreachable: true }))).toEqual({ requeueAfterMs: Math.min(TELEMETRY_RECHECK_MS, REMOTE_RETRY_MS) });
  });
});

/** The API calls the steps make, in order, as short strings. */
type Calls = string[];

function trainer(name: string): V1Pod {
  return { metadata: { name, namespace: 'default', finalizers: [ACCOUNTING_FINALIZER] } };
}

function fakeCluster(calls: Calls, pods: V1Pod[], o: { failCreates?: number } = {}): ClusterCache {
  let creates = 0;
  const core = {
    patchNamespacedPod: async (a: { name: string }) => { calls.push(`release ${a.name}`); return {}; },
    deleteNamespacedPod: async (a: { name: string; body?: { preconditions?: { resourceVersion?: string } } }) => {
      calls.push(`delete ${a.name} as of ${a.body?.preconditions?.resourceVersion}`);
      return {};
    },
    createNamespacedPod: async () => {
      creates++;
      if (creates <= (o.failCreates ?? 0)) throw new Error('namespaces "default" not found');
      calls.push('create');
      return { metadata: { name: `new-${creates}`, resourceVersion: String(100 + creates) } };
    },
  };
  const request = <T>(_verb: string, _resource: string, call: () => Promise<T>): Promise<T> => call();
  return { name: 'local', core, request, reachable: () => true, trainerPods: () => pods } as unknown as ClusterCache;
}

function setup(o: { failCreates?: number; statusConflict?: boolean } = {}) {
  const calls: Calls = [];
  const events: string[] = [];
  const local = fakeCluster(calls, [trainer('ended'), trainer('surplus')], o);
  const expectations = new PodExpectations({ now: () => 1_000, ttlMs: 60_000 });
  const custom = {
    replaceNamespacedCustomObjectStatus: async () => {
      calls.push('status');
      if (o.statusConflict) throw new Error('409 Conflict');
      return {};
    },
  } as unknown as CustomObjectsApi;
  const deps: ApplyDeps = {
    local,
    custom,
    events: { record: async (_s, type, reason, message) => { events.push(`${type} ${reason}: ${message}`); } },
    metrics: createMetrics(new Registry()),
    log: { info: () => {}, warn: () => {}, debug: () => {} } as unknown as Logger,
    relays: {} as RelayManager,
    expectations,
  };
  const swarm = tinySwarm() as SwarmObject;
  const actions: PlacementActions = { create: 2, delete: ['surplus'], release: ['ended'] };
  const observed: Observed = {
    namespace: 'default',
    name: swarm.metadata.name!,
    key: `default/${swarm.metadata.name}`,
    uid: 'uid-1',
    placements: placementsOf(swarm, 'local'),
    clusters: new Map([['local', local]]),
    checked: { problems: [], podSwarm: swarm, issuedCredentials: false },
    inputs: [{ name: 'local', pods: [], reachable: true }],
    result: {
      actions: { local: actions },
      status: { phase: 'Running', peers: { desired: 3, scheduled: 1, running: 1, summary: '1/3' } },
      events: [{ type: 'Normal', reason: 'PodCompleted', message: 'Pod ended completed' }],
    },
    specEvents: [],
    seenVersions: new Map([['local', new Map([['surplus', '42']])]]),
  };
  const run = () => runSteps(APPLY_STEPS, [newApplyContext(deps), swarm, observed], () => {});
  return { calls, events, expectations, run };
}

describe('APPLY_STEPS', () => {
  it('writes status, then releases, deletes as seen, and creates', async () => {
    const { calls, run } = setup();
    expect(await run()).toBeUndefined();
    expect(calls).toEqual(['status', 'release ended', 'delete surplus as of 42', 'create', 'create']);
  });

  it('expects the pods it created and deleted until the cache shows them', async () => {
    const { expectations, run } = setup();
    await run();
    expect(expectations.observe('uid-1', 'local', new Set(['surplus']))).toEqual({
      created: [{ name: 'new-1', at: 1_000, resourceVersion: '101' }, { name: 'new-2', at: 1_000, resourceVersion: '102' }],
      deleting: new Set(['surplus']),
    });
    expect(expectations.inFlightElsewhere('uid-2', 'local')).toBe(2);
  });

  it('records the reconciler\'s events and one event naming the created pods', async () => {
    const { events, run } = setup();
    await run();
    expect(events).toEqual(['Normal PodCompleted: Pod ended completed', 'Normal PodCreated: Created trainer pods new-1, new-2']);
  });

  it('reports a failed create without failing the reconcile', async () => {
    const { calls, events, expectations, run } = setup({ failCreates: 1 });
    await run();
    expect(calls.filter((c) => c === 'create')).toHaveLength(1);
    expect(events).toContain('Warning CreateFailed: Cannot create a trainer pod: namespaces "default" not found');
    expect(expectations.observe('uid-1', 'local', new Set()).created.map((c) => c.name)).toEqual(['new-2']);
  });

  it('stops at a status write that fails: nothing is released, deleted or created', async () => {
    const { calls, events, run } = setup({ statusConflict: true });
    await expect(run()).rejects.toThrow('409 Conflict');
    expect(calls).toEqual(['status']);
    expect(events).toEqual([]);
  });
});
