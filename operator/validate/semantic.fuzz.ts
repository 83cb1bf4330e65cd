/** Fuzz properties of the semantic spec checks (see testkit/fuzz/registry.ts). */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { PROBLEM_REASONS, semanticProblems, type SpecFacts } from './semantic.ts';

const example = parse(readFileSync(fileURLToPath(new URL('../../crds/examples/tiny.yaml', import.meta.url)), 'utf8')) as Record<string, unknown>;

const facts: fc.Arbitrary<SpecFacts> = fc.record({
  credentialsSecret: fc.oneof(fc.constant({ found: false as const }), fc.record({ found: fc.constant(true as const), keys: fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }) })),
  placementProblems: fc.dictionary(fc.string({ maxLength: 70 }), fc.string({ maxLength: 300 }), { maxKeys: 4 }),
  credentialsIssue: fc.string({ maxLength: 300 }),
}, { requiredKeys: [] });

/** Never throws; reasons from the closed set; every message names a spec field and stays bounded. */
function check(swarm: unknown, f: SpecFacts): void {
  for (const p of semanticProblems(swarm, f)) {
    if (!PROBLEM_REASONS.includes(p.reason)) throw new Error(`unknown reason ${p.reason}`);
    if (!p.field.startsWith('spec.') || !p.message.startsWith('spec.')) throw new Error(`problem does not name its field: ${p.message}`);
    if (p.message.length > 1200) throw new Error(`message of ${p.message.length} chars`);
  }
}

/** The example with random values put at random paths. */
const mutatedSwarm = fc.array(fc.tuple(fc.array(fc.constantFrom('spec', 'training', 'model', 'size', 'architecture', 'nats', 'credentialsSecretRef', 'name', 'key', 'placements', 'metadata', 'namespace', '0'), { minLength: 1, maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })), { maxLength: 6 }).map((edits) => {
  const s = structuredClone(example);
  for (const [path, value] of edits) {
    let o: Record<string, unknown> = s;
    for (const k of path.slice(0, -1)) {
      const next = o[k];
      if (typeof next !== 'object' || next === null) o[k] = {};
      o = o[k] as Record<string, unknown>;
    }
    o[path[path.length - 1]!] = value;
  }
  return s;
});

export const properties = [
  { name: 'semanticProblems: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 5 }), facts, (v, f) => check(v, f)) },
  { name: 'semanticProblems: mutated example swarm', property: fc.property(mutatedSwarm, facts, (s, f) => check(s, f)) },
  { name: 'semanticProblems: huge strings are cut in messages', property: fc.property(fc.string({ minLength: 1000, maxLength: 5000 }), (big) => check({ metadata: { namespace: 'x' }, spec: { training: { model: { size: big } }, nats: { credentialsSecretRef: { name: big.slice(0, 253), key: big } } } }, { credentialsSecret: { found: true, keys: [] } })) },
];
