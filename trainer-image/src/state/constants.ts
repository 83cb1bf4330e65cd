/**
 * Protocol id, versions and limits of state transfer and checkpoints. Each
 * limit says where its value comes from.
 */
import { Protocols } from '../../../api/protocols.ts';

/** libp2p protocol id (api/protocols.ts): `/spotswarm/state/2.0.0`. */
export const PROTOCOL = Protocols.state;

/** Version byte of every frame; peers reject other versions. Bump on any incompatible change. */
export const FRAME_VERSION = 1;
/** Frame header: version u8, type u8, reserved u16 (0), body length u32 LE (as the all-reduce protocol). */
export const HEADER_BYTES = 8;
/** Bytes of a sha256 digest. */
export const DIGEST_BYTES = 32;

/** Default chunk: 1 MiB, the write size at which one libp2p stream (tcp, noise, yamux) ran at 570-630 MiB/s between two processes on 127.0.0.1. */
export const DEFAULT_CHUNK_BYTES = 1 << 20;
/** Largest chunk a donor may announce or send: 4 MiB, 4× the default (as the all-reduce CHUNK limit). */
export const MAX_CHUNK_BYTES = 4 << 20;
/** Smallest chunk a donor may announce (so a hostile META cannot ask for millions of tiny requests). */
export const MIN_CHUNK_BYTES = 4 << 10;
/**
 * Largest state blob: 4 GiB − 1, what one Uint8Array holds in Node 22. The
 * xlarge preset with LAMB moments (~3 × 1 GiB) fits; bigger models need a
 * sharded blob (open problem).
 */
export const MAX_STATE_BYTES = 2 ** 32 - 1;
/** Largest request body (GET_CHUNK: digest + index). */
export const MAX_REQUEST_BODY = DIGEST_BYTES + 4;
/** Largest response body: a CHUNK of the largest size with its index and digest. */
export const MAX_RESPONSE_BODY = 4 + DIGEST_BYTES + MAX_CHUNK_BYTES;
/** Longest ERROR message in bytes. */
export const MAX_ERROR_MESSAGE_BYTES = 256;

/** Streams a donor serves at once; more are answered `busy` (a donor's averaging comes first). */
export const DEFAULT_MAX_SERVING = 8;
/** Snapshots a donor keeps, so a download that spans one epoch change still completes. */
export const SNAPSHOTS_KEPT = 2;

/** Per-request timeout (dial + one chunk at a few MiB/s). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;
/** Attempts per chunk (over all donors) before the download attempt fails. */
export const DEFAULT_CHUNK_ATTEMPTS = 3;
/** Whole-download attempts (META again, maybe other donors) before giving up. */
export const DEFAULT_DOWNLOAD_ATTEMPTS = 3;
/** Requests in flight per donor. */
export const DEFAULT_PER_DONOR_PARALLEL = 2;
/** Progress is logged at most this often. */
export const PROGRESS_LOG_EVERY_MS = 1_000;

/** Version of the state blob (snapshot and checkpoint) layout. */
export const BLOB_VERSION = 1;
/** Magic of a state blob: "KSST". */
export const BLOB_MAGIC = 0x5453534b;
/** Fixed blob header (see snapshot.ts). */
export const BLOB_HEADER_BYTES = 64;

/** Checkpoint object names: ckpt-e0000000042 (zero-padded so names sort by epoch). */
export const checkpointName = (epoch: number): string => `ckpt-e${String(epoch).padStart(10, '0')}`;
export const CHECKPOINT_NAME_RE = /^ckpt-e(\d{10})$/;
/** KV key (rounds bucket) whose compare-and-set create elects the writer of epoch e's checkpoint. */
export const checkpointKey = (epoch: number): string => `ckpt.${epoch}`;
/** Election keys expire like round keys. */
export const CHECKPOINT_KEY_TTL = '1h';
/** Checkpoints kept in the bucket; older ones are deleted by the writer. */
export const DEFAULT_CHECKPOINTS_KEPT = 3;
