/**
 * On the same budget of samples and the same optimizer
 * settings, DiLoCo (H inner AdamW steps' worth of samples per outer step,
 * pseudo-gradient averaged, outer Nesterov step) reaches a held-out loss
 * comparable to per-batch gradient averaging while sending at least 10×
 * fewer all-reduce bytes. Bytes are counted by the averager of every peer
 * (RoundResult.bytesSent: payload and frames written to all-reduce streams).
 */
import { describe, expect, it, jest } from '@jest/globals';
import { epochsOf, evalsOf, roundsOf, spawnPeer, tinyTraining, trainingSuite } from '../../testkit/dataplane/index.ts';
import type { Trainer } from '../../testkit/harness/index.ts';

jest.setTimeout(900_000);
const suite = trainingSuite();

const PEERS = 3;
const TARGET = 32;
/** DiLoCo's H: one outer step per H global batches' worth of samples. */
const H = 20;
/** The budget: 2 outer steps = 40 gradient-mode epochs = 1280 samples (nominal). */
const OUTER_STEPS = 2;
const GRADIENT_EPOCHS = OUTER_STEPS * H;
/**
 * Same optimizer settings in both modes (DiLoCo's inner optimizer is AdamW). At this rate both
 * modes learn steadily and progress is step-limited, DiLoCo's regime; at 0.003 gradient mode
 * pulls ahead early and in-process runs put DiLoCo 15-25% behind after two outer steps.
 */
const OPTIMIZER = { name: 'adam', learningRate: 0.001 };

async function run(name: string, mode: 'gradient' | 'diloco'): Promise<{ bytes: number; samples: number; rounds: number; initial: number; final: number; lossAt: (n: number) => number; ts: Trainer[] }> {
  // One uid for both runs: the same initial parameters.
  const swarm = { namespace: 'int', name, uid: 'budget' };
  const training = tinyTraining({ optimizer: OPTIMIZER, targetBatchSize: TARGET, checkpointEvery: 1000, averaging: mode === 'diloco' ? { mode, innerSteps: H } : { mode } });
  const stop = mode === 'diloco' ? OUTER_STEPS : GRADIENT_EPOCHS;
  const ts = Array.from({ length: PEERS }, (_, i) => spawnPeer(suite, `${name}-${i}`, { swarm, training, stopAfterEpochs: stop, evalBatches: 4 }));
  const exits = await Promise.all(ts.map((t) => t.exited));
  expect(exits.map((e) => e.code)).toEqual(ts.map(() => 0));
  for (const t of ts) expect(epochsOf(t).at(-1)).toMatchObject({ epoch: stop });
  const rounds = ts.flatMap(roundsOf);
  const bytes = rounds.reduce((a, l) => a + (l['bytesSent'] as number), 0);
  // Samples the swarm actually averaged (each round's weights, counted once per round).
  const samples = roundsOf(ts[0]!).reduce((a, l) => a + (l['weights'] as number[]).reduce((x, y) => x + y, 0), 0);
  const evals = evalsOf(ts[0]!);
  // Held-out loss once the swarm had averaged `n` samples (the first epoch whose rounds reach n).
  const lossAt = (n: number): number => {
    let cum = 0;
    for (const l of [...roundsOf(ts[0]!)].sort((x, y) => (x['epoch'] as number) - (y['epoch'] as number))) {
      if (l['applied'] === true) cum += (l['weights'] as number[]).reduce((x, y) => x + y, 0);
      if (cum >= n) return evals.get((l['epoch'] as number) + 1)!;
    }
    return evals.get(stop)!;
  };
  return { bytes, samples, rounds: rounds.length, initial: evals.get(0)!, final: evals.get(stop)!, lossAt, ts };
}

describe('DiLoCo against gradient averaging, same budget', () => {
  it('4. reaches a comparable loss with at least 10x fewer bytes sent', async () => {
    const g = await run('budget-gradient', 'gradient');
    const d = await run('budget-diloco', 'diloco');
    // One line for the record (the numbers behind the assertions).
    // A round averages what the peers accumulated by the time it formed, so epochs overshoot the
    // target (more in gradient mode: a round every 32 samples). Losses are therefore compared at
    // the same number of averaged samples, and bytes both per run and per averaged sample.
    const gradientAtBudget = g.lossAt(d.samples);
    const summary = (r: typeof g) => ({ bytes: r.bytes, samples: r.samples, rounds: r.rounds, initial: r.initial, final: r.final, bytesPerSample: Math.round(r.bytes / r.samples) });
    const perSample = g.bytes / g.samples / (d.bytes / d.samples);
    console.log(JSON.stringify({ gradient: { ...summary(g), lossAtDilocoSamples: gradientAtBudget }, diloco: summary(d), bytesRatio: g.bytes / d.bytes, bytesPerSampleRatio: perSample }));

    // Both modes start from the same parameters and learn on this budget.
    expect(d.initial).toBeCloseTo(g.initial, 4);
    expect(g.final).toBeLessThan(0.8 * g.initial);
    expect(d.final).toBeLessThan(0.8 * d.initial);
    // Comparable: at the same number of averaged samples, DiLoCo's held-out loss is within 15% of
    // gradient averaging's (in-process runs of this setup measured them within 5%).
    expect(d.final).toBeLessThanOrEqual(1.15 * gradientAtBudget);
    // Traffic: at least 10x fewer bytes, for the same nominal budget and per averaged sample.
    expect(g.bytes).toBeGreaterThanOrEqual(10 * d.bytes);
    expect(perSample).toBeGreaterThanOrEqual(10);
    expect(d.bytes).toBeGreaterThan(0);
    // DiLoCo's rounds averaged pseudo-gradients from every peer, and all peers hold the same global parameters.
    for (const l of d.ts.flatMap(roundsOf)) expect(l).toMatchObject({ mode: 'diloco', outcome: 'complete' });
    for (let e = 0; e <= OUTER_STEPS; e++) expect(new Set(d.ts.map((t) => epochsOf(t).find((x) => x.epoch === e)?.checksum)).size).toBe(1);
  });
});
