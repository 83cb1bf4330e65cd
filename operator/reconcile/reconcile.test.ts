import { reconcile, FAILURE_BACKOFF_BASE_MS, HEALTHY_RUN_MS } from './reconcile.ts';
import { pod, reconcileOne, tinySwarm } from './testing.ts';

const now = new Date('2026-01-01T00:00:00Z');

describe('reconcile', () => {
  it('creates pods up to max for a new swarm, and reports Pending', () => {
    const r = reconcileOne({ swarm: tinySwarm(), pods: [], now });
    expect(r.create).toBe(3);
    expect(r.delete).toEqual([]);
    expect(r.status.phase).toBe('Pending');
    expect(r.status.peers).toEqual({ desired: 3, scheduled: 0, running: 0, summary: '0/3' });
    expect(r.status.selector).toBe('spotswarm.dev/swarm=tiny,spotswarm.dev/role=trainer');
    expect(r.status.observedGeneration).toBe(1);
  });

  it('is Running when all desired peers run, and asks for nothing; Ready only once the epoch advanced', () => {
    const pods = [pod({ runningSince: now.getTime() - 1_000 }), pod({ runningSince: now.getTime() - 1_000 }), pod({ runningSince: now.getTime() - 1_000 })];
    const r = reconcileOne({ swarm: tinySwarm(), pods, now });
    expect(r.create).toBe(0);
    expect(r.status.phase).toBe('Running');
    expect(r.status.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'WaitingForProgress' });
    expect(r.status.conditions!.find((c) => c.type === 'Progressing')!.status).toBe('False');
    const telemetry = { activePeers: 3, epoch: 1, samplesPerSecond: 30, samplesAccumulated: 0, activeByCluster: {}, backends: {}, syncing: 0, problems: [] };
    const trained = reconcileOne({ swarm: tinySwarm((s) => { s.status = r.status; }), pods, telemetry, now });
    const ready = trained.status.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'True', reason: 'Training', observedGeneration: 1 });
    expect(trained.status.lastEpochTime).toBe(now.toISOString());
    expect(trained.events).toContainEqual(expect.objectContaining({ type: 'Normal', reason: 'Training' }));
  });

  it('counts a preempted pod once, as a preemption, and replaces it without backoff', () => {
    const preempted = pod({ running: false, ending: 'preempted' });
    const first = reconcileOne({ swarm: tinySwarm(), pods: [pod(), pod(), preempted], now });
    expect(first.status.preemptions).toBe(1);
    expect(first.status.failures).toBe(0);
    expect(first.create).toBe(1);
    expect(first.release).toEqual([]); // not released until the count is persisted
    expect(first.status.accountedPods).toEqual([preempted.uid]);
    expect(first.events.map((e) => e.reason)).toContain('PodPreempted');
    // Next pass, with the status persisted: released, not counted again.
    const second = reconcileOne({ swarm: tinySwarm((s) => { s.status = first.status; }), pods: [pod(), pod(), preempted, pod({ running: false, scheduled: false })], now });
    expect(second.status.preemptions).toBe(1);
    expect(second.release).toEqual([preempted.name]);
    expect(second.create).toBe(0);
    // Once the pod is gone, its uid leaves accountedPods.
    const third = reconcileOne({ swarm: tinySwarm((s) => { s.status = second.status; }), pods: [pod(), pod(), pod()], now });
    expect(third.status.accountedPods).toEqual([]);
  });

  it('counts a failed pod as a failure, deletes it, and backs off exponentially', () => {
    const failed = pod({ running: false, ending: 'failed' });
    const r = reconcileOne({ swarm: tinySwarm(), pods: [pod({ runningSince: now.getTime() }), failed], now });
    expect(r.status.failures).toBe(1);
    expect(r.status.preemptions).toBe(0);
    expect(r.delete).toEqual([failed.name]);
    expect(r.create).toBe(0);
    expect(r.requeueAfterMs).toBe(FAILURE_BACKOFF_BASE_MS);
    expect(r.status.phase).toBe('Degraded');
    expect(r.status.conditions!.find((c) => c.type === 'Degraded')!.reason).toBe('PeersFailing');
    // A second failure doubles the wait.
    const failed2 = pod({ running: false, ending: 'failed' });
    const r2 = reconcileOne({ swarm: tinySwarm((s) => { s.status = r.status; }), pods: [pod({ runningSince: now.getTime() }), failed2], now });
    expect(r2.status.consecutiveFailures).toBe(2);
    expect(r2.requeueAfterMs).toBe(2 * FAILURE_BACKOFF_BASE_MS);
    // After the backoff it creates again.
    const later = new Date(now.getTime() + 2 * FAILURE_BACKOFF_BASE_MS);
    const r3 = reconcileOne({ swarm: tinySwarm((s) => { s.status = r2.status; }), pods: [pod({ runningSince: now.getTime() })], now: later });
    expect(r3.create).toBe(2);
  });

  it('resets the failure streak once a pod has run healthily', () => {
    const swarm = tinySwarm((s) => { s.status = { consecutiveFailures: 4, lastFailureTime: now.toISOString() }; });
    const r = reconcileOne({ swarm, pods: [pod({ runningSince: now.getTime() - HEALTHY_RUN_MS })], now });
    expect(r.status.consecutiveFailures).toBe(0);
    expect(r.create).toBe(2);
  });

  it('does not count a pod that someone deleted, but replaces it', () => {
    const deleted = pod({ ending: 'deleted', running: false });
    const r = reconcileOne({ swarm: tinySwarm(), pods: [pod(), pod(), deleted], now });
    expect(r.status.failures).toBe(0);
    expect(r.status.preemptions).toBe(0);
    expect(r.create).toBe(1);
    expect(r.delete).toEqual([]);
  });

  it('scales down to a new ceiling, removing unscheduled pods first, then the newest', () => {
    const old1 = pod({ createdAt: 1 });
    const old2 = pod({ createdAt: 2 });
    const newest = pod({ createdAt: 9 });
    const pending = pod({ scheduled: false, running: false, createdAt: 3 });
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.spec.peers.max = 2; }), pods: [old1, old2, newest, pending], now });
    expect(r.delete).toEqual([pending.name, newest.name]);
    expect(r.events.map((e) => e.reason)).toContain('ScaledDown');
  });

  it('is Degraded below min peers', () => {
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.spec.peers.min = 2; }), pods: [pod(), pod({ running: false })], now });
    expect(r.status.phase).toBe('Degraded');
    expect(r.status.conditions!.find((c) => c.type === 'Degraded')!.reason).toBe('BelowMinPeers');
  });

  it('keeps lastTransitionTime when a condition does not change', () => {
    const first = reconcileOne({ swarm: tinySwarm(), pods: [pod(), pod(), pod()], now });
    const later = new Date(now.getTime() + 60_000);
    const second = reconcileOne({ swarm: tinySwarm((s) => { s.status = first.status; }), pods: [pod(), pod(), pod()], now: later });
    expect(second.status.conditions).toEqual(first.status.conditions);
    expect(second.status).toEqual(first.status);
  });

  it('removes every pod once the swarm has Succeeded', () => {
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.status = { phase: 'Succeeded' }; }), pods: [pod(), pod()], now });
    expect(r.create).toBe(0);
    expect(r.delete).toHaveLength(2);
    expect(r.status.phase).toBe('Succeeded');
  });

  it('pauses at max 0: no pods, not Degraded, Ready False with reason Paused', () => {
    const draining = reconcileOne({ swarm: tinySwarm((s) => { s.spec.peers = { min: 2, max: 0, maxPending: 1 }; }), pods: [pod()], now });
    expect(draining.delete).toHaveLength(1);
    expect(draining.status.peers!.summary).toBe('1/0');
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.spec.peers = { min: 2, max: 0, maxPending: 1 }; }), pods: [], now });
    expect(r.create).toBe(0);
    expect(r.status.peers!.summary).toBe('0/0');
    expect(r.status.phase).toBe('Pending');
    expect(r.status.conditions!.find((c) => c.type === 'Degraded')!.status).toBe('False');
    expect(r.status.conditions!.find((c) => c.type === 'Ready')!.reason).toBe('Paused');
  });
});

describe('reconcile with free-GPU capacity', () => {
  const cap = (slots: number, pendingElsewhere = 0) => ({ slots, pendingElsewhere, freeGpus: slots });
  const big = () => tinySwarm((s) => { s.spec.peers = { min: 1, max: 10, maxPending: 2 }; });

  it('fills free slots plus a few waiting pods, not the whole ceiling', () => {
    const r = reconcileOne({ swarm: big(), pods: [pod()], capacity: cap(3), now });
    expect(r.status.peers!.desired).toBe(1 + 3 + 2);
    expect(r.create).toBe(5);
    expect(r.events.map((e) => e.reason)).toContain('ScaledUp');
  });

  it('leaves room for GPU pods already waiting in the cluster', () => {
    const r = reconcileOne({ swarm: big(), pods: [pod()], capacity: cap(3, 2), now });
    expect(r.status.peers!.desired).toBe(1 + 1 + 2);
  });

  it('keeps min peers placed even with no free GPUs', () => {
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.spec.peers = { min: 3, max: 10, maxPending: 0 }; }), pods: [], capacity: cap(0), now });
    expect(r.create).toBe(3);
  });

  it('removes surplus pending pods, never running ones, when nothing fits', () => {
    const runningPods = [pod(), pod()];
    const waiting = [pod({ scheduled: false, running: false }), pod({ scheduled: false, running: false }), pod({ scheduled: false, running: false })];
    const r = reconcileOne({ swarm: big(), pods: [...runningPods, ...waiting], capacity: cap(0), now });
    expect(r.status.peers!.desired).toBe(2 + 0 + 2);
    expect(r.delete).toHaveLength(1);
    expect(waiting.map((p) => p.name)).toContain(r.delete[0]);
  });

  it('is stable while the scheduler binds what it created', () => {
    const before = reconcileOne({ swarm: big(), pods: [pod(), pod({ scheduled: false, running: false })], capacity: cap(2), now });
    // One pending pod got bound: one more scheduled, one fewer free slot; same target.
    const after = reconcileOne({ swarm: big(), pods: [pod(), pod({ running: false })], capacity: cap(1), now });
    expect(after.status.peers!.desired).toBe(before.status.peers!.desired);
  });
});

describe('reconcile with telemetry', () => {
  const t = (over = {}) => ({ activePeers: 2, epoch: 7, samplesPerSecond: 40, loss: 3.2, samplesAccumulated: 10, etaSeconds: 1.5, activeByCluster: { local: 2 }, backends: {}, syncing: 0, problems: [], ...over });

  it('writes epoch, throughput, loss, ETA and active peers into status', () => {
    const r = reconcileOne({ swarm: tinySwarm(), pods: [pod(), pod(), pod()], telemetry: t(), now });
    expect(r.status).toMatchObject({ epoch: 7, samplesPerSecond: 40, loss: 3.2, etaSeconds: 1.5 });
    expect(r.status.peers!.active).toBe(2);
  });

  it('never moves the epoch backwards', () => {
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.status = { epoch: 9 }; }), pods: [pod()], telemetry: t({ epoch: 3 }), now });
    expect(r.status.epoch).toBe(9);
  });

  it('copies the data pass and percent done from telemetry, and keeps them when nobody reports', () => {
    const r = reconcileOne({ swarm: tinySwarm(), pods: [pod()], telemetry: t({ dataPass: 3, dataDonePercent: 41 }), now });
    expect(r.status).toMatchObject({ dataPass: 3, dataDonePercent: 41 });
    const quiet = reconcileOne({ swarm: tinySwarm((s) => { s.status = r.status; }), pods: [pod()], now });
    expect(quiet.status).toMatchObject({ dataPass: 3, dataDonePercent: 41 });
  });

  it('drops live throughput when nobody reports, keeping the last epoch and loss', () => {
    const r = reconcileOne({ swarm: tinySwarm((s) => { s.status = { epoch: 9, loss: 2, samplesPerSecond: 5, etaSeconds: 3 }; }), pods: [pod()], now });
    expect(r.status).toMatchObject({ epoch: 9, loss: 2 });
    expect(r.status.samplesPerSecond).toBeUndefined();
    expect(r.status.etaSeconds).toBeUndefined();
  });

  it('succeeds at stopAfter: phase Succeeded, pods removed, final checkpoint named, one Completed event', () => {
    const swarm = tinySwarm((s) => { s.spec.stopAfter = { epochs: 7 }; });
    const r = reconcileOne({ swarm, pods: [pod(), pod()], telemetry: t({ checkpoint: 'ckpt-epoch-7' }), now });
    expect(r.status.phase).toBe('Succeeded');
    expect(r.delete).toHaveLength(2);
    expect(r.status.checkpoint).toBe('ckpt-epoch-7');
    expect(r.events.filter((e) => e.reason === 'Completed')).toHaveLength(1);
    expect(r.events.find((e) => e.reason === 'Completed')!.message).toContain('ckpt-epoch-7');
    const again = reconcileOne({ swarm: tinySwarm((s) => { s.spec.stopAfter = { epochs: 7 }; s.status = r.status; }), pods: [], now });
    expect(again.events.filter((e) => e.reason === 'Completed')).toHaveLength(0);
    expect(again.status.phase).toBe('Succeeded');
    expect(again.create).toBe(0);
  });
});

describe('reconcile across placements', () => {
  const twoDc = () => tinySwarm((s) => {
    s.spec.peers = { min: 1, max: 6, maxPending: 1 };
    s.spec.placements = [
      { name: 'dc1', weight: 1, network: { mode: 'PodNetwork' } },
      { name: 'dc2', weight: 1, kubeconfigSecretRef: { name: 'dc2', key: 'kubeconfig' }, network: { mode: 'PodNetwork' } },
    ];
  });
  const cap = (slots: number) => ({ slots, pendingElsewhere: 0, freeGpus: slots });

  it('places peers in both clusters where GPUs are free, and reports per-cluster counts', () => {
    const r = reconcile({ swarm: twoDc(), placements: [
      { name: 'dc1', pods: [pod()], capacity: cap(1), reachable: true },
      { name: 'dc2', pods: [], capacity: cap(10), reachable: true },
    ], now });
    expect(r.actions['dc1']!.create + 1 + r.actions['dc2']!.create).toBe(6);
    expect(r.actions['dc1']!.create).toBeLessThanOrEqual(2); // 1 fits + 1 waiting
    expect(r.status.clusters!.map((c) => c.name)).toEqual(['dc1', 'dc2']);
    expect(r.status.clusters![0]).toMatchObject({ running: 1, pending: 0, freeGpus: 1, reachable: true });
  });

  it('never exceeds max by duplicating pods of an unreachable cluster; says which cluster and since when', () => {
    const since = '2026-01-01T00:00:00.000Z';
    const r = reconcile({ swarm: twoDc(), placements: [
      { name: 'dc1', pods: [pod(), pod(), pod(), pod()], capacity: cap(0), reachable: false, unreachableSince: since },
      { name: 'dc2', pods: [], capacity: cap(10), reachable: true },
    ], now });
    expect(r.actions['dc1']).toEqual({ create: 0, delete: [], release: [] });
    expect(r.actions['dc2']!.create).toBe(2);
    expect(r.status.clusters![0]).toMatchObject({ reachable: false, unknown: 4, unreachableSince: since });
    const degraded = r.status.conditions!.find((c) => c.type === 'Degraded')!;
    expect(degraded).toMatchObject({ status: 'True', reason: 'ClusterUnreachable' });
    expect(degraded.message).toContain(`cluster dc1 unreachable since ${since}`);
    expect(r.events.map((e) => e.reason)).toContain('ClusterUnreachable');
    expect(r.status.phase).toBe('Degraded');
  });

  it('does not count or release ended pods in a cluster it cannot reach', () => {
    const gone = pod({ ending: 'preempted', running: false });
    const r = reconcile({ swarm: twoDc(), placements: [
      { name: 'dc1', pods: [gone], reachable: false },
      { name: 'dc2', pods: [], reachable: true },
    ], now });
    expect(r.status.preemptions).toBe(0);
    expect(r.actions['dc1']!.release).toEqual([]);
  });
});
