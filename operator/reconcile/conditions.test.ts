import type { Condition } from '../../api/index.ts';
import type { TelemetrySummary } from '../telemetry/aggregate.ts';
import { conditionEvents, degradedProblems, progressWindowMs, swarmConditions, type SwarmFacts } from './conditions.ts';

const NOW = Date.parse('2026-01-01T00:10:00Z');
const WINDOW = 60_000;

const telemetry = (over: Partial<TelemetrySummary> = {}): TelemetrySummary => ({
  activePeers: 3, epoch: 4, samplesPerSecond: 30, samplesAccumulated: 0, activeByCluster: {}, backends: {}, syncing: 0, problems: [], ...over,
});

/** Three peers running for a minute, no epoch yet: each case patches what it tests. */
function facts(over: Partial<SwarmFacts> = {}): SwarmFacts {
  return {
    now: NOW, min: 1, running: 3, active: 3, desired: 3, paused: false, finished: false, epoch: 4, gpus: 1,
    backingOff: false, consecutiveFailures: 0, unreachable: [], runningSince: NOW - 30_000, windowMs: WINDOW, ...over,
  };
}

function conditionsOf(f: SwarmFacts): Record<string, { status: string; reason: string; message: string }> {
  return Object.fromEntries(swarmConditions(f, degradedProblems(f)).map((c) => [c.type, { status: c.status, reason: c.reason, message: c.message }]));
}

describe('progressWindowMs', () => {
  it('is 2 × (round timeout + time to accumulate an epoch at the reported rate)', () => {
    expect(progressWindowMs(30, 64, 8)).toBe(2 * (30 + 8) * 1000);
    expect(progressWindowMs(30, 64, undefined)).toBe(60_000);
    expect(progressWindowMs(30, 64, 0)).toBe(60_000);
  });
});

describe('swarm conditions', () => {
  const table: [string, Partial<SwarmFacts>, { ready: [string, string]; progressing?: [string, string]; degraded: [string, string] }][] = [
    ['trains: the epoch advanced within the window', { lastEpochAt: NOW - 10_000, telemetry: telemetry({ backends: { gpu: 3 } }) },
      { ready: ['True', 'Training'], progressing: ['False', 'Stable'], degraded: ['False', 'AsExpected'] }],
    ['peers run, no epoch yet, inside the window', {},
      { ready: ['False', 'WaitingForProgress'], degraded: ['False', 'AsExpected'] }],
    ['peers run past the window without an epoch', { runningSince: NOW - WINDOW - 1 },
      { ready: ['False', 'NoProgress'], degraded: ['True', 'NoProgress'] }],
    ['the last epoch is older than the window', { runningSince: NOW - 10 * WINDOW, lastEpochAt: NOW - WINDOW - 1 },
      { ready: ['False', 'NoProgress'], degraded: ['True', 'NoProgress'] }],
    ['trainers exit because NATS cannot be reached', { running: 0, active: 0, runningSince: undefined, backingOff: true, consecutiveFailures: 2, lastFailure: { reason: 'NatsUnreachable', message: 'cannot connect to nats://x:4222' } },
      { ready: ['False', 'NatsUnreachable'], progressing: ['True', 'Scaling'], degraded: ['True', 'NatsUnreachable'] }],
    ['the NATS failure stays named while a replacement runs, until one runs healthily', { consecutiveFailures: 1, lastFailure: { reason: 'NatsUnreachable', message: 'cannot connect' } },
      { ready: ['False', 'NatsUnreachable'], degraded: ['True', 'NatsUnreachable'] }],
    ['generic failures keep PeersFailing', { running: 0, active: 0, runningSince: undefined, backingOff: true, consecutiveFailures: 1 },
      { ready: ['False', 'PeersFailing'], degraded: ['True', 'PeersFailing'] }],
    ['a peer cannot read its data', { telemetry: telemetry({ problems: [{ reason: 'DataUnreadable', peers: 3, message: 'p1: /data/x: ENOENT' }] }) },
      { ready: ['False', 'DataUnreadable'], degraded: ['True', 'DataUnreadable'] }],
    ['a GPU swarm whose peers all compute on the CPU trains, degraded', { lastEpochAt: NOW, telemetry: telemetry({ backends: { gpu: 0, 'cpu-fallback': 2, cpu: 0, wasm: 1 } }) },
      { ready: ['True', 'Training'], degraded: ['True', 'BackendFallback'] }],
    ['a CPU swarm on CPU is not a fallback', { gpus: 0, lastEpochAt: NOW, telemetry: telemetry({ backends: { gpu: 0, 'cpu-fallback': 0, cpu: 3, wasm: 0 } }) },
      { ready: ['True', 'Training'], degraded: ['False', 'AsExpected'] }],
    ['one GPU peer is enough', { lastEpochAt: NOW, telemetry: telemetry({ backends: { gpu: 1, 'cpu-fallback': 2, cpu: 0, wasm: 0 } }) },
      { ready: ['True', 'Training'], degraded: ['False', 'AsExpected'] }],
    ['below the minimum', { min: 4, lastEpochAt: NOW },
      { ready: ['False', 'BelowMinPeers'], degraded: ['True', 'BelowMinPeers'] }],
    ['pods starting', { active: 5, desired: 5, lastEpochAt: NOW },
      { ready: ['True', 'Training'], progressing: ['True', 'Scaling'], degraded: ['False', 'AsExpected'] }],
    ['a peer downloads the state', { lastEpochAt: NOW, telemetry: telemetry({ syncing: 1 }) },
      { ready: ['True', 'Training'], progressing: ['True', 'DownloadingState'], degraded: ['False', 'AsExpected'] }],
    ['paused', { running: 0, active: 0, desired: 0, paused: true, runningSince: undefined },
      { ready: ['False', 'Paused'], degraded: ['False', 'AsExpected'] }],
    ['done', { running: 0, active: 0, desired: 0, finished: true, runningSince: undefined },
      { ready: ['False', 'Completed'], progressing: ['False', 'StopAfterReached'], degraded: ['False', 'AsExpected'] }],
  ];
  it.each(table)('%s', (_name, over, want) => {
    const c = conditionsOf(facts(over));
    expect([c['Ready']!.status, c['Ready']!.reason]).toEqual(want.ready);
    expect([c['Degraded']!.status, c['Degraded']!.reason]).toEqual(want.degraded);
    if (want.progressing) expect([c['Progressing']!.status, c['Progressing']!.reason]).toEqual(want.progressing);
  });

  it('lists every problem in Degraded, each with its reason, the first one as the reason', () => {
    const f = facts({ runningSince: NOW - 2 * WINDOW, telemetry: telemetry({ backends: { gpu: 0, 'cpu-fallback': 0, cpu: 0, wasm: 3 }, problems: [{ reason: 'DataUnreadable', peers: 1, message: 'p1: http://s3/x: HTTP 403 Forbidden' }] }) });
    const degraded = conditionsOf(f)['Degraded']!;
    expect(degraded.reason).toBe('DataUnreadable');
    expect(degraded.message).toMatch(/^DataUnreadable: 1 peer\(s\): p1: http:\/\/s3\/x: HTTP 403 Forbidden; NoProgress: .*; BackendFallback: spec.trainer.resources.gpus is 1/);
  });

  it('keeps messages stable while nothing changes, so status is not rewritten on every pass', () => {
    const f = facts({ runningSince: NOW - 2 * WINDOW });
    expect(conditionsOf(f)).toEqual(conditionsOf({ ...f, now: NOW + 5_000 }));
  });
});

describe('conditionEvents', () => {
  const asOld = (f: SwarmFacts): Condition[] => swarmConditions(f, degradedProblems(f)).map((c) => ({ ...c, observedGeneration: 1, lastTransitionTime: '' }));
  const eventsFor = (before: SwarmFacts | undefined, after: SwarmFacts) => conditionEvents(before ? asOld(before) : undefined, swarmConditions(after, degradedProblems(after)), degradedProblems(after));

  it('says Training when Ready turns True, and NotReady with the reason when it turns False', () => {
    expect(eventsFor(facts(), facts({ lastEpochAt: NOW }))).toEqual([expect.objectContaining({ type: 'Normal', reason: 'Training' })]);
    const stalled = facts({ runningSince: NOW - 10 * WINDOW, lastEpochAt: NOW - WINDOW - 1 });
    const ev = eventsFor(facts({ lastEpochAt: NOW }), stalled);
    expect(ev.map((e) => [e.type, e.reason])).toEqual([['Warning', 'NotReady'], ['Warning', 'NoProgress']]);
    expect(ev[0]!.message).toMatch(/^NoProgress: /);
  });

  it('warns once per new problem, not on every pass', () => {
    const data = facts({ telemetry: telemetry({ problems: [{ reason: 'DataUnreadable', peers: 1, message: 'p1: /x: ENOENT' }] }) });
    expect(eventsFor(facts(), data)).toEqual([{ type: 'Warning', reason: 'DataUnreadable', message: '1 peer(s): p1: /x: ENOENT' }]);
    expect(eventsFor(data, data)).toEqual([]);
  });
});
