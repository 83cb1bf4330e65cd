import { Env } from '../../api/index.ts';
import { errorOf } from '../../testkit/errors/index.ts';
import { ConfigError, parseConfig } from './config.ts';

const good = {
  [Env.SwarmName]: 'bert',
  [Env.SwarmNamespace]: 'team-a',
  [Env.PodIp]: '10.1.2.3',
  [Env.NatsUrl]: 'nats://nats:4222',
  [Env.TrainingSpec]: JSON.stringify({ targetBatchSize: 4096, data: { urls: ['generated:tiny-corpus'] }, averaging: { maxGroupSize: 4, compression: 'fp16' } }),
};
const parse = (over: Record<string, string | undefined>) => parseConfig({ ...good, ...over }, { hostname: 'host-1' });

describe('parseConfig', () => {
  it('applies the CRD defaults and the documented ones, and freezes the result', () => {
    const c = parse({});
    expect(c.training.targetBatchSize).toBe(4096);
    expect(c.training.averaging).toEqual({
      mode: 'gradient', maxGroupSize: 4, compression: 'fp16', matchmakingWindowSeconds: 5, timeoutSeconds: 60, innerSteps: undefined,
      stateAveragingEvery: 0, averageOptimizerState: false,
      robust: { method: 'none', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false },
    });
    expect(c.nats.connectTimeoutMs).toBe(20_000);
    expect(c.terminationLog).toBeUndefined();
    expect(c.train).toEqual({ evalBatches: 0, backend: 'auto', backends: undefined, faults: { nanGradientEpochs: [], byzantine: undefined, byzantineResults: undefined } });
    expect(c.pod).toEqual({ name: 'host-1', ip: '10.1.2.3', cluster: undefined });
    expect(c.synthetic).toEqual({ vectorElements: 262_144, seed: undefined, samplesPerSecond: 100, samplesPerEpoch: undefined, dumpDir: undefined });
    expect(c.membershipTtlMs).toBe(10_000);
    expect(c.workload).toBe('train');
    const averaging = parse({ [Env.Workload]: 'averaging', [Env.TrainingSpec]: JSON.stringify({ targetBatchSize: 64 }) });
    expect(averaging.workload).toBe('averaging');
    expect(averaging.train).toBeUndefined();
    expect(averaging.training.data.urls).toEqual([]);
    expect(Object.isFrozen(c.training.averaging)).toBe(true);
    expect(() => {
      (c.synthetic as { samplesPerSecond: number }).samplesPerSecond = 1;
    }).toThrow(TypeError);
  });

  it('serves metrics only when SPOTSWARM_METRICS_PORT is set; 0 asks for a free port', () => {
    expect(parse({}).metricsPort).toBeUndefined();
    expect(parse({ [Env.MetricsPort]: '0' }).metricsPort).toBe(0);
    expect(parse({ [Env.MetricsPort]: '9400' }).metricsPort).toBe(9400);
    expect(errorOf(ConfigError, () => parse({ [Env.MetricsPort]: '70000' })).variable).toBe(Env.MetricsPort);
  });

  it('reads spec.training.averaging.robust, filling the CRD defaults', () => {
    const spec = (robust: unknown): Record<string, string> => ({ [Env.TrainingSpec]: JSON.stringify({ targetBatchSize: 5, data: { urls: ['generated:tiny-corpus'] }, averaging: { maxGroupSize: 4, robust } }) });
    expect(parse(spec({ method: 'centered-clip', clipTau: 2 })).training.averaging.robust).toEqual({ method: 'centered-clip', trimFraction: 0.2, clipTau: 2, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false });
    expect(parse(spec({ method: 'trimmed-mean', trimFraction: 0.3, maxSamplesRatio: 2 })).training.averaging.robust).toMatchObject({ method: 'trimmed-mean', trimFraction: 0.3, maxSamplesRatio: 2 });
    expect(parse(spec({ method: 'trimmed-mean', verifyReducers: true })).training.averaging.robust.verifyReducers).toBe(true);
  });

  it('reads the train workload\'s eval batches, backends and faults, and names bad variables', () => {
    expect(parse({ [Env.EvalBatches]: '3', [Env.Backends]: 'wasm,cpu', [Env.FaultNanGradientEpochs]: '2, 5' }).train).toEqual({
      evalBatches: 3, backend: 'auto', backends: ['wasm', 'cpu'], faults: { nanGradientEpochs: [2, 5], byzantine: undefined, byzantineResults: undefined },
    });
    expect(errorOf(ConfigError, () => parse({ [Env.Backends]: 'gpu' })).variable).toBe(Env.Backends);
    expect(parse({ [Env.Backend]: 'gpu' }).train?.backend).toBe('gpu');
    expect(errorOf(ConfigError, () => parse({ [Env.Backend]: 'tpu' })).message).toMatch(/SPOTSWARM_BACKEND: must be one of auto, gpu, cpu, wasm \(spec.trainer.backend\), got "tpu"/);
    expect(errorOf(ConfigError, () => parse({ [Env.EvalBatches]: '-1' })).variable).toBe(Env.EvalBatches);
    expect(errorOf(ConfigError, () => parse({ [Env.FaultNanGradientEpochs]: 'x' })).variable).toBe(Env.FaultNanGradientEpochs);
    expect(parse({ [Env.FaultByzantine]: 'scale:-100' }).train?.faults.byzantine).toEqual({ kind: 'scale', factor: -100 });
    const z = errorOf(ConfigError, () => parse({ [Env.FaultByzantine]: 'scale:0' }));
    expect(z.variable).toBe(Env.FaultByzantine);
    expect(z.message).toMatch(/SPOTSWARM_FAULT_BYZANTINE: must be scale:<non-zero factor>, random:<std > 0> or nan, got "scale:0"/);
    expect(parse({ [Env.FaultByzantineResults]: 'random:10' }).train?.faults.byzantineResults).toEqual({ kind: 'random', std: 10 });
    expect(errorOf(ConfigError, () => parse({ [Env.FaultByzantineResults]: 'flip' })).variable).toBe(Env.FaultByzantineResults);
    // The averaging workload reads none of them.
    expect(parse({ [Env.Workload]: 'averaging', [Env.Backends]: 'gpu' }).train).toBeUndefined();
  });

  it('reads the synthetic workload settings', () => {
    const c = parse({ [Env.SyntheticVectorMb]: '64', [Env.SyntheticSamplesPerEpoch]: '32', [Env.SyntheticSeed]: 's1', [Env.StopAfterEpochs]: '3' });
    expect(c.synthetic.vectorElements).toBe(16 * 1024 * 1024);
    expect(c.synthetic.samplesPerEpoch).toBe(32);
    expect(c.synthetic.seed).toBe('s1');
    expect(c.stopAfterEpochs).toBe(3);
  });

  it('announces the node address in HostPort mode', () => {
    const c = parse({ [Env.NetworkMode]: 'HostPort', [Env.AnnounceHost]: '192.168.1.7', [Env.P2pPort]: '31000' });
    expect(c.network).toEqual({ mode: 'HostPort', announceIp: '192.168.1.7' });
    expect(parse({}).network).toEqual({ mode: 'PodNetwork', announceIp: undefined });
  });

  it('listens through the relays in Relay mode', () => {
    const r1 = '/ip4/10.0.0.9/tcp/4001/p2p/12D3KooWPR5oGbe4x5bzVvsDsPs8xcFjELPeEMp93eFjiwddi1qZ';
    const r2 = '/dns4/relay.example.org/tcp/4001/p2p/12D3KooWPMcMNkmrHDDJa7DbDEqS3bmeXu3dvtMoXcac9Saw67xF';
    const c = parse({ [Env.NetworkMode]: 'Relay', [Env.Relays]: ` ${r1}, ${r2},` });
    expect(c.network).toEqual({ mode: 'Relay', announceIp: undefined, relays: [r1, r2] });
    expect(Object.isFrozen(c.network.relays)).toBe(true);
  });

  it.each([
    [{ [Env.NetworkMode]: 'Relay' }, Env.Relays, /required in Relay mode/],
    [{ [Env.NetworkMode]: 'Relay', [Env.Relays]: '/ip4/10.0.0.9/tcp/4001' }, Env.Relays, /\/p2p\/<relay peer id>/],
    [{ [Env.NetworkMode]: 'Relay', [Env.Relays]: '/ip4/10.0.0.9/udp/4001/p2p/12D3KooWPR5oGbe4x5bzVvsDsPs8xcFjELPeEMp93eFjiwddi1qZ' }, Env.Relays, /TCP/],
    [{ [Env.NetworkMode]: 'Relay', [Env.Relays]: '/ip4/10.0.0.9/tcp/4001/p2p/12D3KooWPR5oGbe4x5bzVvsDsPs8xcFjELPeEMp93eFjiwddi1qZ/p2p-circuit' }, Env.Relays, /circuit address/],
    [{ [Env.NetworkMode]: 'Relay', [Env.Relays]: 'relay.example.org:4001' }, Env.Relays, /not a multiaddr/],
    [{ [Env.NetworkMode]: 'Carrier' }, Env.NetworkMode, /PodNetwork/],
    [{ [Env.NetworkMode]: 'HostPort', [Env.P2pPort]: '31000' }, Env.AnnounceHost, /required/],
    [{ [Env.NetworkMode]: 'HostPort', [Env.AnnounceHost]: '10.0.0.1' }, Env.P2pPort, /fixed port/],
    [{ [Env.NatsUrl]: undefined }, Env.NatsUrl, /required/],
    [{ [Env.NatsUrl]: 'http://x' }, Env.NatsUrl, /nats:\/\//],
    [{ [Env.PodIp]: '' }, Env.PodIp, /required/],
    [{ [Env.PodIp]: '300.1.1.1' }, Env.PodIp, /IPv4/],
    [{ [Env.SwarmName]: undefined }, Env.SwarmName, /required/],
    [{ [Env.P2pPort]: '70000' }, Env.P2pPort, /integer/],
    [{ [Env.StopAfterEpochs]: '0' }, Env.StopAfterEpochs, /integer/],
    [{ [Env.LogFormat]: 'xml' }, Env.LogFormat, /json/],
    [{ [Env.SyntheticVectorMb]: 'lots' }, Env.SyntheticVectorMb, /number/],
    [{ [Env.SyntheticVectorMb]: '0.000001' }, Env.SyntheticVectorMb, /at least one/],
    [{ [Env.Workload]: 'bogus' }, Env.Workload, /"train" or "averaging"/],
    [{ [Env.TrainingSpec]: '{' }, Env.TrainingSpec, /not JSON/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":0}' }, Env.TrainingSpec, /targetBatchSize/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"maxGroupSize":1}}' }, Env.TrainingSpec, /averaging\.maxGroupSize/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"compression":"zip"}}' }, Env.TrainingSpec, /averaging\.compression/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"method":"krum"}}}' }, Env.TrainingSpec, /averaging\.robust\.method: must be none \| trimmed-mean \| centered-clip/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"method":"trimmed-mean","trimFraction":0.5}}}' }, Env.TrainingSpec, /averaging\.robust\.trimFraction: must be a number in \[0, 0\.5\)/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"method":"trimmed-mean","trimFraction":0}}}' }, Env.TrainingSpec, /averaging\.robust\.trimFraction: must be above 0/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"clipTau":0}}}' }, Env.TrainingSpec, /averaging\.robust\.clipTau/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"clipIterations":1.5}}}' }, Env.TrainingSpec, /averaging\.robust\.clipIterations/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"maxSamplesRatio":0.5}}}' }, Env.TrainingSpec, /averaging\.robust\.maxSamplesRatio/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":{"verifyReducers":"yes"}}}' }, Env.TrainingSpec, /averaging\.robust\.verifyReducers: must be true or false/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"robust":[]}}' }, Env.TrainingSpec, /averaging\.robust: must be an object/],
    [{ [Env.TrainingSpec]: '{"targetBatchSize":5,"averaging":{"maxGroupSize":2,"robust":{"method":"centered-clip"}}}' }, Env.TrainingSpec, /averaging\.maxGroupSize: must be at least 3 with robust aggregation/],
  ])('names the variable in errors: %j', (over, variable, re) => {
    const e = errorOf(ConfigError, () => parse(over));
    expect(e.variable).toBe(variable);
    expect(e.message.startsWith(`${variable}: `)).toBe(true);
    expect(e.message).toMatch(re);
  });
});
