/** Fuzz properties of the swarm layer's wire codecs: membership records, round assignments and round result digests (see testkit/fuzz/registry.ts). */
import fc from 'fast-check';
import { mutated } from '../../../testkit/fuzz/index.ts';
import { decodeResultDigest, encodeResultDigest } from './agreement.ts';
import { decodeAssignment, encodeAssignment, type RoundAssignment } from './assignment.ts';
import { MAX_ASSIGNMENT_BYTES, MAX_RECORD_BYTES, MAX_RESULT_DIGEST_BYTES } from './constants.ts';
import { decodeRecord, encodeRecord } from './record.ts';
import { makePeerIds, makeRecord } from './testing.ts';

const ids = await makePeerIds(4);
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v) ?? 'null');
const record = encodeRecord(makeRecord(ids[0]!, { epoch: 3, samples: 10, cluster: 'dc-1', bandwidth: 1e9 }));
const assignment: RoundAssignment = {
  v: 1, epoch: 3, leader: ids[0]!, createdAt: 1, maxGroupSize: 2,
  groups: [[{ peerId: ids[0]!, weight: 5, multiaddrs: [`/ip4/10.0.0.1/tcp/1/p2p/${ids[0]}`] }, { peerId: ids[1]!, weight: 0, multiaddrs: [] }], [{ peerId: ids[2]!, weight: 1, multiaddrs: [] }]],
  waiting: [ids[3]!],
};
const assignmentBytes = encodeAssignment(assignment);
const resultDigest = encodeResultDigest({ v: 1, roundId: 'e3g0', peerId: ids[0]!, sha256: 'ab'.repeat(32) });


/** Never throws; an accepted record re-encodes to what decodes to itself, and is no larger than its input. */
function checkRecord(b: Uint8Array, key?: string): void {
  const d = decodeRecord(b, key);
  if (!d.ok) return;
  const again = encodeRecord(d.record);
  if (again.byteLength > b.byteLength) throw new Error('decoded record larger than its input');
  const d2 = decodeRecord(again, key);
  if (!d2.ok || JSON.stringify(d2.record) !== JSON.stringify(d.record)) throw new Error('accepted record does not round-trip');
}

function checkAssignment(b: Uint8Array, epoch?: number): void {
  const d = decodeAssignment(b, epoch);
  if (!d.ok) return;
  const again = encodeAssignment(d.assignment);
  if (again.byteLength > b.byteLength) throw new Error('decoded assignment larger than its input');
  const d2 = decodeAssignment(again, epoch);
  if (!d2.ok || JSON.stringify(d2.assignment) !== JSON.stringify(d.assignment)) throw new Error('accepted assignment does not round-trip');
}

function checkResultDigest(b: Uint8Array, roundId?: string): void {
  const d = decodeResultDigest(b, roundId);
  if (!d.ok) return;
  const again = encodeResultDigest(d.digest);
  if (again.byteLength > b.byteLength) throw new Error('decoded result digest larger than its input');
  const d2 = decodeResultDigest(again, roundId);
  if (!d2.ok || JSON.stringify(d2.digest) !== JSON.stringify(d.digest)) throw new Error('accepted result digest does not round-trip');
}

const RECORD_FIELDS = ['v', 'peerId', 'multiaddrs', 'epoch', 'samples', 'samplesPerSecond', 'updatedAt', 'pod', 'cluster', 'bandwidth', 'extra'];
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.double(), fc.constantFrom(...ids), fc.array(fc.string({ maxLength: 300 }), { maxLength: 20 }), fc.constant(Number.MAX_SAFE_INTEGER + 2));

export const properties = [
  { name: 'decodeRecord: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => checkRecord(b)) },
  { name: 'decodeRecord: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => checkRecord(enc(v))) },
  { name: 'decodeRecord: records with random field values', property: fc.property(fc.dictionary(fc.constantFrom(...RECORD_FIELDS), anyValue), fc.option(fc.constantFrom(...ids)), (over, key) => checkRecord(enc({ ...JSON.parse(new TextDecoder().decode(record)), ...over }), key ?? undefined)) },
  { name: 'decodeRecord: mutated valid record', property: fc.property(mutated(record), (b) => checkRecord(b, ids[0])) },
  { name: 'decodeRecord: oversized input refused', property: fc.property(fc.integer({ min: 1, max: 4096 }), (n) => { const d = decodeRecord(new Uint8Array(MAX_RECORD_BYTES + n).fill(0x20)); if (d.ok || !/limit/.test(d.error)) throw new Error('not refused'); }) },
  { name: 'decodeAssignment: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => checkAssignment(b)) },
  { name: 'decodeAssignment: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => checkAssignment(enc(v))) },
  {
    name: 'decodeAssignment: assignments with random groups',
    property: fc.property(
      fc.array(fc.array(fc.record({ peerId: fc.constantFrom(...ids, 'x'), weight: fc.oneof(fc.integer({ min: -2, max: 10 }), fc.double()), multiaddrs: fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }) }, { requiredKeys: [] }), { maxLength: 5 }), { maxLength: 4 }),
      fc.array(fc.constantFrom(...ids), { maxLength: 4 }), fc.integer({ min: -1, max: 2000 }),
      (groups, waiting, maxGroupSize) => checkAssignment(enc({ ...assignment, groups, waiting, maxGroupSize }), 3),
    ),
  },
  { name: 'decodeAssignment: mutated valid assignment', property: fc.property(mutated(assignmentBytes), (b) => checkAssignment(b, 3)) },
  { name: 'decodeResultDigest: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => checkResultDigest(b)) },
  { name: 'decodeResultDigest: arbitrary JSON', property: fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => checkResultDigest(enc(v))) },
  { name: 'decodeResultDigest: mutated valid digest', property: fc.property(mutated(resultDigest), (b) => checkResultDigest(b, 'e3g0')) },
  { name: 'decodeResultDigest: oversized input refused', property: fc.property(fc.integer({ min: 1, max: 4096 }), (n) => { const d = decodeResultDigest(new Uint8Array(MAX_RESULT_DIGEST_BYTES + n).fill(0x20)); if (d.ok || !/limit/.test(d.error)) throw new Error('not refused'); }) },
  { name: 'decodeAssignment: oversized input refused', property: fc.property(fc.integer({ min: 1, max: 4096 }), (n) => { const d = decodeAssignment(new Uint8Array(MAX_ASSIGNMENT_BYTES + n).fill(0x20)); if (d.ok || !/limit/.test(d.error)) throw new Error('not refused'); }) },
];
