/**
 * Fuzz properties of the repo, found by convention: every `*.fuzz.ts` file
 * under api/, operator/ and trainer-image/src/ exports
 *
 *   export const properties: { name: string; property: fc.IRawProperty<any> }[]
 *
 * (fast-check properties, sync or async). Each property feeds random and
 * mutated input to one decoder and must hold for any input: no throw other
 * than the decoder's own named error, no hang, and no output larger than a
 * bound of its input. `npm run fuzz -- --runs N` runs them all with a longer
 * budget; testkit/fuzz/fuzz.test.ts runs the same properties with CI's fixed
 * budget. A new decoder gets a `*.fuzz.ts` beside it; nothing to register.
 */
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type fc from 'fast-check';

export interface FuzzProperty {
  name: string;
  property: fc.IRawProperty<any>;
}

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ROOTS = ['api', 'operator', 'trainer-image/src'];

/** Paths (relative to the repo) of every *.fuzz.ts file, sorted. */
export function fuzzFiles(root = REPO_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir)) {
      if (e === 'node_modules' || e.startsWith('.')) continue;
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.fuzz.ts')) out.push(relative(root, p));
    }
  };
  for (const r of ROOTS) walk(join(root, r));
  return out.sort();
}

/** Imports the files and returns their properties, each named `<file>: <name>`. */
export async function loadProperties(files = fuzzFiles()): Promise<FuzzProperty[]> {
  const out: FuzzProperty[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(REPO_ROOT, f)).href)) as { properties?: FuzzProperty[] };
    if (!Array.isArray(mod.properties)) throw new Error(`${f}: a *.fuzz.ts file must export \`properties\` (an array of { name, property })`);
    for (const p of mod.properties) out.push({ name: `${f}: ${p.name}`, property: p.property });
  }
  return out;
}
