/**
 * Wire codec of the state protocol (version 1). Strict: exact lengths, zero
 * reserved bytes, range-checked fields; unknown types and versions throw
 * `BadStateFrameError` with a short reason for the metric. Golden byte
 * fixtures in codec.test.ts pin it.
 *
 * Frame = header (8 bytes) + body:
 *   header: version u8 (=1) | type u8 | reserved u16 (=0) | body length u32
 * All integers little-endian; u64 fields must be ≤ 2^53 − 1.
 *
 * One request per stream: the requester writes one frame and closes its
 * side; the donor answers with one frame and closes.
 *   GET_META  (1): empty body
 *   META      (2): epoch u64 | workloadEpoch u64 | totalBytes u64 | chunkBytes u32 |
 *                  chunks u32 | mode u8 (1 gradient, 2 diloco) | reserved u8 u16 (=0) |
 *                  sha256 of the blob (32) | model fingerprint (32)           = 100 bytes
 *   GET_CHUNK (3): blob sha256 (32) | index u32                              = 36 bytes
 *   CHUNK     (4): index u32 | sha256 of data (32) | data (1..MAX_CHUNK_BYTES)
 *   ERROR     (5): code u8 | reserved u8 (=0) | message length u16 | message (UTF-8, ≤ 256)
 */
import {
  DIGEST_BYTES, FRAME_VERSION, HEADER_BYTES, MAX_CHUNK_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_STATE_BYTES, MIN_CHUNK_BYTES,
} from './constants.ts';
import { BadStateFrameError } from './errors.ts';

export const StateFrameTypes = { getMeta: 1, meta: 2, getChunk: 3, chunk: 4, error: 5 } as const;
export const StateModes = { gradient: 1, diloco: 2 } as const;
export type StateMode = keyof typeof StateModes;
export const StateErrorReplies = {
  /** the donor has no state to offer yet (it is syncing itself) */
  unavailable: 1,
  /** the requested snapshot is no longer kept */
  gone: 2,
  /** the donor serves its maximum number of streams */
  busy: 3,
  /** the request was malformed */
  badRequest: 4,
  /** the chunk index is out of range */
  outOfRange: 5,
} as const;
export type StateErrorReply = keyof typeof StateErrorReplies;

export interface MetaFrame {
  type: 'meta';
  /** The state's epoch: global steps in it. */
  epoch: number;
  /** The epoch the donor is working on (≥ epoch; > when it is stale). */
  workloadEpoch: number;
  totalBytes: number;
  chunkBytes: number;
  chunks: number;
  mode: StateMode;
  /** sha256 of the whole blob (hex). */
  sha256: string;
  /** sha256 of the model/tokenizer/mode description (hex): states of other models are useless. */
  fingerprint: string;
}
export interface GetMetaFrame {
  type: 'getMeta';
}
export interface GetChunkFrame {
  type: 'getChunk';
  sha256: string;
  index: number;
}
export interface ChunkFrame {
  type: 'chunk';
  index: number;
  /** sha256 of `data` (hex). */
  sha256: string;
  data: Uint8Array;
}
export interface ErrorFrame {
  type: 'error';
  code: StateErrorReply;
  message: string;
}
export type StateFrame = GetMetaFrame | MetaFrame | GetChunkFrame | ChunkFrame | ErrorFrame;

const META_BODY = 8 + 8 + 8 + 4 + 4 + 1 + 1 + 2 + DIGEST_BYTES + DIGEST_BYTES;
const GET_CHUNK_BODY = DIGEST_BYTES + 4;
const CHUNK_FIXED = 4 + DIGEST_BYTES;

function bad(reason: string, message: string): never {
  throw new BadStateFrameError(reason, message);
}

function hexToBytes(hex: string, field: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError(`${field}: not a sha256 hex digest: ${JSON.stringify(hex)}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function bytesToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function frame(type: number, bodyLength: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(HEADER_BYTES + bodyLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, type);
  view.setUint32(4, bodyLength, true);
  return { out, view };
}

function setU64(view: DataView, at: number, v: number, field: string): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${field}: ${v} is not an integer in [0, 2^53)`);
  view.setBigUint64(at, BigInt(v), true);
}

function getU64(view: DataView, at: number, field: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) bad('range', `${field}: ${v} exceeds 2^53 - 1`);
  return Number(v);
}

export function encodeFrame(f: StateFrame): Uint8Array {
  switch (f.type) {
    case 'getMeta':
      return frame(StateFrameTypes.getMeta, 0).out;
    case 'meta': {
      checkMeta(f, (reason, msg) => {
        throw new RangeError(`${reason}: ${msg}`);
      });
      const { out, view } = frame(StateFrameTypes.meta, META_BODY);
      let o = HEADER_BYTES;
      setU64(view, o, f.epoch, 'epoch');
      setU64(view, o + 8, f.workloadEpoch, 'workloadEpoch');
      setU64(view, o + 16, f.totalBytes, 'totalBytes');
      view.setUint32(o + 24, f.chunkBytes, true);
      view.setUint32(o + 28, f.chunks, true);
      view.setUint8(o + 32, StateModes[f.mode]);
      o += 36;
      out.set(hexToBytes(f.sha256, 'sha256'), o);
      out.set(hexToBytes(f.fingerprint, 'fingerprint'), o + DIGEST_BYTES);
      return out;
    }
    case 'getChunk': {
      if (!Number.isInteger(f.index) || f.index < 0 || f.index > 0xffffffff) throw new RangeError(`index: ${f.index}`);
      const { out, view } = frame(StateFrameTypes.getChunk, GET_CHUNK_BODY);
      out.set(hexToBytes(f.sha256, 'sha256'), HEADER_BYTES);
      view.setUint32(HEADER_BYTES + DIGEST_BYTES, f.index, true);
      return out;
    }
    case 'chunk': {
      if (f.data.byteLength < 1 || f.data.byteLength > MAX_CHUNK_BYTES) throw new RangeError(`chunk of ${f.data.byteLength} bytes`);
      if (!Number.isInteger(f.index) || f.index < 0 || f.index > 0xffffffff) throw new RangeError(`index: ${f.index}`);
      const { out, view } = frame(StateFrameTypes.chunk, CHUNK_FIXED + f.data.byteLength);
      view.setUint32(HEADER_BYTES, f.index, true);
      out.set(hexToBytes(f.sha256, 'sha256'), HEADER_BYTES + 4);
      out.set(f.data, HEADER_BYTES + CHUNK_FIXED);
      return out;
    }
    case 'error': {
      const msg = new TextEncoder().encode(f.message).subarray(0, MAX_ERROR_MESSAGE_BYTES);
      const { out, view } = frame(StateFrameTypes.error, 4 + msg.byteLength);
      view.setUint8(HEADER_BYTES, StateErrorReplies[f.code]);
      view.setUint16(HEADER_BYTES + 2, msg.byteLength, true);
      out.set(msg, HEADER_BYTES + 4);
      return out;
    }
  }
}

function checkMeta(f: MetaFrame, fail: (reason: string, msg: string) => never): void {
  if (f.workloadEpoch < f.epoch) fail('range', `workloadEpoch ${f.workloadEpoch} < epoch ${f.epoch}`);
  if (!(f.totalBytes >= 1 && f.totalBytes <= MAX_STATE_BYTES)) fail('range', `totalBytes ${f.totalBytes} not in [1, ${MAX_STATE_BYTES}]`);
  if (!(Number.isInteger(f.chunkBytes) && f.chunkBytes >= MIN_CHUNK_BYTES && f.chunkBytes <= MAX_CHUNK_BYTES)) {
    fail('range', `chunkBytes ${f.chunkBytes} not in [${MIN_CHUNK_BYTES}, ${MAX_CHUNK_BYTES}]`);
  }
  if (f.chunks !== Math.ceil(f.totalBytes / f.chunkBytes)) fail('range', `chunks ${f.chunks} ≠ ceil(${f.totalBytes} / ${f.chunkBytes})`);
}

/** Parses the 8-byte header; returns the type byte and body length. Throws on a bad version, reserved bits or a body over `maxBody`. */
export function decodeHeader(h: Uint8Array, maxBody: number): { type: number; length: number } {
  if (h.byteLength < HEADER_BYTES) bad('short', `header of ${h.byteLength} bytes`);
  const view = new DataView(h.buffer, h.byteOffset, HEADER_BYTES);
  const version = view.getUint8(0);
  if (version !== FRAME_VERSION) bad('version', `unsupported frame version ${version}`);
  const type = view.getUint8(1);
  if (view.getUint16(2, true) !== 0) bad('reserved', 'reserved header bits set');
  const length = view.getUint32(4, true);
  if (length > maxBody) bad('too_large', `frame body of ${length} bytes exceeds ${maxBody}`);
  return { type, length };
}

/** Decodes exactly one whole frame (header + body, nothing after it). */
export function decodeFrame(bytes: Uint8Array, maxBody: number): StateFrame {
  const { type, length } = decodeHeader(bytes, maxBody);
  if (bytes.byteLength !== HEADER_BYTES + length) bad('length', `frame of ${bytes.byteLength} bytes, header says ${HEADER_BYTES + length}`);
  const body = bytes.subarray(HEADER_BYTES);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (type) {
    case StateFrameTypes.getMeta:
      if (length !== 0) bad('length', `GET_META body of ${length} bytes`);
      return { type: 'getMeta' };
    case StateFrameTypes.meta: {
      if (length !== META_BODY) bad('length', `META body of ${length} bytes, expected ${META_BODY}`);
      const modeByte = view.getUint8(32);
      const mode = (Object.keys(StateModes) as StateMode[]).find((k) => StateModes[k] === modeByte);
      if (mode === undefined) bad('mode', `unknown mode ${modeByte}`);
      if (view.getUint8(33) !== 0 || view.getUint16(34, true) !== 0) bad('reserved', 'META reserved bytes set');
      const f: MetaFrame = {
        type: 'meta',
        epoch: getU64(view, 0, 'epoch'),
        workloadEpoch: getU64(view, 8, 'workloadEpoch'),
        totalBytes: getU64(view, 16, 'totalBytes'),
        chunkBytes: view.getUint32(24, true),
        chunks: view.getUint32(28, true),
        mode,
        sha256: bytesToHex(body.subarray(36, 36 + DIGEST_BYTES)),
        fingerprint: bytesToHex(body.subarray(36 + DIGEST_BYTES, 36 + 2 * DIGEST_BYTES)),
      };
      checkMeta(f, bad);
      return f;
    }
    case StateFrameTypes.getChunk:
      if (length !== GET_CHUNK_BODY) bad('length', `GET_CHUNK body of ${length} bytes, expected ${GET_CHUNK_BODY}`);
      return { type: 'getChunk', sha256: bytesToHex(body.subarray(0, DIGEST_BYTES)), index: view.getUint32(DIGEST_BYTES, true) };
    case StateFrameTypes.chunk: {
      if (length <= CHUNK_FIXED || length > CHUNK_FIXED + MAX_CHUNK_BYTES) bad('length', `CHUNK body of ${length} bytes`);
      return {
        type: 'chunk',
        index: view.getUint32(0, true),
        sha256: bytesToHex(body.subarray(4, 4 + DIGEST_BYTES)),
        data: body.subarray(CHUNK_FIXED),
      };
    }
    case StateFrameTypes.error: {
      if (length < 4) bad('length', `ERROR body of ${length} bytes`);
      const codeByte = view.getUint8(0);
      const code = (Object.keys(StateErrorReplies) as StateErrorReply[]).find((k) => StateErrorReplies[k] === codeByte);
      if (code === undefined) bad('error_code', `unknown error code ${codeByte}`);
      if (view.getUint8(1) !== 0) bad('reserved', 'ERROR reserved byte set');
      const n = view.getUint16(2, true);
      if (n > MAX_ERROR_MESSAGE_BYTES || length !== 4 + n) bad('length', `ERROR message of ${n} bytes in a body of ${length}`);
      let message: string;
      try {
        message = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(4));
      } catch {
        bad('utf8', 'ERROR message is not UTF-8');
      }
      return { type: 'error', code, message };
    }
    default:
      bad('type', `unknown frame type ${type}`);
  }
}
