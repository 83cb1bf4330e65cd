/**
 * Real trainer processes (the training workload on the tiny LeanALBERT, wasm
 * backend) and a real nats-server: training, state sync, preemption and NaN
 * rejection. DiLoCo against gradient averaging is diloco.int.test.ts.
 *
 * Budgets are epochs, never seconds: every assertion is about what the
 * trainers computed and reported (checksums, losses, rounds, telemetry).
 */
import { describe, expect, it, jest } from '@jest/globals';
import { freePort } from '../../testkit/cluster/index.ts';
import { epochsOf, evalsOf, peerIdOf, reachEpoch, roundsOf, spawnPeer, tinyTraining, trainingSuite, watchTelemetry, type EpochLine } from '../../testkit/dataplane/index.ts';
import type { Trainer } from '../../testkit/harness/index.ts';

jest.setTimeout(600_000);
const suite = trainingSuite();

/** Every epoch some peer reported: all peers that reported it agree on the checksum. */
function checksumsByEpoch(ts: readonly Trainer[]): Map<number, Set<string>> {
  const by = new Map<number, Set<string>>();
  for (const t of ts) for (const e of epochsOf(t)) (by.get(e.epoch) ?? by.set(e.epoch, new Set()).get(e.epoch)!).add(e.checksum);
  return by;
}

function strictlyIncreasing(xs: readonly EpochLine[]): boolean {
  return xs.every((x, i) => i === 0 || x.epoch > xs[i - 1]!.epoch);
}

describe('collaborative training', () => {
  it('1. three peers train the tiny LeanALBERT (MLM, whole-word masking): held-out loss falls by at least 20% in 10 epochs, and all peers hold the same parameters after every epoch', async () => {
    const swarm = { namespace: 'int', name: 'train3' };
    const tele = await watchTelemetry(suite, swarm);
    const EPOCHS = 10;
    const metricsPort = await freePort();
    // Parameter and optimizer-state averaging every 4 epochs rides along (it must keep the peers
    // identical too: moments that differed would show as different checksums one step later).
    const training = tinyTraining({ averaging: { stateAveragingEvery: 4, averageOptimizerState: true } });
    const ts = ['t1-a', 't1-b', 't1-c'].map((n, i) => spawnPeer(suite, n, { swarm, training, stopAfterEpochs: EPOCHS, evalBatches: 2, ...(i === 0 ? { metricsPort } : {}) }));
    const ids = await Promise.all(ts.map(peerIdOf));
    // Prometheus metrics while it trains.
    await reachEpoch(ts[0]!, 3);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const value = (re: RegExp): number => Number(re.exec(metrics)?.[1] ?? NaN);
    expect(value(/^spotswarm_trainer_epoch (\d+)/m)).toBeGreaterThanOrEqual(3);
    expect(value(/^spotswarm_trainer_samples_total (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^spotswarm_trainer_steps_total\{outcome="complete"\} (\d+)/m)).toBeGreaterThanOrEqual(1);
    expect(value(/^spotswarm_trainer_averaging_bytes_sent_total\{kind="gradient"\} (\d+)/m)).toBeGreaterThan(0);
    expect(value(/^spotswarm_trainer_loss ([\d.]+)/m)).toBeGreaterThan(0);
    const exits = await Promise.all(ts.map((t) => t.exited));
    await tele.close();
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);

    // Same parameters after every epoch, on every peer (bitwise: sha256 of the flat vector).
    const sums = checksumsByEpoch(ts);
    for (let e = 0; e <= EPOCHS; e++) {
      expect({ epoch: e, peers: ts.filter((t) => epochsOf(t).some((x) => x.epoch === e)).length }).toEqual({ epoch: e, peers: 3 });
      expect({ epoch: e, checksums: sums.get(e)!.size }).toEqual({ epoch: e, checksums: 1 });
    }
    for (const t of ts) expect(strictlyIncreasing(epochsOf(t))).toBe(true);
    // Rounds were real 3-peer averages: each epoch's step came out of one group holding all three
    // peers, and every peer's gradient was in most of them (weight > 0). Not necessarily in all:
    // on a loaded machine the slowest peer may still be on its first micro-batch when the others
    // reach the target, and the swarm rightly does not wait for it. But a peer must see the
    // others' samples while it computes: one that does not computes the whole batch alone and
    // the round weights only its gradient (before the trainer yielded to I/O between
    // micro-batches, each peer's gradient was in 4 of 10 rounds).
    const r = roundsOf(ts[0]!).filter((l) => l['outcome'] === 'complete');
    expect(r.length).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.filter((l) => [...(l['members'] as string[])].sort().join() === [...ids].sort().join()).length).toBeGreaterThanOrEqual(EPOCHS - 2);
    for (const id of ids) {
      const weighted = r.filter((l) => (l['weights'] as number[])[(l['members'] as string[]).indexOf(id)]! > 0).length;
      expect({ peer: id, weightedRounds: weighted >= Math.ceil(r.length / 2) }).toEqual({ peer: id, weightedRounds: true });
    }

    expect(ts.flatMap((t) => t.find('parameters averaged')).every((l) => [3, 7].includes(l['epoch'] as number))).toBe(true);
    expect(ts.flatMap((t) => t.find('parameters averaged')).length).toBeGreaterThanOrEqual(2);
    expect(ts.flatMap((t) => t.find('parameters averaged')).every((l) => l['optimizerState'] === true)).toBe(true);

    // The loss falls: held-out masked-LM loss of the (shared) parameters, initial vs final.
    const evals = evalsOf(ts[0]!);
    const initial = evals.get(0)!;
    const final = evals.get(EPOCHS)!;
    expect(initial).toBeGreaterThan(5); // ~ln(vocabulary): an untrained model
    expect(final).toBeLessThanOrEqual(0.8 * initial);
    // Every peer evaluated the same parameters, so the same loss.
    for (const t of ts.slice(1)) expect(evalsOf(t).get(EPOCHS)).toBeCloseTo(final, 4);

    // Telemetry, as the operator reads it: loss, samples/s, epoch, backend and checksum from every peer.
    expect(tele.bad).toEqual([]);
    for (const id of ids) {
      const mine = tele.reports.filter((x) => x.peerId === id);
      const last = mine.at(-1)!;
      expect(last).toMatchObject({ epoch: EPOCHS, backend: 'wasm', paramChecksum: [...sums.get(EPOCHS)!][0] });
      expect(mine.some((x) => (x.loss ?? 0) > 0 && x.samplesPerSecond > 0)).toBe(true);
      expect(mine.every((x, i) => i === 0 || x.epoch >= mine[i - 1]!.epoch)).toBe(true);
    }
  });

  it('2. a killed peer is replaced mid-run: the new peer loads the state from the others, reports the swarm epoch, contributes to later rounds; epochs never go backwards', async () => {
    const swarm = { namespace: 'int', name: 'replace' };
    const tele = await watchTelemetry(suite, swarm);
    // Enough epochs after the join for the new peer to contribute even when the machine is loaded.
    const STOP = 16;
    const opts = { swarm, training: tinyTraining(), stopAfterEpochs: STOP, membershipTtlSeconds: 4 };
    const [a, b, c] = ['t2-a', 't2-b', 't2-c'].map((n) => spawnPeer(suite, n, opts)) as [Trainer, Trainer, Trainer];
    await reachEpoch(a, 3);
    c.kill('SIGKILL');
    await c.exited;
    const d = spawnPeer(suite, 't2-d', opts);
    const dId = await peerIdOf(d);
    const loaded = await d.waitFor('state loaded from peers');
    const joinEpoch = loaded['epoch'] as number;
    expect(joinEpoch).toBeGreaterThanOrEqual(3);
    expect((loaded['donors'] as string[]).length).toBeGreaterThanOrEqual(1);
    const exits = await Promise.all([a, b, d].map((t) => t.exited));
    await tele.close();
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);

    // The new peer reported the swarm's epoch with the swarm's parameters.
    const first = epochsOf(d)[0]!;
    expect(first).toMatchObject({ epoch: joinEpoch, via: 'download' });
    const sums = checksumsByEpoch([a, b, d]);
    for (const [epoch, set] of sums) expect({ epoch, checksums: set.size }).toEqual({ epoch, checksums: 1 });
    expect(epochsOf(a).some((e) => e.epoch === joinEpoch && e.checksum === first.checksum)).toBe(true);
    // It contributed: a later round of the others averaged its gradient (weight > 0), completely.
    const withD = roundsOf(a).filter((l) => (l['epoch'] as number) >= joinEpoch && (l['members'] as string[]).includes(dId));
    expect(withD.some((l) => (l['weights'] as number[])[(l['members'] as string[]).indexOf(dId)]! > 0 && l['outcome'] === 'complete')).toBe(true);
    // It ends at the swarm's last epoch with the swarm's parameters: by its own step, or, when a
    // loaded machine made it miss the last round, from the checkpoint the others wrote before
    // they stopped (never by relabelling its older state as the swarm's).
    const last = epochsOf(d).at(-1)!;
    expect(last).toMatchObject({ epoch: STOP, checksum: epochsOf(a).find((e) => e.epoch === STOP)!.checksum });
    expect(['step', 'download', 'checkpoint']).toContain(last.via);
    // Epochs never go backwards: per peer in the logs, and per peer in telemetry.
    for (const t of [a, b, c, d]) expect(strictlyIncreasing(epochsOf(t))).toBe(true);
    const byPeer = new Map<string, number[]>();
    for (const r of tele.reports) (byPeer.get(r.peerId) ?? byPeer.set(r.peerId, []).get(r.peerId)!).push(r.epoch);
    expect(byPeer.size).toBe(4);
    for (const [, es] of byPeer) expect(es.every((e, i) => i === 0 || e >= es[i - 1]!)).toBe(true);
  });

  it('3. after every peer stopped, two fresh peers resume from the NATS checkpoint at its epoch', async () => {
    const swarm = { namespace: 'int', name: 'resume' };
    const tele = await watchTelemetry(suite, swarm);
    const training = tinyTraining({ checkpointEvery: 3 });
    const old = ['t3-a', 't3-b', 't3-c'].map((n) => spawnPeer(suite, n, { swarm, training, stopAfterEpochs: 6 }));
    expect((await Promise.all(old.map((t) => t.exited))).map((e) => e.code)).toEqual([0, 0, 0]);
    const written = old.flatMap((t) => t.find('checkpoint written'));
    // One elected writer per checkpoint epoch (3 and 6).
    expect(written.map((l) => l['checkpoint']).sort()).toEqual(['ckpt-e0000000003', 'ckpt-e0000000006']);
    expect(tele.reports.some((r) => r.checkpoint === 'ckpt-e0000000006')).toBe(true);
    const at6 = checksumsByEpoch(old).get(6)!;
    expect(at6.size).toBe(1);

    const fresh = ['t3-d', 't3-e'].map((n) => spawnPeer(suite, n, { swarm, training, stopAfterEpochs: 8 }));
    const exits = await Promise.all(fresh.map((t) => t.exited));
    await tele.close();
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    // The first to look found nobody live and resumed from the checkpoint, at its epoch, with its
    // parameters; the other may have done the same, or taken the state from the first.
    const resumed = fresh.filter((t) => t.find('resumed from checkpoint').length > 0);
    expect(resumed.length).toBeGreaterThanOrEqual(1);
    for (const t of resumed) {
      expect(t.find('resumed from checkpoint')[0]).toMatchObject({ checkpoint: 'ckpt-e0000000006', checkpointEpoch: 6, epoch: 6, lostEpochs: 0 });
      expect(epochsOf(t)[0]).toMatchObject({ epoch: 6, via: 'checkpoint', checksum: [...at6][0] });
    }
    const sums = checksumsByEpoch([...old, ...fresh]);
    for (const [epoch, set] of sums) expect({ epoch, checksums: set.size }).toEqual({ epoch, checksums: 1 });
    for (const t of fresh) {
      expect(epochsOf(t)[0]!.epoch).toBeGreaterThanOrEqual(6);
      // They trained on from there (their own steps), and each ends at epoch 8 with the
      // swarm's parameters (one that missed the last round takes them from the others or
      // from the checkpoint written at stopAfter; the checksums above agree).
      expect(epochsOf(t).filter((e) => e.via === 'step').length).toBeGreaterThanOrEqual(1);
      expect(epochsOf(t).at(-1)!.epoch).toBe(8);
      expect(strictlyIncreasing(epochsOf(t))).toBe(true);
    }
  });

  it('5. a peer that sends a NaN gradient is rejected by the reducers, and training goes on with the same parameters everywhere', async () => {
    const swarm = { namespace: 'int', name: 'nan' };
    const STOP = 7;
    // A global batch of 12 micro-batches: every peer, the NaN one included, has samples in each
    // round even when the machine is loaded, so its NaN part really reaches the reducers.
    const training = tinyTraining({ targetBatchSize: 96 });
    const [a, b] = ['t5-a', 't5-b'].map((n) => spawnPeer(suite, n, { swarm, training, stopAfterEpochs: STOP, evalBatches: 1 })) as [Trainer, Trainer];
    const bad = spawnPeer(suite, 't5-bad', { swarm, training, stopAfterEpochs: STOP, evalBatches: 1, nanGradientEpochs: [3, 4, 5] });
    const badId = await peerIdOf(bad);
    const exits = await Promise.all([a, b, bad].map((t) => t.exited));
    expect(exits.map((e) => e.code)).toEqual([0, 0, 0]);

    expect(bad.find('fault injection: sending a NaN gradient').length).toBeGreaterThanOrEqual(1);
    // The honest reducers rejected the NaN part (log line), dropped the sender, and still stepped.
    const hit = [a, b].flatMap((t) => roundsOf(t).filter((l) => (l['drops'] as { peerId: string; reason: string }[]).some((x) => x.peerId === badId && x.reason === 'rejected')));
    expect(hit.length).toBeGreaterThanOrEqual(1);
    // Where an honest peer had samples, the mean of the honest parts was applied. (Where the NaN
    // sender was the only weighted member, a reducer with nothing valid returns an empty result
    // and every peer skips; the checksums below show that peers stay in step either way.)
    for (const l of hit) {
      const honest = (l['members'] as string[]).some((m, i) => m !== badId && (l['weights'] as number[])[i]! > 0);
      if (honest) expect(l).toMatchObject({ outcome: 'complete', applied: true });
      else expect(['complete', 'partial']).toContain(l['outcome']);
    }
    expect([a, b].some((t) => t.find('all-reduce: rejected contribution', (l) => l['peer'] === badId).length > 0)).toBe(true);
    // Training went on: everyone reached the end, same parameters at every epoch, finite losses.
    const sums = checksumsByEpoch([a, b, bad]);
    for (let e = 0; e <= STOP; e++) expect({ epoch: e, checksums: sums.get(e)?.size }).toEqual({ epoch: e, checksums: 1 });
    for (const t of [a, b, bad]) {
      expect(epochsOf(t).at(-1)).toMatchObject({ epoch: STOP });
      expect([...evalsOf(t).values()].every(Number.isFinite)).toBe(true);
    }
    expect(evalsOf(a).get(STOP)!).toBeLessThan(evalsOf(a).get(0)!);
  });
});
