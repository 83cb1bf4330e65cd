/**
 * Round agreement: after an all-reduce, every member of a group must apply
 * the same averaged vector, or their parameters drift apart.
 *
 * The all-reduce alone cannot promise that. A reducer that dies while it
 * sends its shard's result leaves some members with its complete result and
 * others with a backup reducer's (which lacks the dead peer's part). Both are
 * "complete" averages of that shard; they just differ.
 *
 * So the members settle it in the swarm's rounds bucket, the way matchmaking
 * settles the groups: the first member to finish its round creates the key
 * `result.<roundId>` holding the sha256 of the vector it got. JetStream
 * accepts exactly one create per key, so every member reads the same value.
 * A member whose vector has that digest applies it; one whose vector differs
 * skips the step and downloads the state of the next epoch from a peer that
 * applied (optim/policy.ts, outcome `diverged`). No member waits for another:
 * the cost is one KV create (or a create and a get) per round.
 *
 * The value is validated like every other message in the bucket: versioned,
 * size-limited, strict fields.
 */
import { RESULT_DIGEST_VERSION, MAX_RESULT_DIGEST_BYTES } from './constants.ts';
import { InvalidRecordError } from './errors.ts';
import { checkKnownFields, checkPeerId, parseJsonObject } from './validate.ts';

/** What the first member to finish a round wrote: the digest every member's vector must match. */
export interface ResultDigest {
  v: typeof RESULT_DIGEST_VERSION;
  /** The round (its id in the RoundSpec). */
  roundId: string;
  /** The member that wrote it (a peer that holds the canonical result). */
  peerId: string;
  /** sha256 of the averaged vector's bytes, lowercase hex. */
  sha256: string;
}

/** How a member's result compares with the round's canonical one. */
export type Agreement =
  | { state: 'canonical'; writer: string }
  | { state: 'diverged'; writer: string }
  /** The digest could not be written or read (NATS failed, or the stored value is invalid). */
  | { state: 'unconfirmed'; error: string };

const FIELDS: ReadonlySet<string> = new Set(['v', 'roundId', 'peerId', 'sha256']);
const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Round ids are KV key tokens (`e12g0`, `e12g0s`). */
const ROUND_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const resultKey = (roundId: string): string => `result.${roundId}`;

export function validateResultDigest(r: Record<string, unknown>): string | undefined {
  if (r['v'] !== RESULT_DIGEST_VERSION) return `field v: unsupported version ${JSON.stringify(r['v'])}`;
  return (
    checkKnownFields('result digest', r, FIELDS) ??
    (typeof r['roundId'] === 'string' && ROUND_ID.test(r['roundId']) ? undefined : 'field roundId: must match [A-Za-z0-9_-]{1,64}') ??
    checkPeerId('field peerId', r['peerId']) ??
    (typeof r['sha256'] === 'string' && SHA256_HEX.test(r['sha256']) ? undefined : 'field sha256: must be 64 lowercase hex digits')
  );
}

/** Decodes the value stored for `roundId`; never throws. */
export function decodeResultDigest(bytes: Uint8Array, roundId?: string): { ok: true; digest: ResultDigest } | { ok: false; error: string } {
  const parsed = parseJsonObject(bytes, MAX_RESULT_DIGEST_BYTES, 'result digest');
  if (!parsed.ok) return parsed;
  const err = validateResultDigest(parsed.value);
  if (err !== undefined) return { ok: false, error: err };
  const r = parsed.value as unknown as ResultDigest;
  if (roundId !== undefined && r.roundId !== roundId) return { ok: false, error: `field roundId: ${r.roundId} stored under round ${roundId}` };
  return { ok: true, digest: { v: RESULT_DIGEST_VERSION, roundId: r.roundId, peerId: r.peerId, sha256: r.sha256 } };
}

/** Encodes a digest; throws InvalidRecordError if it would not decode (a caller bug). */
export function encodeResultDigest(d: ResultDigest): Uint8Array {
  const err = validateResultDigest(d as unknown as Record<string, unknown>);
  if (err !== undefined) throw new InvalidRecordError(err);
  return new TextEncoder().encode(JSON.stringify(d));
}

/** How `mine` compares with the stored canonical digest. */
export function compareDigest(mine: string, canonical: ResultDigest): Agreement {
  return { state: mine === canonical.sha256 ? 'canonical' : 'diverged', writer: canonical.peerId };
}
