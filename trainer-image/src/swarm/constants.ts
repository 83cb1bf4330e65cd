/**
 * Limits and defaults of the swarm layer. Each value says where it comes from.
 */

/** Version of the membership record and round assignment wire formats (JSON, field `v`). */
export const RECORD_VERSION = 1;
export const ASSIGNMENT_VERSION = 1;

/**
 * A membership record is a few hundred bytes (peer id, a handful of
 * multiaddrs, numbers). 4 KiB leaves room and keeps a hostile writer from
 * filling watchers' memory.
 */
export const MAX_RECORD_BYTES = 4 * 1024;
/** A pod announces one or two addresses; 16 is generous. */
export const MAX_MULTIADDRS = 16;
/** Longest multiaddr string accepted (an ip6 + tcp + p2p address is ~100 chars). */
export const MAX_MULTIADDR_CHARS = 256;
/** Pod names are DNS labels (63), cluster names likewise; 253 covers a DNS subdomain. */
export const MAX_NAME_CHARS = 253;

/**
 * A round assignment lists every member of every group with its addresses:
 * ~300 bytes per member, so 1 MiB (NATS' default max_payload) fits ~3000 peers.
 */
export const MAX_ASSIGNMENT_BYTES = 1024 * 1024;
/** Most members in one assignment (bounded by MAX_ASSIGNMENT_BYTES anyway). */
export const MAX_ASSIGNMENT_MEMBERS = 4096;

/**
 * Membership entries expire this long after their last refresh. Long enough
 * to ride out a NATS restart of a few seconds, short enough that a dead peer
 * leaves the swarm's view quickly. @default 10 s
 */
export const DEFAULT_MEMBERSHIP_TTL_MS = 10_000;
/** Peers refresh their entry this often: four refreshes per TTL tolerate three lost ones. */
export const DEFAULT_REFRESH_FRACTION = 4;
/**
 * Delete markers left when an entry expires live this long, so that watchers
 * hear about the expiry (needs nats-server ≥ 2.11). Must be ≥ 1 s.
 */
export const MEMBERSHIP_MARKER_TTL_MS = 5_000;

/** Round assignments expire after an hour: far longer than any round, short enough to bound the bucket. */
export const ROUND_TTL = '1h';
/** Marker TTL of the rounds bucket (enables per-key TTL on create). */
export const ROUNDS_MARKER_TTL_MS = 60_000;
/** KV key of a round's assignment. */
export const roundKey = (epoch: number): string => `round.${epoch}`;
/** KV key holding the highest epoch for which an assignment was written (no TTL). */
export const EPOCH_KEY = 'epoch';

/** Version of a round's result digest (JSON, field `v`; swarm/agreement.ts). */
export const RESULT_DIGEST_VERSION = 1;
/** A result digest is ~200 bytes (round id, peer id, sha256 hex). */
export const MAX_RESULT_DIGEST_BYTES = 1024;

/**
 * Membership writes that may await their acknowledgement at once. More than
 * one, so that a trainer busy computing (no acks read meanwhile) still sends
 * each sample update at once; bounded, so that an outage coalesces writes.
 */
export const MAX_UNACKED_WRITES = 4;
