/** Fuzz properties of the data pool's decoders: what other peers wrote to the swarm's KV, and a checkpoint's position (see testkit/fuzz/registry.ts). */
import fc from 'fast-check';
import { mutated } from '../../../testkit/fuzz/index.ts';
import { parsePool, parsePosition } from './pool.ts';
import { parseCorpus } from './units.ts';

const pool = { v: 1, units: 4, pass: 2, passStartedAt: 5, done: [0, 2], failed: [1], leases: [{ unit: 3, peer: '12D3KooW', expires: 9 }] };
const corpus = { v: 1, unitBytes: 1024, files: [{ url: '/data/a.txt', size: 10 }] };

/** The decoder returns its input or throws an Error that names the field (prefix). */
function named(f: () => unknown, prefix: string): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof Error) || !e.message.startsWith(prefix)) throw new Error(`unexpected error: ${String(e)}`);
  }
}

function parsed(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
}

export const properties = [
  { name: 'parsePool: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => named(() => parsePool(v, 4), 'pool')) },
  {
    name: 'parsePool: pools with random field values',
    property: fc.property(fc.dictionary(fc.constantFrom(...Object.keys(pool)), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.double())), (over) => named(() => parsePool({ ...pool, ...over }, 4), 'pool')),
  },
  { name: 'parsePool: mutated valid pool', property: fc.property(mutated(new TextEncoder().encode(JSON.stringify(pool))), (b) => named(() => parsePool(parsed(b), 4), 'pool')) },
  { name: 'parseCorpus: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => named(() => parseCorpus(v), 'corpus')) },
  { name: 'parseCorpus: mutated valid corpus', property: fc.property(mutated(new TextEncoder().encode(JSON.stringify(corpus))), (b) => named(() => parseCorpus(parsed(b)), 'corpus')) },
  { name: 'parsePosition: never throws', property: fc.property(fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v) ?? '')), (s) => void parsePosition(s)) },
];
