import { describe, expect, it } from '@jest/globals';
import { Env } from '../../../api/index.ts';
import { ConfigError } from '../config.ts';
import { parseTrainingEnv, parseTrainingSettings } from './training-config.ts';

const errorOf = (f: () => unknown): ConfigError => {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('did not throw');
};

describe('parseTrainingSettings', () => {
  it('fills in the CRD defaults', () => {
    expect(parseTrainingSettings(JSON.stringify({ targetBatchSize: 64, data: { urls: ['generated:tiny-corpus'] } }))).toEqual({
      model: { size: 'tiny', seqLength: 128 },
      data: { urls: ['generated:tiny-corpus'], tokenizer: undefined, maskProbability: 0.15, microBatchSize: 8 },
      optimizer: { name: 'lamb', learningRate: 0.00176, warmupEpochs: 0, totalEpochs: undefined, weightDecay: 0.01, clipGradNorm: undefined },
      targetBatchSize: 64,
      mode: 'gradient',
      innerSteps: 1,
      stateAveragingEvery: 0,
      averageOptimizerState: false,
      checkpointEvery: 10,
    });
  });
  it('reads a full diloco spec', () => {
    const s = parseTrainingSettings(JSON.stringify({
      model: { architecture: 'lean-albert', size: 'base', seqLength: 512 },
      data: { urls: ['/data/a.txt'], tokenizer: '/data/tokenizer.json', maskProbability: 0.2, microBatchSize: 4 },
      optimizer: { name: 'adam', learningRate: 0.001, warmupEpochs: 10, totalEpochs: 100, weightDecay: 0.1, clipGradNorm: 1 },
      targetBatchSize: 4096,
      averaging: { mode: 'diloco', innerSteps: 500, stateAveragingEvery: 5, averageOptimizerState: true },
      checkpointEvery: 3,
    }));
    expect(s).toMatchObject({ mode: 'diloco', innerSteps: 500, stateAveragingEvery: 5, averageOptimizerState: true, checkpointEvery: 3, optimizer: { clipGradNorm: 1, totalEpochs: 100 }, data: { tokenizer: '/data/tokenizer.json' } });
  });
  it.each([
    ['{', /not JSON/],
    ['{"targetBatchSize":8}', /data\.urls/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"model":{"size":"huge"}}', /model\.size/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"averaging":{"mode":"diloco"}}', /innerSteps: is required/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"name":"sgd"}}', /optimizer\.name/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"warmupEpochs":5,"totalEpochs":5}}', /warmupEpochs/],
    ['{"targetBatchSize":0,"data":{"urls":["x"]}}', /targetBatchSize/],
    ['{"targetBatchSize":8,"data":{"urls":["x"],"microBatchSize":0}}', /data\.microBatchSize/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"averaging":{"averageOptimizerState":"yes"}}', /averaging\.averageOptimizerState: must be true or false/],
  ])('names the field in errors: %s', (json, re) => {
    const e = errorOf(() => parseTrainingSettings(json));
    expect(e.variable).toBe(Env.TrainingSpec);
    expect(e.message).toMatch(re);
  });
});

describe('parseTrainingEnv', () => {
  it('reads eval batches, backends and faults, and names bad variables', () => {
    expect(parseTrainingEnv({})).toEqual({ evalBatches: 0, backends: undefined, faults: { nanGradientEpochs: [], byzantine: undefined, byzantineResults: undefined } });
    expect(parseTrainingEnv({ [Env.EvalBatches]: '3', [Env.Backends]: 'wasm,cpu', [Env.FaultNanGradientEpochs]: '2, 5' })).toEqual({
      evalBatches: 3, backends: ['wasm', 'cpu'], faults: { nanGradientEpochs: [2, 5], byzantine: undefined, byzantineResults: undefined },
    });
    expect(errorOf(() => parseTrainingEnv({ [Env.Backends]: 'gpu' })).variable).toBe(Env.Backends);
    expect(errorOf(() => parseTrainingEnv({ [Env.EvalBatches]: '-1' })).variable).toBe(Env.EvalBatches);
    expect(errorOf(() => parseTrainingEnv({ [Env.FaultNanGradientEpochs]: 'x' })).variable).toBe(Env.FaultNanGradientEpochs);
    expect(parseTrainingEnv({ [Env.FaultByzantine]: 'scale:-100' }).faults.byzantine).toEqual({ kind: 'scale', factor: -100 });
    const z = errorOf(() => parseTrainingEnv({ [Env.FaultByzantine]: 'scale:0' }));
    expect(z.variable).toBe(Env.FaultByzantine);
    expect(z.message).toMatch(/SPOTSWARM_FAULT_BYZANTINE: must be scale:<non-zero factor>, random:<std > 0> or nan, got "scale:0"/);
    expect(parseTrainingEnv({ [Env.FaultByzantineResults]: 'random:10' }).faults.byzantineResults).toEqual({ kind: 'random', std: 10 });
    expect(errorOf(() => parseTrainingEnv({ [Env.FaultByzantineResults]: 'flip' })).variable).toBe(Env.FaultByzantineResults);
  });
});
