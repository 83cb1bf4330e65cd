import fc from 'fast-check';
import { computeProgress } from './progress.ts';
import type { MembershipRecord } from './record.ts';
import { makePeerIds, makeRecord } from './testing.ts';
import { capClaims, lowerMedian, measuredRate, observe, type Observation, type PeerThroughput } from './throughput.ts';

let ids: string[] = [];
beforeAll(async () => {
  ids = await makePeerIds(5);
});

const seen = (obs: readonly Observation[]): PeerThroughput => {
  let s: PeerThroughput | undefined;
  for (const o of obs) s = observe(s, o);
  return s!;
};
const o = (storedAt: number, epoch: number, samples: number): Observation => ({ storedAt, epoch, samples });

describe('observe / measuredRate', () => {
  it('times growth from the last record at the starting samples to the last that grew, ignoring refreshes without growth', () => {
    // Waits at 0 until 1500, grows to 20 by 3500, then refreshes while the round runs.
    const s = seen([o(1000, 1, 0), o(1500, 1, 0), o(2500, 1, 10), o(3500, 1, 20), o(6000, 1, 20)]);
    expect(s).toMatchObject({ epoch: 1, startAt: 1000, startSamples: 0, baseAt: 1500, grownSamples: 20, grownAt: 3500, lastAt: 6000, entered: false });
    expect(measuredRate(s)).toBeCloseTo(10, 9); // 20 samples / 2 s
  });

  it('starts a segment at a new epoch, keeps the finished one, and measures over both', () => {
    const s = seen([o(1000, 1, 0), o(1500, 1, 0), o(3500, 1, 20), o(7000, 2, 0), o(8000, 2, 5)]);
    expect(s).toMatchObject({ epoch: 2, startAt: 7000, entered: true, past: [{ growth: 20, ms: 2000 }] });
    expect(measuredRate(s)).toBeCloseTo((25 / 3000) * 1000, 9);
  });

  it('keeps at most three finished segments', () => {
    const obs: Observation[] = [];
    for (let e = 0; e < 6; e++) obs.push(o(e * 10_000, e, 0), o(e * 10_000 + 1000, e, 10 * (e + 1)));
    const s = seen(obs);
    expect(s.past.map((p) => p.growth)).toEqual([50, 40, 30]);
    expect(measuredRate(s)).toBeCloseTo(((60 + 50 + 40 + 30) / 4000) * 1000, 9);
  });

  it('ignores replayed or older records, and restarts the segment when samples go down', () => {
    const s = seen([o(1000, 1, 0), o(2000, 1, 10)]);
    expect(observe(s, o(2000, 1, 10))).toBe(s);
    expect(observe(s, o(2000, 1, 12))).toMatchObject({ grownSamples: 12, grownAt: 2000 });
    expect(observe(s, o(1500, 1, 5))).toBe(s);
    expect(observe(s, o(3000, 1, 3))).toMatchObject({ startAt: 3000, startSamples: 3, entered: true, past: [{ growth: 10, ms: 1000 }] });
  });

  it('has no rate for a tag-along that never grows, nor for a single record', () => {
    expect(measuredRate(seen([o(1000, 1, 0), o(3500, 1, 0), o(6000, 1, 0)]))).toBeUndefined();
    expect(measuredRate(seen([o(1000, 1, 40)]))).toBeUndefined();
  });

  it('lowerMedian takes the lower middle value, so one high value in a pair does not raise it', () => {
    expect(lowerMedian([])).toBeUndefined();
    expect(lowerMedian([3, 1, 2])).toBe(2);
    expect(lowerMedian([1e9, 1])).toBe(1);
    expect(lowerMedian([4, 1e9, 2, 3])).toBe(3);
  });
});

describe('capClaims', () => {
  const honest = (peer: string, startAt: number, rate: number, untilMs: number): { rec: MembershipRecord; tp: PeerThroughput } => {
    const samples = Math.floor((rate * (untilMs - startAt)) / 1000);
    return { rec: makeRecord(peer, { epoch: 1, samples, samplesPerSecond: rate }), tp: seen([o(startAt - 5000, 0, 0), o(startAt, 1, 0), o(untilMs, 1, samples)]) };
  };

  it('caps a liar claiming 1e9 at ratio × median rate × its elapsed time + slack (hand-computed), and progress stays short of the target', () => {
    const [self, a, b, liar] = ids;
    const peers = [honest(a!, 1000, 10, 3000), honest(b!, 1000, 10, 3000)];
    const selfRec = makeRecord(self!, { epoch: 1, samples: 20, samplesPerSecond: 10 });
    const throughput = new Map<string, PeerThroughput>(peers.map((p, i) => [[a, b][i]!, p.tp]));
    throughput.set(self!, seen([o(0, 0, 0), o(1000, 1, 0), o(3000, 1, 20)]));
    // Seen at epoch 0, entered epoch 1 at 1000 with 0, claimed 1e9 at 3000.
    throughput.set(liar!, seen([o(0, 0, 0), o(1000, 1, 0), o(3000, 1, 1e9)]));
    const liarRec = makeRecord(liar!, { epoch: 1, samples: 1e9, samplesPerSecond: 1e9 });
    const r = capClaims({ records: [selfRec, ...peers.map((p) => p.rec), liarRec], throughput, selfPeerId: self!, ratio: 4, floorSamples: 8 });
    // rates: 10, 10, 10 and the liar's 5e8 → lower median 10; allowed rate 40/s;
    // slack = max(8, ⌈40 × 1 s⌉) = 40; elapsed 2 s → allowed = ⌈40 × 2⌉ + 40 = 120.
    expect(r.medianRate).toBeCloseTo(10, 9);
    expect(r.capped).toEqual([{ peerId: liar, epoch: 1, claimed: 1e9, allowed: 120, measured: true }]);
    expect(r.records[3]).toMatchObject({ peerId: liar, samples: 120, samplesPerSecond: 40 });
    expect(r.records.slice(0, 3)).toEqual([selfRec, ...peers.map((p) => p.rec)]);
    const p = computeProgress({ records: r.records, nowMs: 3000, highWaterEpoch: 1, targetBatchSize: 1000, matchmakingWindowMs: 5000, maxExtrapolationMs: 10_000 });
    expect(p.samples).toBe(20 + 20 + 20 + 120);
    expect(p.targetReached).toBe(false);
    expect(p.ready).toBe(false);
  });

  it('never caps this peer\'s own record', () => {
    const [self] = ids;
    const rec = makeRecord(self!, { epoch: 1, samples: 1e9 });
    const r = capClaims({ records: [rec], throughput: new Map([[self!, seen([o(1000, 1, 0), o(1001, 1, 1e9)])]]), selfPeerId: self!, ratio: 4, floorSamples: 8 });
    expect(r.capped).toEqual([]);
    expect(r.records[0]).toBe(rec);
  });

  it('with no rate known yet counts up to the floor, and marks a claim it saw only in a first record as not measured', () => {
    const [self, a] = ids;
    const rec = makeRecord(a!, { epoch: 2, samples: 500, samplesPerSecond: 50 });
    const r = capClaims({ records: [makeRecord(self!, { epoch: 2 }), rec], throughput: new Map([[a!, seen([o(5000, 2, 500)])]]), selfPeerId: self!, ratio: 4, floorSamples: 8 });
    expect(r.medianRate).toBeUndefined();
    expect(r.capped).toEqual([{ peerId: a, epoch: 2, claimed: 500, allowed: 8, measured: false }]);
    expect(r.records[1]).toMatchObject({ samples: 8, samplesPerSecond: 0 });
  });

  it('counts a claim within the floor in full before any rate is known (first epoch, one record each)', () => {
    const [self, a] = ids;
    const rec = makeRecord(a!, { epoch: 0, samples: 8 });
    const r = capClaims({ records: [makeRecord(self!), rec], throughput: new Map([[a!, seen([o(5000, 0, 8)])]]), selfPeerId: self!, ratio: 4, floorSamples: 8 });
    expect(r.capped).toEqual([]);
    expect(r.records[1]).toBe(rec);
  });

  it('treats a record the watch has not measured at its epoch as no elapsed time', () => {
    const [self, a, b] = ids;
    const throughput = new Map([[a!, seen([o(0, 1, 0), o(1000, 1, 10)])], [b!, seen([o(0, 1, 0)])]]);
    const r = capClaims({ records: [makeRecord(self!, { epoch: 2 }), makeRecord(a!, { epoch: 2, samples: 100 })], throughput, selfPeerId: self!, ratio: 2, floorSamples: 1 });
    // rate of a = 10/s → allowed rate 20, slack max(1, 20) = 20, elapsed 0
    expect(r.capped).toEqual([{ peerId: a, epoch: 2, claimed: 100, allowed: 20, measured: false }]);
  });

  it('rejects a ratio below 1 and a negative floor, naming them', () => {
    expect(() => capClaims({ records: [], throughput: new Map(), selfPeerId: 'x', ratio: 0.5, floorSamples: 1 })).toThrow(/maxSamplesRatio/);
    expect(() => capClaims({ records: [], throughput: new Map(), selfPeerId: 'x', ratio: 4, floorSamples: -1 })).toThrow(/floorSamples/);
  });

  it('never caps honest peers whose rates are within a factor 3 of each other, reporting each micro-batch with up to 250 ms of write delay', () => {
    // Each peer computes micro-batches of m samples back to back at its own rate from the
    // epoch's start, and reports each one (and its entry into the epoch) up to 250 ms late;
    // between reports it refreshes every 2.5 s. A micro-batch takes at least 100 ms (the
    // trainer's shortest gap between reports). Checked after every record the watch sees.
    const peerArb = fc.record({ factor: fc.double({ min: 1, max: 3, noNaN: true }), delays: fc.array(fc.integer({ min: 0, max: 250 }), { minLength: 40, maxLength: 40 }) });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.double({ min: 100, max: 20_000, noNaN: true }), fc.array(peerArb, { minLength: 1, maxLength: 4 }), fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 3 }), (m, slowestBatchMs, peers, epochBatches) => {
        type Ev = { at: number; peer: number; epoch: number; samples: number };
        const events: Ev[] = [];
        let epochStart = 0;
        for (const [epoch, batches] of epochBatches.entries()) {
          let epochEnd = epochStart;
          for (const [i, p] of peers.entries()) {
            const batchMs = Math.max(100, slowestBatchMs / p.factor);
            // A peer's writes land in order, each after its computation and at least a round trip (1 ms) after the one before.
            const reports: Ev[] = [{ at: epochStart + p.delays[0]!, peer: i, epoch, samples: 0 }];
            for (let k = 1; k <= batches; k++) reports.push({ at: Math.max(reports[k - 1]!.at + 1, epochStart + k * batchMs + p.delays[k % 40]!), peer: i, epoch, samples: k * m });
            const done = reports[batches]!.at;
            const refreshes: Ev[] = [];
            for (let t = epochStart + 2500; t < done; t += 2500) refreshes.push({ at: t, peer: i, epoch, samples: reports.filter((r) => r.at <= t).reduce((a, r) => Math.max(a, r.samples), 0) });
            events.push(...reports, ...refreshes);
            epochEnd = Math.max(epochEnd, done + 300);
          }
          epochStart = epochEnd + 1000;
        }
        events.sort((x, y) => x.at - y.at || x.epoch - y.epoch || x.samples - y.samples);
        const last = new Map<number, Ev>();
        const tp = new Map<string, PeerThroughput>();
        const key = (i: number): string => `peer-${i}`;
        for (const ev of events) {
          last.set(ev.peer, ev);
          tp.set(key(ev.peer), observe(tp.get(key(ev.peer)), { storedAt: ev.at, epoch: ev.epoch, samples: ev.samples }));
          const records = [...last.entries()].map(([i, e]) => makeRecord(ids[0]!, { peerId: key(i), epoch: e.epoch, samples: e.samples }));
          const r = capClaims({ records, throughput: tp, selfPeerId: 'observer', ratio: 4, floorSamples: m });
          if (r.capped.length > 0) throw new Error(`capped ${JSON.stringify(r.capped)} medianRate ${r.medianRate} at ${ev.at}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
