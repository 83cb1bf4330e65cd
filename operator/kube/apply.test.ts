import { lookAgain, TELEMETRY_RECHECK_MS } from './apply.ts';
import { REMOTE_RETRY_MS } from './placement-clusters.ts';
import type { Observed } from './observe.ts';

type Seen = Pick<Observed, 'result' | 'telemetry' | 'inputs'>;

function observed(o: { requeueAfterMs?: number; telemetry?: boolean; unreachable?: boolean } = {}): Seen {
  return {
    result: { actions: {}, status: {}, events: [], ...(o.requeueAfterMs !== undefined ? { requeueAfterMs: o.requeueAfterMs } : {}) },
    ...(o.telemetry ? { telemetry: { activePeers: 1, epoch: 1, samplesPerSecond: 10, samplesAccumulated: 0, activeByCluster: { local: 1 } } } : {}),
    inputs: [{ name: 'local', pods: [], reachable: true }, ...(o.unreachable ? [{ name: 'east', pods: [], reachable: false }] : [])],
  };
}

describe('lookAgain (pure step)', () => {
  it('asks for nothing when nothing may change on its own', async () => {
    expect(await lookAgain(undefined, undefined, observed())).toBeUndefined();
  });
  it('follows the reconciler', async () => {
    expect(await lookAgain(undefined, undefined, observed({ requeueAfterMs: 1_234 }))).toEqual({ requeueAfterMs: 1_234 });
  });
  it('looks again while peers report, so quiet ones drop out of status', async () => {
    expect(await lookAgain(undefined, undefined, observed({ telemetry: true }))).toEqual({ requeueAfterMs: TELEMETRY_RECHECK_MS });
  });
  it('looks again while a cluster is unreachable', async () => {
    expect(await lookAgain(undefined, undefined, observed({ unreachable: true }))).toEqual({ requeueAfterMs: REMOTE_RETRY_MS });
  });
  it('takes the soonest', async () => {
    expect(await lookAgain(undefined, undefined, observed({ requeueAfterMs: 60_000, telemetry: true, unreachable: true }))).toEqual({ requeueAfterMs: Math.min(TELEMETRY_RECHECK_MS, REMOTE_RETRY_MS) });
  });
});
