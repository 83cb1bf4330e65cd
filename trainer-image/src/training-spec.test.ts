import { describe, expect, it } from '@jest/globals';
import { Env } from '../../api/index.ts';
import { errorOf } from '../../testkit/errors/index.ts';
import { ConfigError } from './config-error.ts';
import { parseTrainingSpec, samplesPerEpoch } from './training-spec.ts';

const train = (json: string) => parseTrainingSpec(json, { dataRequired: true });

describe('parseTrainingSpec', () => {
  it('fills in the CRD defaults and freezes the result', () => {
    const s = train(JSON.stringify({ targetBatchSize: 64, data: { urls: ['generated:tiny-corpus'] } }));
    expect(s).toEqual({
      model: { architecture: 'lean-albert', size: 'tiny', seqLength: 128 },
      data: { urls: ['generated:tiny-corpus'], tokenizer: undefined, maskProbability: 0.15, microBatchSize: 8 },
      optimizer: { name: 'lamb', learningRate: 0.00176, warmupEpochs: 0, totalEpochs: undefined, weightDecay: 0.01, clipGradNorm: undefined },
      targetBatchSize: 64,
      averaging: {
        mode: 'gradient', maxGroupSize: 16, compression: 'auto', matchmakingWindowSeconds: 5, timeoutSeconds: 60, innerSteps: undefined,
        stateAveragingEvery: 0, averageOptimizerState: false,
        robust: { method: 'none', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false },
      },
      checkpointEvery: 10,
    });
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.data.urls)).toBe(true);
    expect(Object.isFrozen(s.averaging.robust)).toBe(true);
    expect(samplesPerEpoch(s)).toBe(64);
  });
  it('reads a full diloco spec', () => {
    const s = train(JSON.stringify({
      model: { architecture: 'lean-albert', size: 'base', seqLength: 512 },
      data: { urls: ['/data/a.txt'], tokenizer: '/data/tokenizer.json', maskProbability: 0.2, microBatchSize: 4 },
      optimizer: { name: 'adam', learningRate: 0.001, warmupEpochs: 10, totalEpochs: 100, weightDecay: 0.1, clipGradNorm: 1 },
      targetBatchSize: 4096,
      averaging: { mode: 'diloco', innerSteps: 500, stateAveragingEvery: 5, averageOptimizerState: true },
      checkpointEvery: 3,
    }));
    expect(s).toMatchObject({
      averaging: { mode: 'diloco', innerSteps: 500, stateAveragingEvery: 5, averageOptimizerState: true },
      checkpointEvery: 3, optimizer: { clipGradNorm: 1, totalEpochs: 100 }, data: { tokenizer: '/data/tokenizer.json' },
    });
    expect(samplesPerEpoch(s)).toBe(4096 * 500);
  });
  it('reads an empty tokenizer as none, and no data as none when the workload reads none', () => {
    expect(train('{"targetBatchSize":8,"data":{"urls":["x"],"tokenizer":""}}').data.tokenizer).toBeUndefined();
    expect(parseTrainingSpec('{"targetBatchSize":8}', { dataRequired: false }).data.urls).toEqual([]);
  });
  it.each([
    ['{', /not JSON/],
    ['[]', /must be a JSON object/],
    ['{"targetBatchSize":8}', /data\.urls/],
    ['{"targetBatchSize":8,"data":{"urls":[]}}', /data\.urls/],
    ['{"targetBatchSize":8,"data":{"urls":["x"],"tokenizer":3}}', /data\.tokenizer: must be a string/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"model":{"size":"huge"}}', /model\.size: must be tiny \| base \| large \| xlarge, got "huge"/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"model":{"architecture":"bert"}}', /model\.architecture/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"model":[]}', /model: must be an object/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"averaging":{"mode":"diloco"}}', /innerSteps: is required/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"name":"sgd"}}', /optimizer\.name/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"warmupEpochs":5,"totalEpochs":5}}', /warmupEpochs/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"learningRate":0}}', /optimizer\.learningRate: must be a number in \(0, 10\]/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"clipGradNorm":0}}', /optimizer\.clipGradNorm: must be a number > 0/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"optimizer":{"warmupEpochs":1e300}}', /optimizer\.warmupEpochs: must be an integer >= 0/],
    ['{"targetBatchSize":0,"data":{"urls":["x"]}}', /targetBatchSize/],
    ['{"data":{"urls":["x"]}}', /targetBatchSize: is required/],
    ['{"targetBatchSize":1000000001,"data":{"urls":["x"]}}', /targetBatchSize: must be an integer in \[1, 1000000000\]/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"averaging":{"maxGroupSize":257}}', /averaging\.maxGroupSize: must be an integer in \[2, 256\]/],
    ['{"targetBatchSize":8,"data":{"urls":["x"],"microBatchSize":0}}', /data\.microBatchSize/],
    ['{"targetBatchSize":8,"data":{"urls":["x"]},"averaging":{"averageOptimizerState":"yes"}}', /averaging\.averageOptimizerState: must be true or false/],
  ])('names the field in errors: %s', (json, re) => {
    const e = errorOf(ConfigError, () => train(json));
    expect(e.variable).toBe(Env.TrainingSpec);
    expect(e.message).toMatch(re);
  });
});
