/** Fuzz properties of the trainer's config decoder (env and SPOTSWARM_TRAINING JSON); see testkit/fuzz/registry.ts. */
import fc from 'fast-check';
import { Env } from '../../api/index.ts';
import { ConfigError, parseConfig } from './config.ts';
import { parseTrainingSpec } from './training-spec.ts';

const base: Record<string, string> = {
  [Env.SwarmName]: 'tiny', [Env.SwarmNamespace]: 'default', [Env.PodIp]: '127.0.0.1', [Env.NatsUrl]: 'nats://127.0.0.1:4222',
  [Env.TrainingSpec]: JSON.stringify({ targetBatchSize: 64, data: { urls: ['generated:tiny-corpus'] }, averaging: { maxGroupSize: 4 } }),
};

/** Either a frozen config or a ConfigError naming an env variable; nothing else escapes. */
function check(run: () => unknown): void {
  try {
    run();
  } catch (e) {
    if (!(e instanceof ConfigError) || !e.message.startsWith(e.variable)) throw e;
  }
}

export const properties = [
  {
    name: 'parseConfig: random values for every variable',
    property: fc.property(fc.dictionary(fc.constantFrom(...Object.values(Env)), fc.oneof(fc.string({ maxLength: 64 }), fc.constantFrom('', ' ', '0', '-1', '1e309', 'NaN', 'HostPort', 'Relay', 'json', '::1', '{}', '[]'))), (over) =>
      check(() => parseConfig({ ...base, ...over }, { hostname: 'h' }))),
  },
  { name: 'parseTrainingSpec: arbitrary strings', property: fc.property(fc.string({ maxLength: 500 }), (s) => check(() => parseTrainingSpec(s, { dataRequired: true }))) },
  { name: 'parseTrainingSpec: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => check(() => parseTrainingSpec(JSON.stringify(v) ?? 'null', { dataRequired: true }))) },
  {
    name: 'parseTrainingSpec: averaging blocks with random values',
    property: fc.property(fc.dictionary(fc.constantFrom('maxGroupSize', 'compression', 'matchmakingWindowSeconds', 'timeoutSeconds'), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.double())), fc.oneof(fc.integer(), fc.double(), fc.string()), (averaging, targetBatchSize) =>
      check(() => parseTrainingSpec(JSON.stringify({ targetBatchSize, averaging }), { dataRequired: false }))),
  },
  {
    name: 'parseTrainingSpec: robust blocks with random values',
    property: fc.property(fc.dictionary(fc.constantFrom('method', 'trimFraction', 'clipTau', 'clipIterations', 'maxSamplesRatio', 'verifyReducers'), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.double(), fc.constantFrom('none', 'trimmed-mean', 'centered-clip'))), fc.integer({ min: 1, max: 8 }), (robust, maxGroupSize) =>
      check(() => parseTrainingSpec(JSON.stringify({ targetBatchSize: 8, averaging: { maxGroupSize, robust } }), { dataRequired: false }))),
  },
];
