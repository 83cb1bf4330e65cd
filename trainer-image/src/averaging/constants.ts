/**
 * Protocol id and limits of the all-reduce wire protocol. Each limit says
 * where its value comes from.
 */
import { Protocols } from '../../../api/protocols.ts';

/** libp2p protocol id (api/protocols.ts): `/spotswarm/allreduce/3.0.0`. */
export const PROTOCOL = Protocols.allReduce;

/** Version byte of every frame. Bump on any incompatible change; peers reject other versions. 2: signed chunks. */
export const FRAME_VERSION = 2;

/** Frame header: version u8, type u8, reserved u16 (0), body length u32 LE. */
export const HEADER_BYTES = 8;

/** Largest group: the contributor bitset is at most 32 bytes; api's maxGroupSize is far below. */
export const MAX_GROUP_SIZE = 256;

/** Round ids are short ASCII/UTF-8 keys (e.g. `swarm/epoch-123/group-2`); 128 bytes is ample. */
export const MAX_ROUND_ID_BYTES = 128;

/** Most elements in one CHUNK frame: 4 MiB of float32, 4x the default chunk. */
export const MAX_CHUNK_ELEMENTS = 1 << 20;

/** int8 block sizes accepted on the wire (u16 field; below 16 the scales cost more than they save). */
export const MIN_INT8_BLOCK = 16;
export const MAX_INT8_BLOCK = 32_768;

/** CHUNK body before the bitset: offset u32, count u32, codec u8, bitset length u8, block size u16. */
export const CHUNK_FIXED_BYTES = 12;

/** Ed25519 signature in every CHUNK (signing.ts). */
export const SIGNATURE_BYTES = 64;

/** OPEN body before the round id (see codec.ts). */
export const OPEN_FIXED_BYTES = 16;

/**
 * Largest frame body: a full uncompressed chunk (4 B/element) plus its fixed
 * fields, the largest bitset and alignment padding. Checked on the header,
 * before any body byte is buffered.
 */
export const MAX_FRAME_BODY = CHUNK_FIXED_BYTES + MAX_GROUP_SIZE / 8 + 4 + SIGNATURE_BYTES + 4 * MAX_CHUNK_ELEMENTS;

/** Default uncompressed bytes per chunk: 1 MiB, the write size at which one libp2p stream (tcp, noise, yamux) ran at 570-630 MiB/s between two processes on 127.0.0.1. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;

/** Default int8 block: 256 elements per f32 scale (1.6% overhead). */
export const DEFAULT_INT8_BLOCK = 256;

/** hivemind's SizeAdaptiveCompression threshold (2**16): smaller tensors are sent uncompressed. */
export const DEFAULT_FP16_MIN_ELEMENTS = 1 << 16;

/**
 * Read buffer allowed on our streams while paused (a parked stream of a round
 * not started yet). yamux grows a stream's window up to 16 MiB
 * (MAX_STREAM_WINDOW), so a paused stream can receive that much; libp2p's
 * default of 4 MiB would reset it.
 */
export const MAX_READ_BUFFER_BYTES = 20 * 1024 * 1024;

/** Write buffer cap: we wait for drain after every frame, so more than a few frames queued is a bug. */
export const MAX_WRITE_BUFFER_BYTES = 32 * 1024 * 1024;

/** Finished round ids remembered, to tell late frames ("round over") from early ones ("not started"). */
export const FINISHED_ROUNDS_REMEMBERED = 64;
