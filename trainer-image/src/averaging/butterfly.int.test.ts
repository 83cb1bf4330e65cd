/**
 * Butterfly all-reduce between real libp2p hosts (TCP, noise, yamux on
 * 127.0.0.1) in this process. No timed assertions: deadlines are checked
 * through what the rounds report (deadlineHit / hardDeadlineHit) and metrics.
 */
import { fp16ErrorBound, int8ErrorBound } from './compression.ts';
import { AveragerLeftError, type RoundResult } from './index.ts';
import { partition } from './partition.ts';
import { robustReduceInto } from './robust.ts';
import { byPeerId, dyadic, firstDifference, members, metric, MiB, spec, startPeers, stopPeers, weightedMean } from './test-peers.ts';
import { valueAt } from './testing.ts';
import { agreeOnShards, passSpec } from './verify.ts';

const { abs, max } = Math;

afterEach(stopPeers);

describe('butterfly all-reduce over libp2p (in-process hosts)', () => {
  it('gives 4 peers the exact sample-weighted mean without compression (4 MiB, unequal shards)', async () => {
    const ps = await startPeers(4);
    const L = MiB; // 4 MiB of float32
    const weights = [1, 2, 3, 10];
    const vectors = ps.map((_, i) => dyadic(i + 1, L));
    const group = members(ps, weights, [100e6, 300e6, 200e6, 400e6]);
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec('exact', group), vectors[i]!)));
    expect(ps.flatMap((p) => p.warnings)).toEqual([]);
    const expected = weightedMean(vectors, weights, [0, 1, 2, 3]);
    for (const r of results) {
      expect(firstDifference(r.vector, expected)).toBe(-1);
      expect(r.fractionAveraged).toBe(1);
      expect(r.fractionMultiPeer).toBe(1);
      expect(r.contributorsPerShard).toEqual([4, 4, 4, 4]);
      expect(r.droppedPeers).toEqual([]);
      expect(r.deadlineHit).toBe(false);
      expect(r.compression).toBe('none');
      // each peer sends 3/4 of its part and 3 copies of its shard's mean; shards follow bandwidth
      expect(r.bytesSent).toBeGreaterThan(0);
    }
    expect(results.map((r) => r.shards.map((s) => s.length))).toEqual(Array(4).fill(partition(L, [100e6, 300e6, 200e6, 400e6]).map((s) => s.length)));
    expect(results[0]!.vector).not.toBe(vectors[0]); // a new array; the input is untouched
    expect(firstDifference(vectors[0]!, dyadic(1, L))).toBe(-1);
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rounds_total', { outcome: 'complete' })).toBe(1);
    expect(await metric(ps[0]!, 'spotswarm_allreduce_bytes_sent_total')).toBeGreaterThanOrEqual(results[0]!.bytesSent);
  });

  it('averages 64 MiB exactly over 4 peers, and a tag-along (weight 0) receives the mean of the others', async () => {
    const ps = await startPeers(4);
    const L = 16 * MiB; // 64 MiB of float32
    const weights = [5, 0, 7, 4];
    const vectors = ps.map((_, i) => dyadic(10 + i, L));
    const group = members(ps, weights);
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec('big', group), vectors[i]!)));
    expect(ps.flatMap((p) => p.warnings)).toEqual([]);
    const expected = weightedMean(vectors, weights, [0, 2, 3]);
    for (const r of results) {
      expect(firstDifference(r.vector, expected)).toBe(-1);
      expect(r.fractionAveraged).toBe(1);
      expect(r.contributorsPerShard).toEqual([3, 3, 3, 3]);
    }
  }, 120_000);

  it.each([
    ['fp16' as const],
    ['int8' as const],
  ])('stays within the stated %s error bound', async (compression) => {
    const ps = await startPeers(4);
    const L = 300_001;
    const weights = [3, 1, 4, 1];
    const vectors = ps.map((_, i) => {
      const v = new Float32Array(L);
      for (let k = 0; k < L; k++) v[k] = valueAt(i + 20, k) * (k % 1000 === 0 ? 1000 : 1); // some outliers
      return v;
    });
    const group = members(ps, weights);
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec(`c-${compression}`, group, { compression }), vectors[i]!)));
    const W = 9;
    const exact = new Float64Array(L);
    for (let k = 0; k < L; k++) for (let i = 0; i < 4; i++) exact[k]! += (weights[i]! * vectors[i]![k]!) / W;
    const bound = new Float64Array(L);
    if (compression === 'fp16') {
      // each sender's value: <= fp16ErrorBound(x); the mean is encoded once more on the way back
      for (let k = 0; k < L; k++) {
        let e = 0;
        for (let i = 0; i < 4; i++) e += (weights[i]! * fp16ErrorBound(vectors[i]![k]!)) / W;
        bound[k] = e + fp16ErrorBound(abs(exact[k]!) + e) + 2 ** -24 * abs(exact[k]!);
      }
    } else {
      // per int8 block (256 elements from each shard's start): the senders' block maxima, then the mean's
      for (const shard of partition(L, [undefined, undefined, undefined, undefined])) {
        for (let b = shard.start; b < shard.start + shard.length; b += 256) {
          const end = Math.min(b + 256, shard.start + shard.length);
          let maxIn = 0;
          for (let i = 0; i < 4; i++) for (let k = b; k < end; k++) maxIn = max(maxIn, abs(vectors[i]![k]!));
          const e = int8ErrorBound(maxIn);
          for (let k = b; k < end; k++) bound[k] = e + int8ErrorBound(maxIn + e) + 2 ** -24 * maxIn;
        }
      }
    }
    for (const r of results) {
      expect(r.compression).toBe(compression);
      expect(firstDifference(r.vector, results[0]!.vector)).toBe(-1); // every member holds the same values
      let worst = 0;
      for (let k = 0; k < L; k++) worst = max(worst, abs(r.vector[k]! - exact[k]!) / bound[k]!);
      expect(worst).toBeLessThanOrEqual(1);
      expect(worst).toBeGreaterThan(0); // it did compress
    }
    // compressed rounds move fewer bytes than 4 B/element would
    expect(results[0]!.bytesSent).toBeLessThan(2 * (3 / 4) * L * 4 * (compression === 'fp16' ? 0.55 : 0.3));
  });

  it('drops a peer that dies mid reduce-scatter: the others finish before the hard deadline, report fraction < 1, and the next round works without it', async () => {
    const ps = await startPeers(4);
    const L = 4 * MiB; // 16 MiB
    const weights = [1, 2, 3, 4];
    const vectors = ps.map((_, i) => dyadic(30 + i, L));
    const group = members(ps, weights);
    const victim = ps[1]!;
    const runs = ps.map((p, i) => p.averager.run(spec('kill', group, { timeoutMs: 120_000 }), vectors[i]!));
    runs[1]!.catch(() => undefined);
    // kill the victim once it has streamed ~1 MiB of its 12 MiB of parts
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        void metric(victim, 'spotswarm_allreduce_bytes_sent_total').then((b) => {
          if (b > MiB) {
            clearInterval(poll);
            void Promise.resolve(victim.host.stop()).then(resolve);
          }
        });
      }, 1);
    });
    const survivors = [0, 2, 3];
    const results = await Promise.all(survivors.map((i) => runs[i]!));
    await runs[1]!.catch(() => undefined);
    const all4 = weightedMean(vectors, weights, [0, 1, 2, 3]);
    const without = weightedMean(vectors, weights, survivors);
    const victimShard = results[0]!.shards[1]!;
    for (const r of results) {
      expect(r.hardDeadlineHit).toBe(false);
      expect(r.fractionAveraged).toBeLessThan(1);
      expect(r.droppedPeers).toEqual([victim.id]);
      expect(r.drops.every((d) => d.peerId === victim.id && d.reason === 'disconnected')).toBe(true);
      // the victim's shard was re-reduced by a backup over the survivors
      expect(r.shards[1]!.backup).toBe(true);
      expect(r.shards[1]!.reducedBy).not.toBe(victim.id);
      expect(r.contributorsPerShard[1]).toBe(3);
      for (let k = victimShard.start; k < victimShard.start + victimShard.length; k++) {
        if (r.vector[k] !== without[k]) throw new Error(`element ${k}: ${r.vector[k]} is not the survivors' mean ${without[k]}`);
      }
      // elsewhere each element is the mean with or without the victim's (prefix of) contribution
      for (let k = 0; k < L; k++) {
        if (r.vector[k] !== all4[k] && r.vector[k] !== without[k]) throw new Error(`element ${k}: ${r.vector[k]} is neither mean`);
      }
      expect(firstDifference(r.vector, results[0]!.vector)).toBe(-1);
    }
    expect(await metric(ps[0]!, 'spotswarm_allreduce_dropped_peers_total', { reason: 'disconnected' })).toBeGreaterThan(0);
    // next round: the survivors alone
    const group2 = survivors.map((i) => group[i]!);
    const next = await Promise.all(survivors.map((i) => ps[i]!.averager.run(spec('kill-next', group2), vectors[i]!)));
    for (const r of next) {
      expect(r.fractionAveraged).toBe(1);
      expect(firstDifference(r.vector, without)).toBe(-1);
    }
  }, 120_000);

  it('drops a peer that never starts the round at the adaptive deadline, well inside timeoutMs', async () => {
    const ps = await startPeers(4, { deadlines: { slackRatio: 3, slackMs: 1000, stallMs: 1000 } });
    const L = 100_000;
    const weights = [1, 1, 1, 1];
    const vectors = ps.map((_, i) => dyadic(40 + i, L));
    const group = members(ps, weights);
    const active = [0, 1, 3];
    const results = await Promise.all(active.map((i) => ps[i]!.averager.run(spec('frozen', group, { timeoutMs: 600_000 }), vectors[i]!)));
    const frozen = ps[2]!.id;
    const without = weightedMean(vectors, weights, active);
    for (const r of results) {
      expect(r.deadlineHit).toBe(true);
      expect(r.hardDeadlineHit).toBe(false);
      expect(r.droppedPeers).toEqual([frozen]);
      expect(r.drops.filter((d) => d.role === 'reducer')).toEqual([{ peerId: frozen, reason: 'deadline', role: 'reducer', shard: 2 }]);
      expect(r.fractionAveraged).toBe(0);
      expect(r.fractionMultiPeer).toBe(1);
      expect(r.contributorsPerShard).toEqual([3, 3, 3, 3]);
      expect(firstDifference(r.vector, without)).toBe(-1);
    }
  }, 60_000);

  it('holds parts for a round a peer has not started yet, instead of failing them', async () => {
    const ps = await startPeers(3);
    const L = 50_000;
    const weights = [2, 3, 5];
    const vectors = ps.map((_, i) => dyadic(50 + i, L));
    const group = members(ps, weights);
    const early = [0, 1].map((i) => ps[i]!.averager.run(spec('late', group), vectors[i]!));
    // the third peer starts only once it holds the others' parts (they wait, paused)
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        void metric(ps[2]!, 'spotswarm_allreduce_bytes_received_total').then((b) => {
          if (b > 0) {
            clearInterval(poll);
            resolve();
          }
        });
      }, 5);
    });
    await new Promise((r) => setTimeout(r, 200));
    const late = ps[2]!.averager.run(spec('late', group), vectors[2]!);
    const results = await Promise.all([...early, late]);
    const expected = weightedMean(vectors, weights, [0, 1, 2]);
    for (const r of results) {
      expect(r.fractionAveraged).toBe(1);
      expect(r.deadlineHit).toBe(false);
      expect(firstDifference(r.vector, expected)).toBe(-1);
    }
  });

  it('lets a leaving peer (SIGTERM) hand off its shard: nobody waits for a deadline', async () => {
    // deadlines far beyond the test timeout: if anyone waited for one, the test would fail
    const ps = await startPeers(4, { deadlines: { slackMs: 1_000_000, stallMs: 1_000_000 } });
    const L = 4 * MiB;
    const weights = [1, 1, 1, 1];
    const vectors = ps.map((_, i) => dyadic(60 + i, L));
    const group = members(ps, weights);
    const leaver = ps[2]!;
    const runs = ps.map((p, i) => p.averager.run(spec('leave', group, { timeoutMs: 1_000_000 }), vectors[i]!));
    runs[2]!.catch(() => undefined);
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        void metric(leaver, 'spotswarm_allreduce_bytes_received_total').then((b) => {
          if (b > MiB) {
            clearInterval(poll);
            resolve();
          }
        });
      }, 1);
    });
    await leaver.averager.leave();
    await expect(runs[2]!).rejects.toBeInstanceOf(AveragerLeftError);
    await expect(leaver.averager.run(spec('after', group), vectors[2]!)).rejects.toBeInstanceOf(AveragerLeftError);
    const others = [0, 1, 3];
    const results = await Promise.all(others.map((i) => runs[i]!));
    const all4 = weightedMean(vectors, weights, [0, 1, 2, 3]);
    const without = weightedMean(vectors, weights, others);
    for (const r of results) {
      expect(r.deadlineHit).toBe(false);
      expect(r.hardDeadlineHit).toBe(false);
      expect(r.drops).toContainEqual({ peerId: leaver.id, reason: 'left', role: 'reducer', shard: 2 });
      expect(r.drops.every((d) => d.reason === 'left')).toBe(true);
      expect(r.shards[2]!.backup).toBe(true);
      expect(r.shards[2]!.reducedBy).toBe(ps[3]!.id); // the next member in order
      for (let k = 0; k < L; k++) {
        if (r.vector[k] !== all4[k] && r.vector[k] !== without[k]) throw new Error(`element ${k}: ${r.vector[k]} is neither mean`);
      }
      expect(firstDifference(r.vector, results[0]!.vector)).toBe(-1);
    }
    expect(await metric(ps[3]!, 'spotswarm_allreduce_backup_reductions_total')).toBe(1);
  }, 60_000);

  it('rejects a NaN contribution, counts it, and averages the rest', async () => {
    const ps = await startPeers(4);
    const L = 40_000; // one chunk per shard
    const weights = [1, 2, 3, 4];
    const vectors = ps.map((_, i) => dyadic(70 + i, L));
    vectors[2]![123] = NaN; // in shard 0 (reduced by peer 0)
    vectors[3]![L - 1] = Infinity; // in shard 3, its own: peer 3 rejects its own part there
    const group = members(ps, weights);
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec('nan', group), vectors[i]!)));
    const clean = ps.map((_, i) => dyadic(70 + i, L));
    const all = weightedMean(clean, weights, [0, 1, 2, 3]);
    const shard0 = weightedMean(clean, weights, [0, 1, 3]);
    const shard3 = weightedMean(clean, weights, [0, 1, 2]);
    const shards = results[0]!.shards;
    for (const r of results) {
      expect(r.vector.every(Number.isFinite)).toBe(true);
      expect(r.contributorsPerShard).toEqual([3, 4, 4, 3]);
      expect(r.fractionAveraged).toBeCloseTo((shards[1]!.length + shards[2]!.length) / L, 12);
      for (let k = 0; k < L; k++) {
        const want = k < shards[1]!.start ? shard0[k] : k >= shards[3]!.start ? shard3[k] : all[k];
        if (r.vector[k] !== want) throw new Error(`element ${k}: got ${r.vector[k]}, want ${want}`);
      }
    }
    expect(results[0]!.drops).toContainEqual({ peerId: ps[2]!.id, reason: 'rejected', role: 'sender', shard: 0 });
    expect(await metric(ps[0]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'non_finite' })).toBe(1);
    expect(await metric(ps[3]!, 'spotswarm_allreduce_rejected_frames_total', { reason: 'non_finite' })).toBe(1);
    expect(await metric(ps[1]!, 'spotswarm_allreduce_rejected_frames_total')).toBe(0);
  });

  it.each([
    ['trimmed-mean' as const],
    ['centered-clip' as const],
  ])('robust %s: one peer sending a ×1000 gradient and claiming 100× the samples is capped, and every member holds the robust result of each shard', async (method) => {
    const ps = await startPeers(4);
    const L = 40_000;
    const claimed = [10, 20, 30, 3000];
    const rule = { method, trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false };
    const vectors = ps.map((_, i) => dyadic(90 + i, L));
    vectors[3] = vectors[3]!.map((x) => x * 1000);
    const group = members(ps, claimed);
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec(`robust-${method}`, group, { robust: rule }), vectors[i]!)));
    // the cap: 4 × median(10, 20, 30, 3000) = 100
    const weights = [10, 20, 30, 100];
    const expected = new Float32Array(L);
    for (const sh of results[0]!.shards) {
      const order = byPeerId(ps, [0, 1, 2, 3]);
      robustReduceInto(rule, order.map((i) => vectors[i]!.subarray(sh.start, sh.start + sh.length)), order.map((i) => weights[i]!), expected.subarray(sh.start, sh.start + sh.length));
    }
    for (const r of results) {
      expect(firstDifference(r.vector, expected)).toBe(-1);
      expect(r.fractionAveraged).toBe(1);
    }
    // bounded: far closer to the honest mean than the plain weighted mean is
    const honest = weightedMean(vectors, weights, [0, 1, 2]);
    const plain = weightedMean(vectors, weights, [0, 1, 2, 3]);
    const dist = (a: Float32Array): number => Math.sqrt(a.reduce((acc, x, k) => acc + (x - honest[k]!) ** 2, 0));
    expect(dist(results[0]!.vector)).toBeLessThan(dist(plain) / 100);
    for (const p of ps) {
      expect(await metric(p, 'spotswarm_allreduce_capped_weights_total')).toBe(1);
      expect(p.warnings.filter((w) => w.includes('capped a peer')).map((w) => w.includes(ps[3]!.id))).toEqual([true]);
      expect(await metric(p, 'spotswarm_allreduce_few_contributor_segments_total')).toBe(0);
    }
  });

  it('robust centered-clip with two contributors (the third tags along): the ×1000 part is norm-clipped to the honest one, and reducers count the thin segments', async () => {
    const ps = await startPeers(3);
    const L = 30_000;
    const rule = { method: 'centered-clip' as const, trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false };
    const vectors = ps.map((_, i) => dyadic(70 + i, L));
    vectors[2] = vectors[2]!.map((x) => x * 1000);
    const group = members(ps, [0, 10, 40]);
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec('robust-pair', group, { robust: rule }), vectors[i]!)));
    const expected = new Float32Array(L);
    for (const sh of results[0]!.shards) {
      const order = byPeerId(ps, [1, 2]);
      robustReduceInto(rule, order.map((i) => vectors[i]!.subarray(sh.start, sh.start + sh.length)), order.map((i) => [0, 10, 40][i]!), expected.subarray(sh.start, sh.start + sh.length));
    }
    for (const r of results) expect(firstDifference(r.vector, expected)).toBe(-1);
    const norm = (a: Float32Array): number => Math.sqrt(a.reduce((acc, x) => acc + x * x, 0));
    expect(norm(results[0]!.vector)).toBeLessThanOrEqual(norm(vectors[1]!) * (1 + 1e-6));
    const reducing = results[0]!.shards.filter((sh) => sh.length > 0).length;
    let counted = 0;
    for (const p of ps) counted += await metric(p, 'spotswarm_allreduce_few_contributor_segments_total');
    expect(counted).toBe(reducing);
  });

  it.each([
    ['trimmed-mean' as const, 'none' as const],
    ['centered-clip' as const, 'int8' as const],
  ])('verifyReducers, robust %s, compression %s: honest reducers give the same bytes in every pass, and a Byzantine reducer is outvoted and named', async (method, compression) => {
    const ps = await startPeers(3);
    const L = 30_000;
    const rule = { method, trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: true };
    const vectors = ps.map((_, i) => dyadic(50 + i, L));
    const group = members(ps, [8, 16, 24], [100e6, 300e6, 200e6]);
    const base = spec('verified', group, { robust: rule, compression });
    const passes = await Promise.all(ps.map(async (p, i) => {
      const out: RoundResult[] = [];
      for (let k = 0; k < 3; k++) out.push(await p.averager.run(passSpec(base, k), vectors[i]!));
      return out;
    }));
    for (const mine of passes) {
      for (const r of mine.slice(1)) expect(firstDifference(r.vector, mine[0]!.vector)).toBe(-1);
      const v = agreeOnShards(mine);
      expect(v.ok && v.outvoted).toEqual([]);
    }
    // the same passes, one member's reductions replaced by noise: outvoted per shard it reduced
    const liar = ps[1]!.id;
    const tampered = passes[0]!.map((r) => {
      const vector = r.vector.slice();
      for (const sh of r.shards) if (sh.reducedBy === liar) vector.fill(7, sh.start, sh.start + sh.length);
      return { ...r, vector };
    });
    const v = agreeOnShards(tampered);
    expect(v.ok).toBe(true);
    if (v.ok) {
      expect(firstDifference(v.vector, passes[0]![0]!.vector)).toBe(-1);
      expect(v.outvoted.map((o) => o.peerId)).toEqual([liar, liar, liar]);
    }
  });

  it('works for tiny vectors (fewer elements than peers) and a group of one', async () => {
    const ps = await startPeers(3);
    const group = members(ps, [1, 1, 2]);
    const vectors = [Float32Array.of(1), Float32Array.of(2), Float32Array.of(4)];
    const results = await Promise.all(ps.map((p, i) => p.averager.run(spec('tiny', group), vectors[i]!)));
    for (const r of results) {
      expect([...r.vector]).toEqual([(1 + 2 + 8) / 4]);
      expect(r.contributorsPerShard).toEqual([3, 0, 0]);
      expect(r.fractionAveraged).toBe(1);
    }
    const solo: RoundResult = await ps[0]!.averager.run(spec('solo', [{ peerId: ps[0]!.id, weight: 3 }]), Float32Array.of(5, 6));
    expect([...solo.vector]).toEqual([5, 6]);
    expect(solo.fractionAveraged).toBe(1);
    expect(solo.fractionMultiPeer).toBe(0);
  });
});
