/**
 * Fuzz properties of the state protocol (see testkit/fuzz/registry.ts): its
 * frames (META, GET_CHUNK, CHUNK, ERROR) and the state blob that downloads
 * and checkpoints carry.
 */
import fc from 'fast-check';
import { mutated } from '../../../testkit/fuzz/index.ts';
import { decodeState, encodeState } from './blob.ts';
import { decodeFrame, encodeFrame, type StateFrame } from './codec.ts';
import { MAX_RESPONSE_BODY } from './constants.ts';
import { BadStateBlobError, BadStateFrameError } from './errors.ts';

const digest = 'ab'.repeat(32);
const frames: StateFrame[] = [
  { type: 'getMeta' },
  { type: 'meta', epoch: 7, workloadEpoch: 8, totalBytes: 10_000, chunkBytes: 4096, chunks: 3, mode: 'gradient', sha256: digest, fingerprint: digest },
  { type: 'getChunk', sha256: digest, index: 2 },
  { type: 'chunk', index: 1, sha256: digest, data: Uint8Array.of(1, 2, 3, 4) },
  { type: 'error', code: 'busy', message: 'serving 8 streams' },
];
const encoded = frames.map(encodeFrame);
const blob = encodeState({ epoch: 5, mode: 'gradient', params: Float32Array.of(1, 2), moments: { step: 5, m: Float32Array.of(0, 1), v: Float32Array.of(1, 1) } }, digest);

/** Only BadStateFrameError may escape; an accepted frame re-encodes to what decodes to itself. */
function checkFrame(b: Uint8Array): void {
  let f: StateFrame;
  try {
    f = decodeFrame(b, MAX_RESPONSE_BODY);
  } catch (e) {
    if (e instanceof BadStateFrameError) return;
    throw e;
  }
  if (JSON.stringify(decodeFrame(encodeFrame(f), MAX_RESPONSE_BODY)) !== JSON.stringify(f)) throw new Error(`accepted ${f.type} frame does not round-trip`);
}

/** Only BadStateBlobError may escape; an accepted blob holds no more floats than its bytes. */
function checkBlob(b: Uint8Array): void {
  try {
    const { state } = decodeState(b);
    const floats = state.params.length + (state.moments ? state.moments.m.length + state.moments.v.length : 0) + (state.outerMomentum?.length ?? 0);
    if (floats * 4 > b.byteLength) throw new Error('decoded state larger than its blob');
  } catch (e) {
    if (!(e instanceof BadStateBlobError)) throw e;
  }
}

export const properties = [
  { name: 'state decodeFrame: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => checkFrame(b)) },
  { name: 'state decodeFrame: mutated valid frames', property: fc.property(fc.constantFrom(...encoded).chain((e) => mutated(e)), (b) => checkFrame(b)) },
  { name: 'state decodeState: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 4096 }), (b) => checkBlob(b)) },
  { name: 'state decodeState: mutated valid blob', property: fc.property(mutated(blob), (b) => checkBlob(b)) },
];
