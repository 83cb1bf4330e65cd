import { describe, expect, it } from '@jest/globals';
import type { RoundResult, ShardReport } from '../averaging/index.ts';
import { CollaborativeOptimizer, type CollaborativeOptions } from './collaborative.ts';
import { segmentsOf } from './layout.ts';
import { classifyRound, RoundOutcomes } from './policy.ts';

const SEGMENTS = segmentsOf([{ name: 'w.kernel', size: 4 }, { name: 'w.bias', size: 2 }]);
const P0 = Float32Array.from([0.5, -0.25, 1, 2, 0, 0.125]);

function make(o: Partial<CollaborativeOptions> = {}): CollaborativeOptimizer {
  return new CollaborativeOptimizer({
    segments: SEGMENTS,
    params: P0,
    mode: 'gradient',
    optimizer: { name: 'lamb', learningRate: 0.1, warmupEpochs: 0, weightDecay: 0.01 },
    ...o,
  });
}

function shard(start: number, length: number, local = false): ShardReport {
  return { start, length, reducedBy: 'p', backup: false, local, contributors: local ? 1 : 2 };
}

function result(vector: Float32Array, shards: ShardReport[] = [shard(0, vector.length)]): RoundResult {
  return {
    vector, fractionAveraged: 1, fractionMultiPeer: 1, contributorsPerShard: shards.map((s) => s.contributors), droppedPeers: [], drops: [], shards,
    deadlineHit: false, hardDeadlineHit: false, compression: 'none', bytesSent: 100, bytesReceived: 100, durationMs: 1,
  };
}

const same = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('gradient mode', () => {
  it('accumulates a sample-weighted mean of micro-batch gradients', () => {
    const o = make();
    o.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 1);
    o.accumulate(Float32Array.from([4, 4, 4, 4, 4, 4]), 3);
    expect(o.samples).toBe(4);
    expect(Array.from(o.contribution())).toEqual([3.25, 3.25, 3.25, 3.25, 3.25, 3.25]);
  });

  it('rejects a NaN/Inf micro-batch gradient whole: nothing added, samples not counted', () => {
    const o = make();
    o.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 2);
    const r = o.accumulate(Float32Array.from([1, 1, NaN, 1, 1, 1]), 5);
    expect(r).toEqual({ accepted: false, reason: 'non-finite', index: 2 });
    expect(o.samples).toBe(2);
    expect(Array.from(o.contribution())).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('sends the local mean to the group and applies the averaged gradient: peers that get the same result end bitwise equal', async () => {
    const a = make();
    const b = make();
    a.accumulate(Float32Array.from([1, 0, 0, 0, 0, 1]), 8);
    b.accumulate(Float32Array.from([0, 1, 0, 0, 1, 0]), 8);
    const sent: Float32Array[] = [];
    const mean = Float32Array.from([0.5, 0.5, 0, 0, 0.5, 0.5]);
    const avg = async (v: Float32Array): Promise<RoundResult> => {
      sent.push(v);
      return result(mean);
    };
    const ra = await a.step(0, avg);
    const rb = await b.step(0, avg);
    expect(Array.from(sent[0]!)).toEqual([1, 0, 0, 0, 0, 1]);
    expect(ra).toMatchObject({ outcome: 'complete', applied: true, epoch: 1, stepEpoch: 0, samples: 8, learningRate: 0.1 });
    expect(rb.applied).toBe(true);
    expect(a.epoch).toBe(1);
    expect(same(a.params, b.params)).toBe(true);
    expect(same(a.params, P0)).toBe(false);
    // The accumulator starts over.
    expect(a.samples).toBe(0);
    expect(Array.from(a.contribution())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('a peer alone in its group applies its own mean gradient', async () => {
    const o = make({ optimizer: { name: 'adam', learningRate: 0.1, warmupEpochs: 0, weightDecay: 0 } });
    o.accumulate(Float32Array.from([1, -1, 1, -1, 1, -1]), 4);
    const r = await o.step(0, undefined);
    expect(r).toMatchObject({ outcome: 'alone', applied: true, epoch: 1 });
    // First Adam step: −lr·sign(g).
    expect(o.params[0]).toBeCloseTo(0.4, 5);
    expect(o.params[1]).toBeCloseTo(-0.15, 5);
  });

  it.each([
    ['a partial round (a shard kept local values)', async () => result(Float32Array.from([9, 9, 9, 9, 9, 9]), [shard(0, 3), shard(3, 3, true)]), RoundOutcomes.Partial],
    ['a failed round', async () => Promise.reject(new Error('deadline')), RoundOutcomes.Failed],
    ['a non-finite averaged vector', async () => result(Float32Array.from([1, NaN, 1, 1, 1, 1])), RoundOutcomes.NonFinite],
  ] as const)('skips the step after %s: state(e) kept, accumulator dropped', async (_name, avg, outcome) => {
    const o = make();
    o.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 8);
    const r = await o.step(0, avg as () => Promise<RoundResult>);
    expect(r.outcome).toBe(outcome);
    expect(r.applied).toBe(false);
    expect(r.epoch).toBe(0);
    expect(o.epoch).toBe(0);
    expect(same(o.params, P0)).toBe(true);
    expect(o.samples).toBe(0);
    if (outcome === RoundOutcomes.Failed) expect(r.error).toBe('deadline');
  });

  it('applies a complete round only when the group confirms the vector: a diverged one is skipped with the reason', async () => {
    const mean = Float32Array.from([0.5, 0.5, 0, 0, 0.5, 0.5]);
    const asked: Float32Array[] = [];
    const agreed = make();
    agreed.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 8);
    const ra = await agreed.step(0, async () => result(mean), { confirm: async (v) => (asked.push(v), { agreed: true }) });
    expect(ra).toMatchObject({ outcome: 'complete', applied: true, epoch: 1 });
    expect(same(asked[0]!, mean)).toBe(true);

    const diverged = make();
    diverged.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 8);
    const rd = await diverged.step(0, async () => result(mean), { confirm: async () => ({ agreed: false, detail: 'round e0g0 holds peer X\'s vector' }) });
    expect(rd).toMatchObject({ outcome: RoundOutcomes.Diverged, applied: false, epoch: 0, detail: "round e0g0 holds peer X's vector" });
    expect(same(diverged.params, P0)).toBe(true);
    expect(diverged.samples).toBe(0);

    // Not asked when there is nothing to agree on: alone, or a round already skipped.
    let calls = 0;
    const confirm = async (): Promise<{ agreed: true }> => (calls++, { agreed: true });
    await make().step(0, undefined, { confirm });
    await make().step(0, async () => result(Float32Array.from([9, 9, 9, 9, 9, 9]), [shard(0, 3), shard(3, 3, true)]), { confirm });
    expect(calls).toBe(0);
  });

  it('parameter averaging sends the parameters, or with the moments 3× as much, and adopts the mean whole or not at all', async () => {
    const o = make();
    o.accumulate(Float32Array.from([1, -1, 1, -1, 1, -1]), 4);
    await o.step(0, undefined);
    const { m, v } = o.shared().moments!;
    expect(Array.from(o.averagingVector(false))).toEqual(Array.from(o.globalParams));
    const full = o.averagingVector(true);
    expect(Array.from(full)).toEqual([...o.globalParams, ...m, ...v]);

    // The group's mean: parameters and both moments change.
    const mean = full.map((x) => x / 2);
    o.adoptAveraged(mean, true);
    expect(Array.from(o.globalParams)).toEqual(Array.from(mean.subarray(0, 6)));
    expect(Array.from(o.shared().moments!.v)).toEqual(Array.from(mean.subarray(12, 18)));

    // Bad vectors change nothing.
    const before = Float32Array.from(o.averagingVector(true));
    expect(() => o.adoptAveraged(new Float32Array(6), true)).toThrow(/6 elements, expected 18/);
    expect(() => o.adoptAveraged(Float32Array.from(before).fill(NaN, 3, 4), true)).toThrow(/element 3 is NaN/);
    expect(() => o.adoptAveraged(Float32Array.from(before).fill(-1, 13, 14), true)).toThrow(/second moment 1 is -1/);
    expect(same(o.averagingVector(true), before)).toBe(true);
  });

  it('clips the averaged gradient by its global norm', async () => {
    const o = make({ optimizer: { name: 'adam', learningRate: 0.1, warmupEpochs: 0, weightDecay: 0, clipGradNorm: 1 } });
    o.accumulate(Float32Array.from([3, 4, 0, 0, 0, 0]), 1);
    const r = await o.step(0, undefined);
    expect(r.norm).toBe(5);
    expect(r.clipped).toBe(true);
  });

  it('lets a tamper hook change what is sent (fault injection), and refuses a step for another epoch', async () => {
    const o = make();
    o.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 1);
    let seen: Float32Array | undefined;
    await o.step(0, async (v) => ((seen = v), result(v)), { tamper: (v) => v.fill(NaN) });
    expect(Number.isNaN(seen![0])).toBe(true);
    await expect(o.step(5, undefined)).rejects.toThrow(/state is at epoch 0/);
  });

  it('round-trips its shared state, and relabels only forward', async () => {
    const a = make();
    a.accumulate(Float32Array.from([1, 2, 3, 4, 5, 6]), 2);
    await a.step(0, undefined);
    const b = make();
    b.load(a.shared());
    expect(b.epoch).toBe(1);
    expect(same(b.params, a.params)).toBe(true);
    // The moments came along: the next identical step gives identical parameters.
    a.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 1);
    b.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 1);
    await a.step(1, undefined);
    await b.step(1, undefined);
    expect(same(b.params, a.params)).toBe(true);
    b.relabel(5);
    expect(b.epoch).toBe(5);
    expect(() => b.relabel(4)).toThrow(RangeError);
    expect(() => b.load({ ...a.shared(), params: Float32Array.from([1, 2, 3, NaN, 5, 6]) })).toThrow(/element 3/);
    expect(() => b.load({ epoch: 1, mode: 'diloco', params: P0, outerMomentum: new Float32Array(6) })).toThrow(/mode/);
  });
});

describe('diloco mode', () => {
  const opts: Partial<CollaborativeOptions> = { mode: 'diloco', optimizer: { name: 'adam', learningRate: 0.01, warmupEpochs: 0, weightDecay: 0 } };

  it('takes inner AdamW steps locally and contributes the pseudo-gradient θ_global − θ_local', () => {
    const o = make(opts);
    o.accumulate(Float32Array.from([1, 1, 1, 1, -1, -1]), 8);
    o.accumulate(Float32Array.from([1, 1, 1, 1, -1, -1]), 8);
    expect(o.innerSteps).toBe(2);
    expect(same(o.globalParams, P0)).toBe(true);
    const d = o.contribution();
    // Two Adam steps of lr·sign(g): Δ = 0.02 per element.
    expect(d[0]).toBeCloseTo(0.02, 5);
    expect(d[5]).toBeCloseTo(-0.02, 5);
  });

  it('applies the averaged pseudo-gradient with the outer Nesterov step and restarts the local copy from it', async () => {
    const a = make(opts);
    const b = make(opts);
    a.accumulate(Float32Array.from([1, 0, 0, 0, 0, 0]), 8);
    b.accumulate(Float32Array.from([0, 0, 0, 0, 0, 1]), 8);
    const da = a.contribution();
    const db = b.contribution();
    const mean = da.map((x, i) => (x + db[i]!) / 2);
    const ra = await a.step(0, async () => result(mean));
    await b.step(0, async () => result(mean));
    expect(ra).toMatchObject({ outcome: 'complete', applied: true, epoch: 1, learningRate: 0.7 });
    // θ = θ0 − 0.7·(Δ + 0.9·Δ) on the first outer step.
    expect(a.params[0]).toBeCloseTo(P0[0]! - 0.7 * 1.9 * mean[0]!, 6);
    expect(same(a.params, a.globalParams)).toBe(true);
    expect(same(a.params, b.params)).toBe(true);
    // Only the outer momentum travels with the shared state.
    const s = a.shared();
    expect(s.moments).toBeUndefined();
    expect(s.outerMomentum![0]).toBeCloseTo(mean[0]!, 7);
  });

  it('a skipped outer step drops the inner progress', async () => {
    const o = make(opts);
    o.accumulate(Float32Array.from([1, 1, 1, 1, 1, 1]), 8);
    const r = await o.step(0, async () => Promise.reject(new Error('x')));
    expect(r.applied).toBe(false);
    expect(same(o.params, P0)).toBe(true);
  });
});

describe('classifyRound', () => {
  it('ignores empty local shards and names partial ones', () => {
    const v = Float32Array.from([1, 2]);
    expect(classifyRound(result(v, [shard(0, 2), shard(2, 0, true)])).outcome).toBe('complete');
    expect(classifyRound(result(v, [shard(0, 1), shard(1, 1, true)]))).toEqual({ outcome: 'partial', detail: '1 shard(s), 1 elements, kept local values' });
    expect(classifyRound(undefined).outcome).toBe('failed');
    // A reducer with no valid contribution (the only weighted sender sent NaN) returns an empty result.
    expect(classifyRound(result(v, [shard(0, 1), { ...shard(1, 1), contributors: 0 }])).outcome).toBe('partial');
  });
});
