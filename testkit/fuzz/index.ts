/**
 * Fuzzing by convention (see registry.ts): finding and loading every
 * `*.fuzz.ts` property, and the input generators those files share. This
 * file is the public face.
 */
export { mutated } from './arbitraries.ts';
export { fuzzFiles, loadProperties, type FuzzProperty } from './registry.ts';
