/** Fuzz properties of the trainer's config decoder (env and SPOTSWARM_TRAINING JSON); see testkit/fuzz/registry.ts. */
import fc from 'fast-check';
import { Env } from '../../api/index.ts';
import { ConfigError, parseConfig, parseTraining } from './config.ts';

const base: Record<string, string> = {
  [Env.SwarmName]: 'tiny', [Env.SwarmNamespace]: 'default', [Env.PodIp]: '127.0.0.1', [Env.NatsUrl]: 'nats://127.0.0.1:4222',
  [Env.TrainingSpec]: JSON.stringify({ targetBatchSize: 64, averaging: { maxGroupSize: 4 } }),
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
  { name: 'parseTraining: arbitrary strings', property: fc.property(fc.string({ maxLength: 500 }), (s) => check(() => parseTraining(s))) },
  { name: 'parseTraining: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => check(() => parseTraining(JSON.stringify(v) ?? 'null'))) },
  {
    name: 'parseTraining: averaging blocks with random values',
    property: fc.property(fc.dictionary(fc.constantFrom('maxGroupSize', 'compression', 'matchmakingWindowSeconds', 'timeoutSeconds'), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.double())), fc.oneof(fc.integer(), fc.double(), fc.string()), (averaging, targetBatchSize) =>
      check(() => parseTraining(JSON.stringify({ targetBatchSize, averaging })))),
  },
  {
    name: 'parseTraining: robust blocks with random values',
    property: fc.property(fc.dictionary(fc.constantFrom('method', 'trimFraction', 'clipTau', 'clipIterations', 'maxSamplesRatio', 'verifyReducers'), fc.oneof(fc.jsonValue({ maxDepth: 1 }), fc.double(), fc.constantFrom('none', 'trimmed-mean', 'centered-clip'))), fc.integer({ min: 1, max: 8 }), (robust, maxGroupSize) =>
      check(() => parseTraining(JSON.stringify({ targetBatchSize: 8, averaging: { maxGroupSize, robust } })))),
  },
];
