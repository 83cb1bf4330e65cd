import { describe, expect, it } from '@jest/globals';
import { compareDigest, decodeResultDigest, encodeResultDigest, type ResultDigest } from './agreement.ts';
import { MAX_RESULT_DIGEST_BYTES } from './constants.ts';
import { makePeerIds } from './testing.ts';

const [A, B] = await makePeerIds(2);
const digest: ResultDigest = { v: 1, roundId: 'e3g0', peerId: A!, sha256: 'ab'.repeat(32) };
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

describe('round result digest', () => {
  it('round-trips, and compares a member\'s digest with the stored one', () => {
    const d = decodeResultDigest(encodeResultDigest(digest), 'e3g0');
    expect(d).toEqual({ ok: true, digest });
    expect(compareDigest('ab'.repeat(32), digest)).toEqual({ state: 'canonical', writer: A });
    expect(compareDigest('cd'.repeat(32), digest)).toEqual({ state: 'diverged', writer: A });
  });

  it.each([
    ['another version', { ...digest, v: 2 }, /field v/],
    ['an unknown field', { ...digest, extra: 1 }, /unknown field "extra"/],
    ['a round id that is not a key token', { ...digest, roundId: 'e3.g0' }, /field roundId/],
    ['a bad peer id', { ...digest, peerId: 'nope' }, /field peerId/],
    ['an upper-case digest', { ...digest, sha256: 'AB'.repeat(32) }, /field sha256/],
    ['a short digest', { ...digest, sha256: 'ab' }, /field sha256/],
  ])('refuses %s, naming the field', (_what, value, error) => {
    const d = decodeResultDigest(enc(value));
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error).toMatch(error);
  });

  it('refuses a digest stored under another round, oversized input and non-JSON', () => {
    const other = decodeResultDigest(encodeResultDigest(digest), 'e4g0');
    expect(!other.ok && other.error).toMatch(/stored under round e4g0/);
    const big = decodeResultDigest(new Uint8Array(MAX_RESULT_DIGEST_BYTES + 1).fill(0x20));
    expect(!big.ok && big.error).toMatch(/limit/);
    const junk = decodeResultDigest(Uint8Array.from([0xff, 0x00]));
    expect(junk.ok).toBe(false);
  });

  it('will not encode what it would refuse', () => {
    expect(() => encodeResultDigest({ ...digest, peerId: B!, sha256: 'x' })).toThrow(/field sha256/);
  });
});
