/**
 * CI's fixed fuzz budget: every property of every *.fuzz.ts file (see
 * registry.ts), FUZZ_RUNS runs each. `npm run fuzz -- --runs N` runs the
 * same properties longer.
 */
import fc from 'fast-check';
import { fuzzFiles, loadProperties } from './registry.ts';

/** Runs per property in CI: enough to hit every branch of the decoders, ~1 s per property here. */
const FUZZ_RUNS = 300;

const properties = await loadProperties();

describe('fuzz properties (fixed budget)', () => {
  it('finds the fuzz files of api/, operator/ and trainer-image/src/', () => {
    const files = fuzzFiles();
    expect(files).toEqual(expect.arrayContaining(['api/telemetry.fuzz.ts', 'operator/validate/semantic.fuzz.ts', 'operator/natsauth/creds.fuzz.ts', 'trainer-image/src/swarm/codecs.fuzz.ts', 'trainer-image/src/config.fuzz.ts', 'trainer-image/src/averaging/codec.fuzz.ts', 'trainer-image/src/state/codec.fuzz.ts']));
  });

  it.each(properties.map((p) => [p.name, p] as const))('%s', async (_name, p) => {
    await fc.assert(p.property, { numRuns: FUZZ_RUNS });
  }, 120_000);
});
