/** Fuzz properties of the telemetry decoder (see testkit/fuzz/registry.ts for the convention). */
import fc from 'fast-check';
import { mutated } from '../testkit/fuzz/index.ts';
import { parseTelemetry, TELEMETRY_MAX_BYTES } from './telemetry.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const REASONS = new Set(['too-large', 'not-json', 'not-object', 'v', 'peerId', 'pod', 'epoch', 'samplesAccumulated', 'samplesPerSecond', 'time', 'loss', 'cluster', 'backend', 'paramChecksum', 'checkpoint', 'syncing', 'problem', 'dataPass', 'dataDone']);
const good = { v: 1, peerId: '12D3KooW', pod: 'tiny-peer-x', epoch: 4, samplesAccumulated: 12, samplesPerSecond: 3.5, loss: 2.1, time: 1 };

/** Never throws, answers with a reason from the closed set, and never returns more than it was given. */
function check(bytes: Uint8Array): void {
  const r = parseTelemetry(bytes);
  if (r.ok) {
    if (JSON.stringify(r.report).length > bytes.byteLength * 2 + 16) throw new Error('decoded report larger than its input');
  } else if (!REASONS.has(r.reason)) {
    throw new Error(`reason outside the closed set: ${r.reason}`);
  }
}


export const properties = [
  { name: 'parseTelemetry: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => check(b)) },
  { name: 'parseTelemetry: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => check(enc(JSON.stringify(v) ?? 'null'))) },
  {
    name: 'parseTelemetry: reports with random field values',
    property: fc.property(fc.dictionary(fc.constantFrom(...Object.keys(good), 'cluster', 'checkpoint', 'dataPass', 'dataDone', 'extra'), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.double(), fc.string({ maxLength: 300 }))), (over) => check(enc(JSON.stringify({ ...good, ...over })))),
  },
  { name: 'parseTelemetry: mutated valid report', property: fc.property(mutated(enc(JSON.stringify(good))), (b) => check(b)) },
  {
    name: 'parseTelemetry: oversized input is refused before parsing',
    property: fc.property(fc.integer({ min: 1, max: 4096 }), (extra) => {
      const r = parseTelemetry(new Uint8Array(TELEMETRY_MAX_BYTES + extra).fill(0x7b));
      if (r.ok || r.reason !== 'too-large') throw new Error('oversized report not refused as too-large');
    }),
  },
];
