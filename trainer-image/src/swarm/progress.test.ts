import fc from 'fast-check';
import { computeProgress, type ProgressInput } from './progress.ts';
import { makePeerIds, makeRecord } from './testing.ts';

let ids: string[] = [];
beforeAll(async () => {
  ids = await makePeerIds(6);
});

const base = (over: Partial<ProgressInput>): ProgressInput => ({
  records: [],
  nowMs: 1_000_000,
  highWaterEpoch: 0,
  targetBatchSize: 100,
  matchmakingWindowMs: 0,
  maxExtrapolationMs: 10_000,
  ...over,
});

describe('computeProgress', () => {
  it('takes the highest live epoch and sums samples only at that epoch', () => {
    const p = computeProgress(base({
      records: [
        makeRecord(ids[0]!, { epoch: 3, samples: 40, samplesPerSecond: 10 }),
        makeRecord(ids[1]!, { epoch: 3, samples: 25, samplesPerSecond: 5 }),
        makeRecord(ids[2]!, { epoch: 2, samples: 999, samplesPerSecond: 100 }),
      ],
    }));
    expect(p).toMatchObject({ epoch: 3, samples: 65, samplesPerSecond: 15, peers: 2, targetReached: false, ready: false });
    expect(p.etaMs).toBeCloseTo((35 / 15) * 1000, 6);
  });

  it('never goes below the high-water mark, even when the live peers are behind it', () => {
    const p = computeProgress(base({ highWaterEpoch: 9, records: [makeRecord(ids[0]!, { epoch: 4, samples: 500 })] }));
    expect(p.epoch).toBe(9);
    expect(p.samples).toBe(0);
    expect(p.peers).toBe(0);
    expect(p.ready).toBe(false);
  });

  it('is ready once the reported samples reach the target', () => {
    const p = computeProgress(base({ records: [makeRecord(ids[0]!, { samples: 60 }), makeRecord(ids[1]!, { samples: 40 })] }));
    expect(p).toMatchObject({ targetReached: true, etaMs: 0, ready: true });
  });

  it('extrapolates by samples/s since each update for the ETA, clamped to maxExtrapolationMs', () => {
    const recs = [makeRecord(ids[0]!, { samples: 10, samplesPerSecond: 10, updatedAt: 1_000_000 - 2_000 })];
    const p = computeProgress(base({ records: recs }));
    expect(p.estimatedSamples).toBeCloseTo(30, 9);
    expect(p.etaMs).toBeCloseTo(7_000, 6);
    const stale = computeProgress(base({ records: [makeRecord(ids[0]!, { samples: 10, samplesPerSecond: 10, updatedAt: 0 })] }));
    expect(stale.estimatedSamples).toBeCloseTo(10 + 10 * 10, 9);
    const future = computeProgress(base({ records: [makeRecord(ids[0]!, { samples: 10, samplesPerSecond: 10, updatedAt: 2_000_000 })] }));
    expect(future.estimatedSamples).toBe(10);
  });

  it('is ready inside the matchmaking window, not outside it, and never with window 0', () => {
    const recs = [makeRecord(ids[0]!, { samples: 50, samplesPerSecond: 10, updatedAt: 1_000_000 })];
    expect(computeProgress(base({ records: recs, matchmakingWindowMs: 5_000 })).ready).toBe(true);
    expect(computeProgress(base({ records: recs, matchmakingWindowMs: 4_999 })).ready).toBe(false);
    expect(computeProgress(base({ records: recs, matchmakingWindowMs: 0 })).ready).toBe(false);
  });

  it('has an infinite ETA when nobody accumulates', () => {
    const p = computeProgress(base({ records: [makeRecord(ids[0]!, { samples: 5 })], matchmakingWindowMs: 60_000 }));
    expect(p.etaMs).toBe(Infinity);
    expect(p.ready).toBe(false);
  });

  it('property: epoch >= high-water mark and >= every live epoch; samples never exceed the sum of all samples', () => {
    const rec = fc.record({ i: fc.integer({ min: 0, max: 5 }), epoch: fc.nat(20), samples: fc.nat(1000), sps: fc.double({ min: 0, max: 100, noNaN: true }), age: fc.integer({ min: -5000, max: 50_000 }) });
    fc.assert(
      fc.property(fc.array(rec, { maxLength: 12 }), fc.nat(25), fc.integer({ min: 1, max: 5000 }), (rs, hwm, target) => {
        const records = rs.map((r) => makeRecord(ids[r.i]!, { epoch: r.epoch, samples: r.samples, samplesPerSecond: r.sps, updatedAt: 1_000_000 - r.age }));
        const p = computeProgress(base({ records, highWaterEpoch: hwm, targetBatchSize: target, matchmakingWindowMs: 1000 }));
        const all = records.reduce((s, r) => s + r.samples, 0);
        return (
          p.epoch >= hwm &&
          records.every((r) => r.epoch <= p.epoch) &&
          p.samples <= all &&
          p.estimatedSamples >= p.samples &&
          p.etaMs >= 0 &&
          (p.targetReached === p.samples >= target) &&
          (!p.ready || p.peers > 0)
        );
      }),
    );
  });

  it('property: feeding the result back as the high-water mark keeps epochs monotonic over any sequence of views', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat(30), { maxLength: 5 }), { minLength: 1, maxLength: 20 }), (views) => {
        let hwm = 0;
        for (const epochs of views) {
          const p = computeProgress(base({ highWaterEpoch: hwm, records: epochs.map((e, i) => makeRecord(ids[i]!, { epoch: e })) }));
          if (p.epoch < hwm) return false;
          hwm = p.epoch;
        }
        return true;
      }),
    );
  });
});
