/**
 * Wire codec of the all-reduce protocol (version 2: signed chunks). Strict: every field is
 * range-checked, reserved bits and padding must be zero, lengths must match
 * exactly, and unknown frame types, stream kinds and codecs throw
 * `UnknownFrameTypeError`. Golden byte fixtures in codec.test.ts pin it.
 *
 * Frame = header (8 bytes) + body:
 *   header: version u8 (=1) | type u8 | reserved u16 (=0) | body length u32
 * All integers little-endian.
 *
 * Stream layouts (one stream per transfer, opened by the data's sender):
 *   PART   (sender → reducer):  OPEN(part) CHUNK* END  ←  ACK (reducer, when done with it)
 *   RESULT (reducer → member):  OPEN(result) CHUNK* END  ←  ACK (member)
 *   LEAVE  (leaver → member):   OPEN(leave)
 *
 * OPEN body (16 + r bytes):
 *   kind u8 (1 part, 2 result, 3 leave) | flags u8 (bit0 backup) | groupSize u16 |
 *   sender u16 | shard u16 | shardLength u32 | handoff u16 (0xffff none) |
 *   roundIdLength u16 (= r) | roundId (r bytes UTF-8)
 * CHUNK body:
 *   offset u32 | count u32 | codec u8 (0 none, 1 fp16, 2 int8, 3 empty) |
 *   bitsetLength u8 | blockSize u16 (int8 only, else 0) | bitset |
 *   zero padding to a multiple of 4 | signature (64 bytes, signing.ts) |
 *   payload (exactly the codec's size)
 * END body: total u32 (elements sent; must equal the shard length)
 * ACK body: reason u8 | reserved 3 bytes (=0) | accepted u32 (elements taken)
 */
import { CodecIds, encodedSize, type Codec } from './compression.ts';
import {
  CHUNK_FIXED_BYTES, FRAME_VERSION, HEADER_BYTES, MAX_CHUNK_ELEMENTS, MAX_FRAME_BODY, MAX_GROUP_SIZE,
  MAX_INT8_BLOCK, MAX_ROUND_ID_BYTES, MIN_INT8_BLOCK, OPEN_FIXED_BYTES, SIGNATURE_BYTES,
} from './constants.ts';
import { BadFrameError, FrameTooLargeError, UnknownFrameTypeError, UnsupportedVersionError } from './errors.ts';

export const FrameTypes = { open: 1, chunk: 2, end: 3, ack: 4 } as const;
export const StreamKinds = { part: 1, result: 2, leave: 3 } as const;
export type StreamKind = keyof typeof StreamKinds;
export const AckReasons = {
  /** everything accepted */
  complete: 0,
  /** the reducer stopped waiting for this sender (adaptive or hard deadline) */
  deadline: 1,
  /** a frame was invalid or held NaN/Inf; the prefix before it was kept */
  rejected: 2,
  /** the round is already over here */
  roundOver: 3,
  /** the receiver is leaving: treat it as gone (a reducer hands its shard off) */
  leaving: 4,
  /** the receiver never started this round within its wait */
  unknownRound: 5,
  /** a second stream for the same transfer */
  duplicate: 6,
  /** the member already holds this shard's result from another reducer */
  notNeeded: 7,
} as const;
export type AckReason = keyof typeof AckReasons;
const NO_HANDOFF = 0xffff;

export type ChunkCodec = Codec | 'empty';

export interface OpenFrame {
  type: 'open';
  kind: StreamKind;
  /** Part for / result from a backup reduction (the planned reducer failed). */
  backup: boolean;
  groupSize: number;
  /** Member index of the stream's writer. */
  sender: number;
  shard: number;
  shardLength: number;
  /** LEAVE only: member index taking over the leaver's shard, or null (the leaver finishes it). */
  handoff: number | null;
  roundId: string;
}
export interface ChunkFrame {
  type: 'chunk';
  offset: number;
  count: number;
  codec: ChunkCodec;
  /** int8 only (else 0). */
  blockSize: number;
  /** RESULT only: contributor bitset (bit i of byte i>>3 = member i); empty for PART. */
  contributors: Uint8Array;
  /** The writer's Ed25519 signature of the chunk in its stream's context (signing.ts). */
  signature: Uint8Array;
  payload: Uint8Array;
}
export interface EndFrame { type: 'end'; total: number }
export interface AckFrame { type: 'ack'; reason: AckReason; accepted: number }
export type Frame = OpenFrame | ChunkFrame | EndFrame | AckFrame;

const kindById = new Map<number, StreamKind>(Object.entries(StreamKinds).map(([k, v]) => [v, k as StreamKind]));
const codecById = new Map<number, ChunkCodec>(Object.entries(CodecIds).map(([k, v]) => [v, k as ChunkCodec]));
const ackById = new Map<number, AckReason>(Object.entries(AckReasons).map(([k, v]) => [v, k as AckReason]));
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

function frame(type: number, bodyLength: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(HEADER_BYTES + bodyLength);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, type);
  view.setUint16(2, 0, true);
  view.setUint32(4, bodyLength, true);
  return { bytes, view };
}

function u16(name: string, v: number, max = 0xffff): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${name} out of range: ${v}`);
  return v;
}
function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`${name} out of range: ${v}`);
  return v;
}

export function encodeOpen(o: Omit<OpenFrame, 'type'>): Uint8Array {
  const id = utf8.encode(o.roundId);
  if (id.byteLength < 1 || id.byteLength > MAX_ROUND_ID_BYTES) throw new RangeError(`roundId must be 1..${MAX_ROUND_ID_BYTES} bytes`);
  const { bytes, view } = frame(FrameTypes.open, OPEN_FIXED_BYTES + id.byteLength);
  const b = HEADER_BYTES;
  view.setUint8(b, StreamKinds[o.kind]);
  view.setUint8(b + 1, o.backup ? 1 : 0);
  view.setUint16(b + 2, u16('groupSize', o.groupSize, MAX_GROUP_SIZE), true);
  view.setUint16(b + 4, u16('sender', o.sender, o.groupSize - 1), true);
  view.setUint16(b + 6, u16('shard', o.shard, o.groupSize - 1), true);
  view.setUint32(b + 8, u32('shardLength', o.shardLength), true);
  view.setUint16(b + 12, o.handoff === null ? NO_HANDOFF : u16('handoff', o.handoff, o.groupSize - 1), true);
  view.setUint16(b + 14, id.byteLength, true);
  bytes.set(id, b + OPEN_FIXED_BYTES);
  return bytes;
}

/** Bytes of the CHUNK body before the signature: fixed fields, bitset, padding to 4. */
function chunkPaddedLength(bitsetLength: number): number {
  return (CHUNK_FIXED_BYTES + bitsetLength + 3) & ~3;
}

/**
 * Header plus the CHUNK body up to (not including) the payload, for a
 * payload of `payloadLength` bytes sent separately (zero-copy).
 */
export function encodeChunkHead(c: Omit<ChunkFrame, 'type' | 'payload'>, payloadLength: number): Uint8Array {
  if (c.count < 1 || c.count > MAX_CHUNK_ELEMENTS) throw new RangeError(`chunk count out of range: ${c.count}`);
  if (c.signature.byteLength !== SIGNATURE_BYTES) throw new RangeError(`signature must be ${SIGNATURE_BYTES} bytes, got ${c.signature.byteLength}`);
  const padded = chunkPaddedLength(c.contributors.byteLength);
  const prefix = padded + SIGNATURE_BYTES;
  const { bytes, view } = frame(FrameTypes.chunk, prefix + payloadLength);
  const b = HEADER_BYTES;
  view.setUint32(b, u32('offset', c.offset), true);
  view.setUint32(b + 4, c.count, true);
  view.setUint8(b + 8, CodecIds[c.codec]);
  view.setUint8(b + 9, u16('bitsetLength', c.contributors.byteLength, MAX_GROUP_SIZE / 8));
  view.setUint16(b + 10, c.codec === 'int8' ? u16('blockSize', c.blockSize) : 0, true);
  bytes.set(c.contributors, b + CHUNK_FIXED_BYTES);
  bytes.set(c.signature, b + padded);
  return bytes.subarray(0, HEADER_BYTES + prefix);
}

/** Whole CHUNK frame in one buffer (tests, small payloads). */
export function encodeChunk(c: Omit<ChunkFrame, 'type'>): Uint8Array {
  const head = encodeChunkHead(c, c.payload.byteLength);
  const out = new Uint8Array(head.byteLength + c.payload.byteLength);
  out.set(head);
  out.set(c.payload, head.byteLength);
  return out;
}

export function encodeEnd(total: number): Uint8Array {
  const { bytes, view } = frame(FrameTypes.end, 4);
  view.setUint32(HEADER_BYTES, u32('total', total), true);
  return bytes;
}

export function encodeAck(reason: AckReason, accepted: number): Uint8Array {
  const { bytes, view } = frame(FrameTypes.ack, 8);
  view.setUint8(HEADER_BYTES, AckReasons[reason]);
  view.setUint32(HEADER_BYTES + 4, u32('accepted', accepted), true);
  return bytes;
}

/** Validate an 8-byte header; returns [type, bodyLength]. */
export function decodeHeader(h: Uint8Array, maxBody = MAX_FRAME_BODY): [number, number] {
  if (h.byteLength < HEADER_BYTES) throw new BadFrameError('short frame header');
  const view = new DataView(h.buffer, h.byteOffset, HEADER_BYTES);
  const version = view.getUint8(0);
  if (version !== FRAME_VERSION) throw new UnsupportedVersionError(version);
  const type = view.getUint8(1);
  if (type < FrameTypes.open || type > FrameTypes.ack) throw new UnknownFrameTypeError(`unknown frame type ${type}`);
  if (view.getUint16(2, true) !== 0) throw new BadFrameError('reserved header bits set');
  const length = view.getUint32(4, true);
  if (length > maxBody) throw new FrameTooLargeError(length, maxBody);
  return [type, length];
}

function expectLength(what: string, got: number, want: number): void {
  if (got !== want) throw new BadFrameError(`${what} body is ${got} bytes, expected ${want}`);
}

/** Decode one frame body of a known (validated) type. The payload/bitset are views into `body`. */
export function decodeBody(type: number, body: Uint8Array): Frame {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (type) {
    case FrameTypes.open: {
      if (body.byteLength < OPEN_FIXED_BYTES) throw new BadFrameError('OPEN body too short');
      const kind = kindById.get(view.getUint8(0));
      if (!kind) throw new UnknownFrameTypeError(`unknown stream kind ${view.getUint8(0)}`);
      const flags = view.getUint8(1);
      if (flags & ~1) throw new BadFrameError(`unknown OPEN flags 0x${flags.toString(16)}`);
      const groupSize = view.getUint16(2, true);
      if (groupSize < 1 || groupSize > MAX_GROUP_SIZE) throw new BadFrameError(`groupSize ${groupSize} out of range`);
      const sender = view.getUint16(4, true);
      const shard = view.getUint16(6, true);
      if (sender >= groupSize || shard >= groupSize) throw new BadFrameError('sender/shard index outside the group');
      const shardLength = view.getUint32(8, true);
      const h = view.getUint16(12, true);
      if (h !== NO_HANDOFF && (kind !== 'leave' || h >= groupSize)) throw new BadFrameError(`bad handoff ${h}`);
      if (kind === 'leave' && (flags !== 0 || shardLength !== 0)) throw new BadFrameError('LEAVE carries no flags or length');
      const idLength = view.getUint16(14, true);
      if (idLength < 1 || idLength > MAX_ROUND_ID_BYTES) throw new BadFrameError(`roundId length ${idLength} out of range`);
      expectLength('OPEN', body.byteLength, OPEN_FIXED_BYTES + idLength);
      let roundId: string;
      try {
        roundId = utf8Strict.decode(body.subarray(OPEN_FIXED_BYTES));
      } catch {
        throw new BadFrameError('roundId is not valid UTF-8');
      }
      return { type: 'open', kind, backup: (flags & 1) === 1, groupSize, sender, shard, shardLength, handoff: h === NO_HANDOFF ? null : h, roundId };
    }
    case FrameTypes.chunk: {
      if (body.byteLength < CHUNK_FIXED_BYTES) throw new BadFrameError('CHUNK body too short');
      const offset = view.getUint32(0, true);
      const count = view.getUint32(4, true);
      if (count < 1 || count > MAX_CHUNK_ELEMENTS) throw new BadFrameError(`chunk count ${count} out of range`);
      const codec = codecById.get(view.getUint8(8));
      if (!codec) throw new UnknownFrameTypeError(`unknown codec ${view.getUint8(8)}`);
      const bitsetLength = view.getUint8(9);
      if (bitsetLength > MAX_GROUP_SIZE / 8) throw new BadFrameError(`bitset length ${bitsetLength} out of range`);
      const blockSize = view.getUint16(10, true);
      if (codec === 'int8' ? blockSize < MIN_INT8_BLOCK || blockSize > MAX_INT8_BLOCK : blockSize !== 0) {
        throw new BadFrameError(`block size ${blockSize} invalid for codec ${codec}`);
      }
      const padded = chunkPaddedLength(bitsetLength);
      const prefix = padded + SIGNATURE_BYTES;
      if (body.byteLength < prefix) throw new BadFrameError('CHUNK body shorter than its bitset and signature');
      for (let i = CHUNK_FIXED_BYTES + bitsetLength; i < padded; i++) if (body[i] !== 0) throw new BadFrameError('nonzero padding');
      const payloadLength = codec === 'empty' ? 0 : encodedSize(codec, count, blockSize);
      expectLength('CHUNK', body.byteLength, prefix + payloadLength);
      const contributors = body.subarray(CHUNK_FIXED_BYTES, CHUNK_FIXED_BYTES + bitsetLength);
      if (codec === 'empty' && contributors.some((b) => b !== 0)) throw new BadFrameError('empty chunk with contributors');
      return { type: 'chunk', offset, count, codec, blockSize, contributors, signature: body.subarray(padded, prefix), payload: body.subarray(prefix) };
    }
    case FrameTypes.end:
      expectLength('END', body.byteLength, 4);
      return { type: 'end', total: view.getUint32(0, true) };
    case FrameTypes.ack: {
      expectLength('ACK', body.byteLength, 8);
      const reason = ackById.get(view.getUint8(0));
      if (!reason) throw new UnknownFrameTypeError(`unknown ACK reason ${view.getUint8(0)}`);
      if (view.getUint8(1) | view.getUint8(2) | view.getUint8(3)) throw new BadFrameError('reserved ACK bytes set');
      return { type: 'ack', reason, accepted: view.getUint32(4, true) };
    }
    default:
      throw new UnknownFrameTypeError(`unknown frame type ${type}`);
  }
}

/** Decode exactly one whole frame (tests and fixtures). */
export function decodeFrame(bytes: Uint8Array): Frame {
  const [type, length] = decodeHeader(bytes);
  expectLength('frame', bytes.byteLength - HEADER_BYTES, length);
  return decodeBody(type, bytes.subarray(HEADER_BYTES));
}

/**
 * Incremental frame parser over arbitrary byte pieces. Headers are checked as
 * soon as they are complete, so an oversized frame is refused before its body
 * is buffered. A body that lies inside one piece is passed as a view (no copy);
 * otherwise it is assembled in a reused buffer. Frames are only valid during
 * the callback.
 */
export class FrameDecoder {
  readonly #maxBody: number;
  readonly #header = new Uint8Array(HEADER_BYTES);
  #headerFill = 0;
  #type = 0;
  #bodyLength = -1;
  #body: Uint8Array = new Uint8Array(0);
  #bodyFill = 0;

  constructor(maxBody = MAX_FRAME_BODY) {
    this.#maxBody = maxBody;
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#bodyLength < 0;
  }

  /**
   * Feed bytes; calls `onFrame` for each complete frame. If `onFrame` returns
   * false, parsing stops after that frame and `push` returns the number of
   * bytes consumed (feed the rest later); otherwise it returns the piece's
   * length. Throws BadFrameError (and subclasses).
   */
  push(piece: Uint8Array, onFrame: (f: Frame) => boolean | void): number {
    let p = 0;
    while (p < piece.byteLength) {
      if (this.#bodyLength < 0) {
        const take = Math.min(HEADER_BYTES - this.#headerFill, piece.byteLength - p);
        this.#header.set(piece.subarray(p, p + take), this.#headerFill);
        this.#headerFill += take;
        p += take;
        if (this.#headerFill < HEADER_BYTES) return p;
        [this.#type, this.#bodyLength] = decodeHeader(this.#header, this.#maxBody);
        this.#bodyFill = 0;
        if (this.#bodyLength === 0 && this.#emit(new Uint8Array(0), onFrame) === false) return p;
        continue;
      }
      const need = this.#bodyLength - this.#bodyFill;
      if (this.#bodyFill === 0 && piece.byteLength - p >= need) {
        const body = piece.subarray(p, p + need);
        p += need;
        if (this.#emit(body, onFrame) === false) return p;
        continue;
      }
      if (this.#body.byteLength < this.#bodyLength) this.#body = new Uint8Array(Math.max(this.#bodyLength, Math.min(this.#maxBody, 2 * this.#body.byteLength)));
      const take = Math.min(need, piece.byteLength - p);
      this.#body.set(piece.subarray(p, p + take), this.#bodyFill);
      this.#bodyFill += take;
      p += take;
      if (this.#bodyFill === this.#bodyLength && this.#emit(this.#body.subarray(0, this.#bodyLength), onFrame) === false) return p;
    }
    return p;
  }

  #emit(body: Uint8Array, onFrame: (f: Frame) => boolean | void): boolean | void {
    const type = this.#type;
    this.#headerFill = 0;
    this.#bodyLength = -1;
    this.#bodyFill = 0;
    return onFrame(decodeBody(type, body));
  }
}
