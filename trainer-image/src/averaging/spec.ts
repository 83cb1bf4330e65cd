/** RoundSpec validation (pure). Errors name the field. */
import { COMPRESSIONS, ROBUST_METHODS } from '../../../api/index.ts';
import { MAX_GROUP_SIZE, MAX_ROUND_ID_BYTES } from './constants.ts';
import { InvalidRoundSpecError } from './errors.ts';
import type { RoundSpec } from './types.ts';

/** Validate `spec` for the local peer `selfId` and a vector of `length` elements; returns the local member index. */
export function validateSpec(spec: RoundSpec, selfId: string, length: number): number {
  if (typeof spec?.roundId !== 'string') throw new InvalidRoundSpecError('roundId', 'must be a string');
  const idBytes = new TextEncoder().encode(spec.roundId).byteLength;
  if (idBytes < 1 || idBytes > MAX_ROUND_ID_BYTES) throw new InvalidRoundSpecError('roundId', `must be 1..${MAX_ROUND_ID_BYTES} UTF-8 bytes, got ${idBytes}`);
  if (!Array.isArray(spec.members) || spec.members.length < 1) throw new InvalidRoundSpecError('members', 'must be a non-empty array');
  if (spec.members.length > MAX_GROUP_SIZE) throw new InvalidRoundSpecError('members', `at most ${MAX_GROUP_SIZE} members, got ${spec.members.length}`);
  const seen = new Set<string>();
  spec.members.forEach((m, i) => {
    if (typeof m?.peerId !== 'string' || m.peerId === '') throw new InvalidRoundSpecError(`members[${i}].peerId`, 'must be a non-empty string');
    if (seen.has(m.peerId)) throw new InvalidRoundSpecError(`members[${i}].peerId`, `duplicate peer ${m.peerId}`);
    seen.add(m.peerId);
    if (!(Number.isFinite(m.weight) && m.weight >= 0)) throw new InvalidRoundSpecError(`members[${i}].weight`, `must be a finite number >= 0, got ${m.weight}`);
    if (m.bandwidth !== undefined && !(Number.isFinite(m.bandwidth) && m.bandwidth >= 0)) {
      throw new InvalidRoundSpecError(`members[${i}].bandwidth`, `must be a finite number >= 0, got ${m.bandwidth}`);
    }
  });
  const self = spec.members.findIndex((m) => m.peerId === selfId);
  if (self < 0) throw new InvalidRoundSpecError('members', `does not contain the local peer ${selfId}`);
  if (!COMPRESSIONS.includes(spec.compression)) throw new InvalidRoundSpecError('compression', `must be auto, none, fp16 or int8, got ${String(spec.compression)}`);
  if (!(Number.isFinite(spec.timeoutMs) && spec.timeoutMs > 0)) throw new InvalidRoundSpecError('timeoutMs', `must be a positive number, got ${spec.timeoutMs}`);
  if (spec.robust !== undefined) validateRobust(spec.robust);
  if (!Number.isInteger(length) || length > 0xffffffff) throw new InvalidRoundSpecError('vector', `length ${length} out of range`);
  return self;
}

function validateRobust(r: NonNullable<RoundSpec['robust']>): void {
  if (typeof r !== 'object' || r === null) throw new InvalidRoundSpecError('robust', 'must be an object');
  if (!ROBUST_METHODS.includes(r.method)) throw new InvalidRoundSpecError('robust.method', `must be ${ROBUST_METHODS.join(', ')}, got ${String(r.method)}`);
  if (!(r.trimFraction >= 0 && r.trimFraction < 0.5)) throw new InvalidRoundSpecError('robust.trimFraction', `must be in [0, 0.5), got ${r.trimFraction}`);
  if (!(r.clipTau > 0 && Number.isFinite(r.clipTau))) throw new InvalidRoundSpecError('robust.clipTau', `must be a positive number, got ${r.clipTau}`);
  if (!(Number.isInteger(r.clipIterations) && r.clipIterations >= 1)) throw new InvalidRoundSpecError('robust.clipIterations', `must be an integer >= 1, got ${r.clipIterations}`);
  if (!(r.maxSamplesRatio >= 1 && Number.isFinite(r.maxSamplesRatio))) throw new InvalidRoundSpecError('robust.maxSamplesRatio', `must be a number >= 1, got ${r.maxSamplesRatio}`);
}
