import type { TelemetryReport } from '../../api/index.ts';
import { PEER_TTL_MS, roundSig, summarize } from './aggregate.ts';

const rep = (peerId: string, over: Partial<TelemetryReport> = {}): TelemetryReport => ({ v: 1, peerId, pod: `pod-${peerId}`, epoch: 3, samplesAccumulated: 10, samplesPerSecond: 5, time: 0, ...over });

describe('summarize telemetry', () => {
  it('sums throughput, takes the max epoch, sums samples only at that epoch, averages loss', () => {
    const s = summarize([
      { report: rep('a', { loss: 2, cluster: 'dc1' }), receivedAt: 1000 },
      { report: rep('b', { loss: 4, cluster: 'dc2' }), receivedAt: 1000 },
      { report: rep('c', { epoch: 2, samplesAccumulated: 99, cluster: 'dc2' }), receivedAt: 1000 },
    ], 2000, 100)!;
    expect(s).toMatchObject({ activePeers: 3, epoch: 3, samplesPerSecond: 15, loss: 3, samplesAccumulated: 20, activeByCluster: { dc1: 1, dc2: 2 } });
    expect(s.etaSeconds).toBeCloseTo(80 / 15, 1);
  });
  it('forgets peers that stopped reporting', () => {
    const s = summarize([{ report: rep('a'), receivedAt: 0 }, { report: rep('b'), receivedAt: PEER_TTL_MS }], PEER_TTL_MS + 1, 100)!;
    expect(s.activePeers).toBe(1);
    expect(summarize([{ report: rep('a'), receivedAt: 0 }], PEER_TTL_MS + 1, 100)).toBeUndefined();
  });
  it('counts live peers by device and groups their problems by reason, with a count and the first message', () => {
    const s = summarize([
      { report: rep('a', { backend: 'gpu' }), receivedAt: 1000 },
      { report: rep('b', { backend: 'cpu-fallback', syncing: true }), receivedAt: 1000 },
      { report: rep('c', { backend: 'gpu', problem: { reason: 'DataUnreadable', message: '/data/x.txt: ENOENT' } }), receivedAt: 1000 },
      { report: rep('d', { backend: 'synthetic', problem: { reason: 'DataUnreadable', message: '/data/y.txt: EACCES' } }), receivedAt: 1000 },
    ], 2000, 100)!;
    expect(s.backends).toEqual({ gpu: 2, 'cpu-fallback': 1, cpu: 0, wasm: 0 });
    expect(s.syncing).toBe(1);
    expect(s.problems).toEqual([{ reason: 'DataUnreadable', peers: 2, message: 'pod-c: /data/x.txt: ENOENT' }]);
    // A swarm whose workload reports no device (the synthetic averaging one) has no backend counts.
    expect(summarize([{ report: rep('e', { backend: 'synthetic' }), receivedAt: 1000 }], 2000, 100)!.backends).toEqual({});
  });
  it('data: the highest pass any live peer reports, and the most done any peer at that pass saw; absent without a data pool', () => {
    const s = summarize([
      { report: rep('a', { dataPass: 2, dataDone: 0.1 }), receivedAt: 1000 },
      { report: rep('b', { dataPass: 2, dataDone: 0.357 }), receivedAt: 1000 },
      { report: rep('c', { dataPass: 1, dataDone: 0.99 }), receivedAt: 1000 },
    ], 2000, 100)!;
    expect(s).toMatchObject({ dataPass: 2, dataDonePercent: 35 });
    const none = summarize([{ report: rep('a'), receivedAt: 1000 }], 2000, 100)!;
    expect(none.dataPass).toBeUndefined();
    expect(none.dataDonePercent).toBeUndefined();
  });
  it('rounds to three significant digits', () => {
    expect(roundSig(123.456)).toBe(123);
    expect(roundSig(0.0012345)).toBe(0.00123);
    expect(roundSig(0)).toBe(0);
  });
});
