/**
 * The state blob: what a donor serves and a checkpoint stores. One layout for
 * both, version 1, little-endian:
 *
 *   magic u32 ("KSST") | version u16 | mode u8 (1 gradient, 2 diloco) | arrays u8 |
 *   epoch u64 | elements u32 | reserved u32 (=0) | moments step u64 |
 *   model fingerprint (32 bytes)                                    = 64 bytes
 *   then `arrays` float32 arrays of `elements` each:
 *     gradient: params, m, v        diloco: params, outer momentum
 *
 * Only swarm-wide state goes in (DiLoCo's inner AdamW state is local), so
 * every in-sync peer encodes bitwise the same blob and a download can take
 * chunks from several donors and check one sha256.
 */
import { createHash } from 'node:crypto';
import type { SharedState } from '../optim/index.ts';
import { StateModes, type StateMode } from './codec.ts';
import { BLOB_HEADER_BYTES, BLOB_MAGIC, BLOB_VERSION, DIGEST_BYTES, MAX_STATE_BYTES } from './constants.ts';
import { BadStateBlobError } from './errors.ts';

export function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Fingerprint of what a state is for (model config, tokenizer, mode): sha256 hex of its canonical JSON. */
export function stateFingerprint(description: unknown): string {
  return createHash('sha256').update(JSON.stringify(description)).digest('hex');
}

/** Encodes (copies) the state into a new blob; synchronous, so the state cannot change underneath. */
export function encodeState(s: SharedState, fingerprint: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(fingerprint)) throw new RangeError(`fingerprint: not a sha256 hex digest`);
  const arrays = s.mode === 'gradient' ? [s.params, s.moments?.m, s.moments?.v] : [s.params, s.outerMomentum];
  const n = s.params.length;
  for (const a of arrays) if (a === undefined || a.length !== n) throw new RangeError(`state arrays must all have ${n} elements`);
  if (n > 0xffffffff) throw new RangeError(`${n} elements do not fit the blob`);
  const total = BLOB_HEADER_BYTES + arrays.length * n * 4;
  if (total > MAX_STATE_BYTES) throw new RangeError(`state of ${total} bytes exceeds ${MAX_STATE_BYTES}`);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, BLOB_MAGIC, true);
  view.setUint16(4, BLOB_VERSION, true);
  view.setUint8(6, StateModes[s.mode]);
  view.setUint8(7, arrays.length);
  view.setBigUint64(8, BigInt(s.epoch), true);
  view.setUint32(16, n, true);
  view.setBigUint64(24, BigInt(s.moments?.step ?? 0), true);
  out.set(Buffer.from(fingerprint, 'hex'), 32);
  let o = BLOB_HEADER_BYTES;
  for (const a of arrays) {
    out.set(new Uint8Array(a!.buffer, a!.byteOffset, a!.byteLength), o);
    o += n * 4;
  }
  return out;
}

export interface DecodedState {
  state: SharedState;
  fingerprint: string;
}

/** Decodes a blob strictly (copies the arrays out); checks the fingerprint when given. Values are not checked here (the optimizer's load() rejects NaN/Inf). */
export function decodeState(blob: Uint8Array, expectFingerprint?: string): DecodedState {
  if (blob.byteLength < BLOB_HEADER_BYTES) throw new BadStateBlobError(`blob of ${blob.byteLength} bytes is shorter than its header`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (view.getUint32(0, true) !== BLOB_MAGIC) throw new BadStateBlobError('not a state blob (bad magic)');
  const version = view.getUint16(4, true);
  if (version !== BLOB_VERSION) throw new BadStateBlobError(`unsupported state blob version ${version}`);
  const modeByte = view.getUint8(6);
  const mode = (Object.keys(StateModes) as StateMode[]).find((k) => StateModes[k] === modeByte);
  if (mode === undefined) throw new BadStateBlobError(`unknown mode ${modeByte}`);
  const count = view.getUint8(7);
  const want = mode === 'gradient' ? 3 : 2;
  if (count !== want) throw new BadStateBlobError(`${mode} state with ${count} arrays, expected ${want}`);
  const epoch = view.getBigUint64(8, true);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadStateBlobError(`epoch ${epoch} out of range`);
  const n = view.getUint32(16, true);
  if (view.getUint32(20, true) !== 0) throw new BadStateBlobError('reserved header bytes set');
  const step = view.getBigUint64(24, true);
  if (step > BigInt(Number.MAX_SAFE_INTEGER)) throw new BadStateBlobError(`moments step ${step} out of range`);
  const fingerprint = Buffer.from(blob.subarray(32, 32 + DIGEST_BYTES)).toString('hex');
  if (expectFingerprint !== undefined && fingerprint !== expectFingerprint) {
    throw new BadStateBlobError(`state is for another model (fingerprint ${fingerprint.slice(0, 12)}…, expected ${expectFingerprint.slice(0, 12)}…)`);
  }
  const total = BLOB_HEADER_BYTES + count * n * 4;
  if (blob.byteLength !== total) throw new BadStateBlobError(`blob of ${blob.byteLength} bytes, header says ${total}`);
  const arrays: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const start = BLOB_HEADER_BYTES + i * n * 4;
    arrays.push(new Float32Array(blob.slice(start, start + n * 4).buffer));
  }
  const state: SharedState = { epoch: Number(epoch), mode, params: arrays[0]! };
  if (mode === 'gradient') state.moments = { step: Number(step), m: arrays[1]!, v: arrays[2]! };
  else state.outerMomentum = arrays[1]!;
  return { state, fingerprint };
}
