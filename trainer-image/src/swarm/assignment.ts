/**
 * A round's assignment: every group of the round, each an ordered member
 * list with weights and addresses. The round's leader writes it once to the
 * rounds bucket under `round.<epoch>`; every peer reads that same value. The
 * codec is strict: a bad assignment is never half-used.
 */
import { ASSIGNMENT_VERSION, MAX_ASSIGNMENT_BYTES, MAX_ASSIGNMENT_MEMBERS } from './constants.ts';
import { InvalidAssignmentError } from './errors.ts';
import type { Candidate } from './groups.ts';
import { checkFinite, checkInt, checkKnownFields, checkMultiaddrs, checkPeerId, parseJsonObject } from './validate.ts';

export interface AssignmentMember {
  peerId: string;
  /** Samples weight; 0 = tag-along. */
  weight: number;
  multiaddrs: string[];
  bandwidth?: number;
}

export interface RoundAssignment {
  v: typeof ASSIGNMENT_VERSION;
  epoch: number;
  /** Peer id of the peer that won the compare-and-set and wrote this assignment. */
  leader: string;
  /** Unix ms, leader's clock. */
  createdAt: number;
  maxGroupSize: number;
  groups: AssignmentMember[][];
  /** Peers the leader saw at this epoch but left out (they wait for the next round). */
  waiting: string[];
}

export type AssignmentDecode = { ok: true; assignment: RoundAssignment } | { ok: false; error: string };

const FIELDS: ReadonlySet<string> = new Set(['v', 'epoch', 'leader', 'createdAt', 'maxGroupSize', 'groups', 'waiting']);
const MEMBER_FIELDS: ReadonlySet<string> = new Set(['peerId', 'weight', 'multiaddrs', 'bandwidth']);

function validateMember(field: string, m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return `${field}: must be an object`;
  const r = m as Record<string, unknown>;
  return (
    checkKnownFields(field, r, MEMBER_FIELDS) ??
    checkPeerId(`${field}.peerId`, r['peerId']) ??
    checkInt(`${field}.weight`, r['weight'], 0) ??
    checkMultiaddrs(`${field}.multiaddrs`, r['multiaddrs'], r['peerId'] as string) ??
    (r['bandwidth'] === undefined ? undefined : checkFinite(`${field}.bandwidth`, r['bandwidth'], 0))
  );
}

export function validateAssignment(r: Record<string, unknown>): string | undefined {
  if (r['v'] !== ASSIGNMENT_VERSION) return `field v: unsupported version ${JSON.stringify(r['v'])}`;
  const basic =
    checkKnownFields('assignment', r, FIELDS) ??
    checkInt('field epoch', r['epoch'], 0) ??
    checkPeerId('field leader', r['leader']) ??
    checkInt('field createdAt', r['createdAt'], 0) ??
    checkInt('field maxGroupSize', r['maxGroupSize'], 2, 1024);
  if (basic !== undefined) return basic;
  const groups = r['groups'];
  if (!Array.isArray(groups)) return 'field groups: must be an array';
  const seen = new Set<string>();
  for (let g = 0; g < groups.length; g++) {
    const members: unknown = groups[g];
    if (!Array.isArray(members) || members.length === 0) return `field groups[${g}]: must be a non-empty array`;
    if (members.length > (r['maxGroupSize'] as number)) return `field groups[${g}]: ${members.length} members exceed maxGroupSize ${String(r['maxGroupSize'])}`;
    let total = 0;
    for (let i = 0; i < members.length; i++) {
      const err = validateMember(`field groups[${g}][${i}]`, members[i]);
      if (err !== undefined) return err;
      const m = members[i] as AssignmentMember;
      if (seen.has(m.peerId)) return `field groups[${g}][${i}].peerId: ${m.peerId} appears twice`;
      seen.add(m.peerId);
      if (seen.size > MAX_ASSIGNMENT_MEMBERS) return `field groups: more than ${MAX_ASSIGNMENT_MEMBERS} members`;
      total += m.weight;
    }
    if (!(total > 0)) return `field groups[${g}]: total weight must be > 0`;
  }
  const waiting = r['waiting'];
  if (!Array.isArray(waiting)) return 'field waiting: must be an array';
  for (let i = 0; i < waiting.length; i++) {
    const err = checkPeerId(`field waiting[${i}]`, waiting[i]);
    if (err !== undefined) return err;
    if (seen.has(waiting[i] as string)) return `field waiting[${i}]: ${String(waiting[i])} is also in a group`;
    seen.add(waiting[i] as string);
    if (seen.size > MAX_ASSIGNMENT_MEMBERS) return `field waiting: more than ${MAX_ASSIGNMENT_MEMBERS} peers`;
  }
  return undefined;
}

export function decodeAssignment(bytes: Uint8Array, epoch?: number): AssignmentDecode {
  const parsed = parseJsonObject(bytes, MAX_ASSIGNMENT_BYTES, 'assignment');
  if (!parsed.ok) return parsed;
  const err = validateAssignment(parsed.value);
  if (err !== undefined) return { ok: false, error: err };
  const a = parsed.value as unknown as RoundAssignment;
  if (epoch !== undefined && a.epoch !== epoch) return { ok: false, error: `field epoch: ${a.epoch} stored under the key of epoch ${epoch}` };
  return {
    ok: true,
    assignment: {
      v: ASSIGNMENT_VERSION,
      epoch: a.epoch,
      leader: a.leader,
      createdAt: a.createdAt,
      maxGroupSize: a.maxGroupSize,
      groups: a.groups.map((g) => g.map(copyMember)),
      waiting: [...a.waiting],
    },
  };
}

function copyMember(m: AssignmentMember): AssignmentMember {
  const out: AssignmentMember = { peerId: m.peerId, weight: m.weight, multiaddrs: [...m.multiaddrs] };
  if (m.bandwidth !== undefined) out.bandwidth = m.bandwidth;
  return out;
}

export function encodeAssignment(a: RoundAssignment): Uint8Array {
  const err = validateAssignment(a as unknown as Record<string, unknown>);
  if (err !== undefined) throw new InvalidAssignmentError(err);
  const bytes = new TextEncoder().encode(JSON.stringify(a));
  if (bytes.byteLength > MAX_ASSIGNMENT_BYTES) throw new InvalidAssignmentError(`assignment is ${bytes.byteLength} bytes, limit ${MAX_ASSIGNMENT_BYTES}`);
  return bytes;
}

/** The group that contains `peerId`, with its index, or undefined. */
export function findGroup(a: RoundAssignment, peerId: string): { index: number; members: AssignmentMember[] } | undefined {
  for (let i = 0; i < a.groups.length; i++) {
    const g = a.groups[i] as AssignmentMember[];
    if (g.some((m) => m.peerId === peerId)) return { index: i, members: g };
  }
  return undefined;
}

/** Candidates → assignment members (weights must already be integers). */
export function toMembers(group: readonly Candidate[]): AssignmentMember[] {
  return group.map((c) => {
    const m: AssignmentMember = { peerId: c.peerId, weight: c.weight, multiaddrs: [...c.multiaddrs] };
    if (c.bandwidth !== undefined) m.bandwidth = c.bandwidth;
    return m;
  });
}
