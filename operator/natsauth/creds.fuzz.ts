/** Fuzz properties of the .creds reader the operator applies to Secrets (see testkit/fuzz/registry.ts). */
import fc from 'fast-check';
import { createAuthBundle, MAX_CREDS_BYTES, mintSwarmUser, parseCreds, reissueReason } from './keys.ts';

const swarm = { namespace: 'team-a', name: 'bert', uid: 'uid-a' };
const bundle = await createAuthBundle();
const valid = await mintSwarmUser(bundle.signingSeed, swarm, 'trainer', { ttlSeconds: 3600 });
const enc = new TextEncoder();
const validClaims = JSON.stringify((parseCreds(valid) as { ok: true; claims: { nats: unknown } }).claims.nats);

function check(bytes: Uint8Array): void {
  const r = parseCreds(bytes);
  if (r.ok && r.jwt.length > bytes.byteLength) throw new Error('parsed JWT longer than its input');
  const text = new TextDecoder().decode(bytes);
  const reason = reissueReason(text, bundle.signingSeed, swarm);
  if (reason === undefined && text !== valid) {
    // Only an unchanged or re-signed valid credential may be accepted: the signature must verify.
    const p = parseCreds(text);
    if (!p.ok) throw new Error('accepted credentials that do not parse');
  }
}

const mutatedCreds = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 32, max: 126 }), fc.boolean()), { minLength: 1, maxLength: 6 }).map((ops) => {
  const b = Array.from(enc.encode(valid));
  for (const [at, v, insert] of ops) {
    const i = at % b.length;
    if (insert) b.splice(i, 0, v);
    else b[i] = v;
  }
  return Uint8Array.from(b);
});

export const properties = [
  { name: 'parseCreds/reissueReason: arbitrary bytes', property: fc.property(fc.uint8Array({ maxLength: 8192 }), (b) => check(b)) },
  { name: 'parseCreds/reissueReason: arbitrary text between the .creds markers', property: fc.property(fc.string({ maxLength: 2000 }), (s) => check(enc.encode(`-----BEGIN NATS USER JWT-----\n${s}\n------END NATS USER JWT------\n`))) },
  {
    name: 'parseCreds/reissueReason: mutated valid credentials are never trusted unless they still verify',
    property: fc.property(mutatedCreds, (b) => {
      const p = parseCreds(b);
      // A mutation inside the JWT must break the signature or the parse, never yield other claims.
      if (p.ok && JSON.stringify(p.claims.nats) !== validClaims) throw new Error('a mutated JWT verified with other claims');
    }),
  },
  { name: 'parseCreds: oversized input refused', property: fc.property(fc.integer({ min: 1, max: 1024 }), (n) => { const r = parseCreds(new Uint8Array(MAX_CREDS_BYTES + n)); if (r.ok || !/limit/.test(r.error)) throw new Error('oversized credentials not refused'); }) },
];
