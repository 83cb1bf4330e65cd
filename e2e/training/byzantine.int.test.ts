/**
 * A Byzantine peer sends scaled or random gradients.
 * With robust aggregation on, the held-out loss stays within a stated bound
 * of the clean run; with it off, what happens is asserted here and
 * documented in docs/robust-aggregation.md.
 *
 * Real trainer processes (tiny LeanALBERT, wasm backend) and a real
 * nats-server. Every run starts from the same initial parameters (the
 * swarm uid seeds them) and evaluates the same held-out batches; budgets
 * are epochs. Three peers per run: the smallest group in which two honest
 * peers can outvote one. Each test runs alone (`-t`): the clean run the
 * others compare with is made by whichever test needs it first.
 */
import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { epochsOf, evalsOf, peerIdOf, roundsOf, spawnPeer, tinyTraining, trainingSuite } from '../../testkit/dataplane/index.ts';
import type { Trainer } from '../../testkit/harness/index.ts';

jest.setTimeout(900_000);
const suite = trainingSuite();

const EPOCHS = 10;
const SEED = 'byzantine-must-show-2';
/** Stated bound: with robust aggregation on, final held-out loss ≤ clean final × this. */
const ROBUST_BOUND = 1.15;

interface Run {
  initial: number;
  final: number;
  /** Honest peers' rounds in which the Byzantine peer contributed (weight > 0) and the step was applied. */
  attackedRounds: number;
  /** Distinct parameter checksums per epoch, over all peers. */
  checksumsPerEpoch: number[];
  faultLines: number;
  /** Fault-injection lines for tampered parameter-averaging vectors. */
  stateFaultLines: number;
  /** Parameter-averaging rounds an honest peer completed. */
  parameterAverages: number;
  /** Honest peers' log lines outvoting a reducer (verifyReducers), by whether they name the third peer. */
  outvoted: { third: number; others: number };
  /** Median over an honest peer's applied rounds of the averaged gradient's global norm. */
  medianNorm: number;
}

/** Figures measured in this file, printed at the end (they go into the docs). */
const figures: Record<string, { initial: number; final: number; medianNorm: number }> = {};

interface RunOpts {
  honestPeers?: number;
  /** spec.training.averaging.stateAveragingEvery */
  stateAveragingEvery?: number;
  /** The third peer, as a reducer, tampers with every shard result it computes. */
  byzantineResults?: string;
}

async function run(name: string, robust: Record<string, unknown> | undefined, byzantine: string | undefined, o: RunOpts = {}): Promise<Run> {
  const swarm = { namespace: 'byz', name, uid: SEED };
  // A global batch of 12 micro-batches: every peer, the Byzantine one included, has samples in
  // (nearly) every round even when the machine is loaded.
  const averaging = { maxGroupSize: 3, ...(robust ? { robust } : {}), ...(o.stateAveragingEvery ? { stateAveragingEvery: o.stateAveragingEvery } : {}) };
  const training = tinyTraining({ targetBatchSize: 96, averaging });
  const opts = { swarm, training, stopAfterEpochs: EPOCHS, evalBatches: 2 };
  const honest = ['a', 'b'].slice(0, o.honestPeers ?? 2).map((n) => spawnPeer(suite, `${name}-${n}`, opts));
  const third = spawnPeer(suite, `${name}-c`, { ...opts, ...(byzantine ? { byzantine } : {}), ...(o.byzantineResults ? { byzantineResults: o.byzantineResults } : {}) });
  const all: Trainer[] = [...honest, third];
  const thirdId = await peerIdOf(third);
  const exits = await Promise.all(all.map((t) => t.exited));
  expect(exits.map((e) => e.code)).toEqual(all.map(() => 0));
  const evals = evalsOf(honest[0]!);
  const initial = evals.get(0)!;
  const final = evals.get(EPOCHS)!;
  const applied = roundsOf(honest[0]!).filter((l) => l['applied'] === true);
  const attackedRounds = applied.filter((l) => (l['weights'] as number[])[(l['members'] as string[]).indexOf(thirdId)]! > 0).length;
  const norms = applied.map((l) => l['norm'] as number).sort((x, y) => x - y);
  const medianNorm = norms[norms.length >> 1]!;
  figures[name] = { initial, final, medianNorm };
  const sums = new Map<number, Set<string>>();
  for (const t of all) for (const e of epochsOf(t)) (sums.get(e.epoch) ?? sums.set(e.epoch, new Set()).get(e.epoch)!).add(e.checksum);
  return {
    initial,
    final,
    attackedRounds,
    checksumsPerEpoch: Array.from({ length: EPOCHS + 1 }, (_, e) => sums.get(e)?.size ?? 0),
    faultLines: third.find('fault injection: sending a Byzantine gradient').length,
    stateFaultLines: third.find('fault injection: sending a Byzantine state').length,
    parameterAverages: honest[0]!.find('parameters averaged').length,
    outvoted: {
      third: honest.reduce((n, t) => n + t.find('outvoted a reducer: its shard result differed from the one two other peers agreed on').filter((l) => l['reducer'] === thirdId).length, 0),
      others: honest.reduce((n, t) => n + t.find('outvoted a reducer: its shard result differed from the one two other peers agreed on').filter((l) => l['reducer'] !== thirdId).length, 0),
    },
    medianNorm,
  };
}

/** The clean run, made once per file (before the run that is compared with it, so the two never share the machine). */
let cleanRun: Promise<Run> | undefined;
const cleanBaseline = (): Promise<Run> => (cleanRun ??= run('clean', undefined, undefined));

describe('must-show 2: robust aggregation against a Byzantine peer', () => {
  it(`clean run: 3 honest peers, ${EPOCHS} epochs, held-out loss falls by at least 20%`, async () => {
    const clean = await cleanBaseline();
    expect(clean.initial).toBeGreaterThan(5);
    expect(clean.final).toBeLessThanOrEqual(0.8 * clean.initial);
    expect(clean.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  const withinBound = async (byzantine: string, robust: Record<string, unknown>): Promise<void> => {
    const clean = await cleanBaseline();
    const r = await run(`on-${byzantine.split(':')[0]}`, robust, byzantine);
    expect(r.faultLines).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.attackedRounds).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.initial).toBeCloseTo(clean.initial, 4); // same seed, same held-out batches
    expect(r.final).toBeLessThanOrEqual(ROBUST_BOUND * clean.final);
    expect(r.final).toBeLessThanOrEqual(0.8 * r.initial);
    // the step the peers took is of the honest size (the plain mean's would be ~100× or more)
    expect(r.medianNorm).toBeLessThan(3 * clean.medianNorm);
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  };
  const title = `final held-out loss ≤ clean × ${ROBUST_BOUND} and ≥ 20% below the initial`;

  it.each([
    ['random:10', { method: 'trimmed-mean' }],
    // NaN parts never reach a rule: reducers reject them per contribution, as without robust aggregation
    ['nan', { method: 'centered-clip' }],
  ])(`Byzantine %s with robust %j: ${title.replace('%', '%%')}`, withinBound);

  // This case once missed the bound on a loaded machine (1.2× clean, the loss fell only 17%): in a
  // round where an honest peer had no samples, only two contributors were left, both rules were
  // the plain weighted mean, and one ×1000 step stayed in the optimizer's moments for the rest of
  // the run. Two contributors are now norm-clipped to each other (robust.ts); the next test
  // forces that case in every round.
  it(`Byzantine scale:1000 with robust {"method":"centered-clip"}: ${title}`, () => withinBound('scale:1000', { method: 'centered-clip' }));

  it('robust centered-clip, one honest peer and one Byzantine scale:1000 (two contributors in every round): the step stays honest-sized and the loss falls by 20%', async () => {
    const clean = await cleanBaseline();
    const r = await run('pair-scale', { method: 'centered-clip' }, 'scale:1000', { honestPeers: 1 });
    expect(r.attackedRounds).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.initial).toBeCloseTo(clean.initial, 4);
    // the plain mean's step would be ~500× the honest one; clipped to the honest norm, it is at most that
    expect(r.medianNorm).toBeLessThan(3 * clean.medianNorm);
    expect(r.final).toBeLessThanOrEqual(0.8 * r.initial);
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  // Parameter averaging every 2 epochs: the Byzantine peer also sends noise as its parameters.
  const STATE_EVERY = 2;
  it(`parameter averaging every ${STATE_EVERY} epochs, Byzantine random:10 in gradients and parameters, robust trimmed-mean: ${title}`, async () => {
    const clean = await cleanBaseline();
    const r = await run('state-random', { method: 'trimmed-mean' }, 'random:10', { stateAveragingEvery: STATE_EVERY });
    expect(r.parameterAverages).toBeGreaterThanOrEqual(EPOCHS / STATE_EVERY - 1);
    expect(r.stateFaultLines).toBeGreaterThanOrEqual(EPOCHS / STATE_EVERY - 1);
    expect(r.final).toBeLessThanOrEqual(ROBUST_BOUND * clean.final);
    expect(r.final).toBeLessThanOrEqual(0.8 * r.initial);
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  it(`robust off, parameter averaging every ${STATE_EVERY} epochs, Byzantine random:10 in gradients and parameters: the noise lands in everyone's parameters and the held-out loss rises above the initial (documented)`, async () => {
    const r = await run('off-state-random', undefined, 'random:10', { stateAveragingEvery: STATE_EVERY });
    expect(r.stateFaultLines).toBeGreaterThanOrEqual(EPOCHS / STATE_EVERY - 1);
    expect(r.final).toBeGreaterThan(r.initial);
  });

  // A Byzantine *reducer*: its gradients are honest, but every result it computes for its shard
  // is replaced by noise. Robust rules bound contributors, not reducers.
  it('robust trimmed-mean without verifyReducers, a Byzantine reducer (results random:10): its shard of every applied step is noise, the step\'s norm over 100× the clean one (documented)', async () => {
    const clean = await cleanBaseline();
    const r = await run('reducer-off', { method: 'trimmed-mean' }, undefined, { byzantineResults: 'random:10' });
    expect(r.medianNorm).toBeGreaterThan(100 * clean.medianNorm);
    expect(r.outvoted).toEqual({ third: 0, others: 0 });
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  it(`robust trimmed-mean with verifyReducers, a Byzantine reducer (results random:10): it is outvoted in every round and named, and ${title}`, async () => {
    const clean = await cleanBaseline();
    const r = await run('reducer-verified', { method: 'trimmed-mean', verifyReducers: true }, undefined, { byzantineResults: 'random:10' });
    expect(r.outvoted.third).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.outvoted.others).toBe(0);
    expect(r.medianNorm).toBeLessThan(3 * clean.medianNorm);
    expect(r.final).toBeLessThanOrEqual(ROBUST_BOUND * clean.final);
    expect(r.final).toBeLessThanOrEqual(0.8 * r.initial);
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  it('robust off, Byzantine random:10: the noise dominates the mean and the held-out loss does not fall by 20% (documented)', async () => {
    const clean = await cleanBaseline();
    const r = await run('off-random', undefined, 'random:10');
    expect(r.attackedRounds).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.final).toBeGreaterThan(0.8 * r.initial);
    expect(r.final).toBeGreaterThan(ROBUST_BOUND * clean.final);
    expect(r.medianNorm).toBeGreaterThan(100 * clean.medianNorm);
    // the peers still agree on the (damaged) parameters: the attack is not a crash
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  it('robust off, Byzantine scale:1000: the scaled gradient is ~all of the mean (norm ≥ 100× clean); LAMB normalises the scale away, so the step follows that one peer\'s gradient and the loss still falls by 20% (documented)', async () => {
    const clean = await cleanBaseline();
    const r = await run('off-scale', undefined, 'scale:1000');
    expect(r.attackedRounds).toBeGreaterThanOrEqual(EPOCHS - 2);
    expect(r.medianNorm).toBeGreaterThan(100 * clean.medianNorm);
    expect(r.final).toBeLessThanOrEqual(0.8 * r.initial);
    expect(r.checksumsPerEpoch).toEqual(Array(EPOCHS + 1).fill(1));
  });

  afterAll(() => {
    process.stdout.write(`must-show 2 held-out losses (initial → final after ${EPOCHS} epochs): ${JSON.stringify(figures)}\n`);
  });
});
