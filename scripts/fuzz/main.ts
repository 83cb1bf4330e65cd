/**
 * `npm run fuzz -- [--runs N] [--seed S] [--filter TEXT]`: runs every fuzz
 * property of the repo (see testkit/fuzz/registry.ts) with a longer budget
 * than CI's, and prints one line per property and a closing "N passed,
 * N failed" line.
 * A failure prints fast-check's counterexample and the seed and path that
 * replay it (`--seed S` plus fast-check's `path` in the message).
 */
import fc from 'fast-check';
import { loadProperties } from '../../testkit/fuzz/index.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runs = Number(arg('runs') ?? 10_000);
const seed = arg('seed') === undefined ? undefined : Number(arg('seed'));
const filter = arg('filter');
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write('--runs must be a positive integer\n');
  process.exit(2);
}

const props = (await loadProperties()).filter((p) => filter === undefined || p.name.includes(filter));
let passed = 0;
let failed = 0;
for (const p of props) {
  const t0 = performance.now();
  const r = await fc.check(p.property, { numRuns: runs, ...(seed !== undefined ? { seed } : {}) });
  const ms = Math.round(performance.now() - t0);
  if (r.failed) {
    failed++;
    process.stdout.write(`FAIL ${p.name} (${ms} ms)\n${fc.defaultReportMessage(r) ?? ''}\n`);
  } else {
    passed++;
    process.stdout.write(`ok   ${p.name}: ${r.numRuns} runs in ${ms} ms\n`);
  }
}
process.stdout.write(`fuzz: ${passed} passed, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
