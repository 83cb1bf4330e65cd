/**
 * Real trainer processes on 127.0.0.1 and a
 * real nats-server average synthetic vectors.
 *
 * The synthetic values are k/64 (|k| ≤ 512) and the sample caps are chosen
 * so the weights sum to a power of two: the weighted mean is then exact in
 * float32 whatever the summation order, so "exact" is checked bit for bit.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { fp16ErrorBound, int8ErrorBound } from '../../trainer-image/src/averaging/index.ts';
import { dataplaneSuite, initialVector, maxAbsDiff, peerIdOf, readDump, roundAt, spawnTrainer, weightedMean } from '../../testkit/dataplane/index.ts';

jest.setTimeout(300_000);
const suite = dataplaneSuite();

describe('4 processes average a 64 MiB vector', () => {
  const MB = 64;
  const caps = [16, 32, 48, 32]; // Σ = 128

  it.each(['none', 'fp16', 'int8'] as const)('compression %s: every peer ends with the sample-weighted mean', async (compression) => {
    const dir = suite.dumpDir();
    const swarm = { namespace: 'int', name: `mean-${compression}` };
    const names = caps.map((_, i) => `${compression}-${i}`);
    const ts = names.map((name, i) =>
      spawnTrainer(suite, name, { swarm, targetBatchSize: 128, maxGroupSize: 4, compression, vectorMb: MB, samplesPerSecond: 200, samplesPerEpoch: caps[i]!, stopAfterEpochs: 1, dumpDir: dir, timeoutSeconds: 120 }),
    );
    const ids = await Promise.all(ts.map(peerIdOf));
    const rounds = await Promise.all(ts.map((t) => roundAt(t, 0)));
    const exits = await Promise.all(ts.map((t) => t.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0, 0]);

    for (const r of rounds) {
      // One group of all four, weighted by their capped samples, complete.
      expect(r['groups']).toBe(1);
      expect([...(r['members'] as string[])].sort()).toEqual([...ids].sort());
      const weightOf = new Map((r['members'] as string[]).map((id, i) => [id, (r['weights'] as number[])[i]]));
      expect(ids.map((id) => weightOf.get(id))).toEqual(caps);
      expect(r['fractionAveraged']).toBe(1);
      expect(r['droppedPeers']).toEqual([]);
      expect(r['compression']).toBe(compression);
    }
    // All peers agree bit for bit (every shard has one reducer whose result everyone receives).
    expect(new Set(rounds.map((r) => r['checksum'])).size).toBe(1);

    const expected = weightedMean(names.map((n) => initialVector(n, MB)), caps);
    const exact = Float32Array.from(expected);
    for (const name of names) {
      const got = readDump(dir, name, 0);
      expect(got.length).toBe(16 * 1024 * 1024);
      if (compression === 'none') {
        const d = maxAbsDiff(got, exact);
        expect(d).toEqual({ index: -1, diff: 0 });
      } else {
        // Bound: each contribution is encoded once on its way to the reducer and the mean once on its way back.
        // |x| ≤ 8, so per encoding: fp16 ≤ 8·2^-11, int8 ≤ 8·(1/254 + 2^-23); plus float32 rounding of the reduction.
        const enc = compression === 'fp16' ? fp16ErrorBound(8) : int8ErrorBound(8);
        const bound = enc + (compression === 'fp16' ? fp16ErrorBound(8 + enc) : int8ErrorBound(8 + enc)) + 8 * 2 ** -20;
        const d = maxAbsDiff(got, expected);
        expect(d.diff).toBeLessThanOrEqual(bound);
        // And compression really happened (the result is not the exact mean everywhere).
        expect(maxAbsDiff(got, exact).diff).toBeGreaterThan(0);
      }
    }
  });
});

describe('12 processes with maxGroupSize 4', () => {
  it('form several groups per round, and every peer converges to the global mean', async () => {
    const dir = suite.dumpDir();
    const MB = 1 / 16; // 16 Ki elements: the point is the mixing, not the size
    const n = 12;
    const epochs = 3;
    const swarm = { namespace: 'int', name: 'moshpit' };
    const names = Array.from({ length: n }, (_, i) => `m-${i}`);
    const ts = names.map((name) =>
      spawnTrainer(suite, name, { swarm, targetBatchSize: n * 8, maxGroupSize: 4, vectorMb: MB, samplesPerSecond: 100, samplesPerEpoch: 8, stopAfterEpochs: epochs, dumpDir: dir }),
    );
    const starts = await Promise.all(ts.flatMap((t) => Array.from({ length: epochs }, (_, e) => t.waitFor('round started', (l) => l['epoch'] === e))));
    const exits = await Promise.all(ts.map((t) => t.exited));
    expect(exits.every((e) => e.code === 0)).toBe(true);

    for (let e = 0; e < epochs; e++) {
      const atE = starts.filter((l) => l['epoch'] === e);
      // Everyone took part; several groups of at most 4.
      expect(atE).toHaveLength(n);
      for (const l of atE) {
        expect(l['groups'] as number).toBeGreaterThan(1);
        expect((l['members'] as string[]).length).toBeLessThanOrEqual(4);
      }
      // Groups partition the swarm: members lists agree, and cover all 12.
      const groups = new Map(atE.map((l) => [l['roundId'] as string, JSON.stringify(l['members'])]));
      for (const l of atE) expect(groups.get(l['roundId'] as string)).toBe(JSON.stringify(l['members']));
      expect([...groups.values()].flatMap((g) => JSON.parse(g) as string[]).sort()).toHaveLength(n);
    }
    // Groups mix: some pair that averaged together in round 0 is apart in round 1.
    const groupOf = (e: number) => new Map(starts.filter((l) => l['epoch'] === e).map((l) => [l['pod'] as string, l['roundId'] as string]));
    const g0 = groupOf(0);
    const g1 = groupOf(1);
    expect(names.some((a) => names.some((b) => a !== b && g0.get(a) === g0.get(b) && g1.get(a) !== g1.get(b)))).toBe(true);

    const mean = weightedMean(names.map((name) => initialVector(name, MB)), names.map(() => 1));
    const spreadAfter = (e: number) => Math.max(...names.map((name) => maxAbsDiff(readDump(dir, name, e), mean).diff));
    const first = spreadAfter(0);
    const last = spreadAfter(epochs - 1);
    expect(first).toBeGreaterThan(0.5); // one round of groups of 4 is far from the global mean
    expect(last).toBeLessThan(1e-4); // a few rounds later, everyone holds it
  });
});
