import { decode, type User } from '@nats-io/jwt';
import {
  createAuthBundle, mintSwarmUser, parseCreds, reissueReason, serverAuthConf, swarmAccountJwt, swarmAccountKey,
  telemetryReaderPermissions, trainerPermissions, type AuthBundle,
} from './keys.ts';

const a = { namespace: 'team-a', name: 'bert', uid: 'uid-a' };
const b = { namespace: 'team-b', name: 'bert', uid: 'uid-b' };
let bundle: AuthBundle;

beforeAll(async () => {
  bundle = await createAuthBundle();
});

describe('auth bundle', () => {
  it('makes an operator JWT naming the system account and a signing key, and a claims user that may only push account JWTs', () => {
    const op = decode<{ system_account: string; signing_keys: string[] }>(bundle.operatorJwt);
    const sys = decode<unknown>(bundle.sysAccountJwt);
    expect(op.nats.system_account).toBe(sys.sub);
    expect(bundle.signingSeed).toMatch(/^SO/);
    expect(op.nats.signing_keys).toHaveLength(1);
    const claims = parseCreds(bundle.claimsCreds);
    expect(claims.ok).toBe(true);
    if (claims.ok) {
      expect(claims.claims.iss).toBe(sys.sub);
      expect(claims.claims.nats.pub?.allow).toEqual(['$SYS.REQ.CLAIMS.UPDATE']);
    }
  });

  it('renders a server config fragment that trusts the operator and preloads the system account', () => {
    const conf = serverAuthConf(bundle);
    expect(conf).toContain(`operator: ${bundle.operatorJwt}`);
    expect(conf).toMatch(/^system_account: A[A-Z2-7]{55}$/m);
    expect(conf).toContain(bundle.sysAccountJwt);
  });
});

describe('swarm accounts', () => {
  it('derives one account per swarm uid, stable across calls, distinct across swarms and signing keys', async () => {
    const k1 = swarmAccountKey(bundle.signingSeed, 'uid-a').getPublicKey();
    expect(k1).toMatch(/^A[A-Z2-7]{55}$/);
    expect(swarmAccountKey(bundle.signingSeed, 'uid-a').getPublicKey()).toBe(k1);
    expect(swarmAccountKey(bundle.signingSeed, 'uid-b').getPublicKey()).not.toBe(k1);
    const other = await createAuthBundle();
    expect(swarmAccountKey(other.signingSeed, 'uid-a').getPublicKey()).not.toBe(k1);
  });

  it('signs the account with the operator signing key, JetStream on, no imports or exports', async () => {
    const jwt = decode<{ limits: Record<string, number | boolean> }>(await swarmAccountJwt(bundle.signingSeed, a));
    const op = decode<{ signing_keys: string[] }>(bundle.operatorJwt);
    expect(jwt.iss).toBe(op.nats.signing_keys?.[0]);
    expect(jwt.sub).toBe(swarmAccountKey(bundle.signingSeed, 'uid-a').getPublicKey());
    expect(jwt.name).toBe('team-a/bert');
    expect(jwt.nats.limits).toMatchObject({ disk_storage: -1, imports: 0, exports: 0, streams: 16 });
  });
});

describe('permissions', () => {
  it('lets a trainer use its swarm subjects and its own three streams, and nothing of another swarm', () => {
    const p = trainerPermissions(a);
    const pub = p.pub!.allow!;
    expect(pub).toContain('spotswarm.team-a.bert.>');
    expect(pub).toContain('$KV.ks_team-a_bert_members.>');
    expect(pub).toContain('$KV.ks_team-a_bert_rounds.>');
    expect(pub).toContain('$O.ks_team-a_bert_ckpt.>');
    expect(pub).toContain('$JS.API.CONSUMER.*.KV_ks_team-a_bert_members.>');
    expect(pub).toContain('$JS.API.DIRECT.GET.OBJ_ks_team-a_bert_ckpt.>');
    expect(p.pub!.deny).toEqual(['$JS.API.STREAM.DELETE.>']);
    expect(pub.filter((s) => s.includes('team-b'))).toEqual([]);
    for (const s of pub) expect(s === '$JS.API.INFO' || s.includes('team-a_bert') || s.startsWith('spotswarm.team-a.bert.')).toBe(true);
    expect(p.sub!.allow).toEqual(['spotswarm.team-a.bert.>', '_INBOX.>']);
  });

  it('lets the operator reader subscribe to telemetry and publish nothing', () => {
    expect(telemetryReaderPermissions(a)).toEqual({ pub: { allow: [], deny: ['>'] }, sub: { allow: ['spotswarm.team-a.bert.telemetry'], deny: [] } });
  });
});

describe('issued credentials', () => {
  it('mints a trainer user of the swarm account with an expiry, and a reader with its own permissions', async () => {
    const now = 1_800_000_000_000;
    const creds = await mintSwarmUser(bundle.signingSeed, a, 'trainer', { ttlSeconds: 3600, now });
    const p = parseCreds(creds);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.claims.iss).toBe(swarmAccountKey(bundle.signingSeed, 'uid-a').getPublicKey());
    expect(p.claims.exp).toBe(now / 1000 + 3600);
    expect(p.claims.nbf).toBe(now / 1000 - 60);
    expect(p.claims.name).toBe('team-a/bert/trainer');
    expect(p.claims.nats.sub?.allow).toEqual(trainerPermissions(a).sub!.allow);
    const reader = parseCreds(await mintSwarmUser(bundle.signingSeed, a, 'telemetry', { ttlSeconds: 0 }));
    expect(reader.ok && reader.claims.exp).toBeFalsy();
    expect(reader.ok && (reader.claims.nats as Partial<User>).pub?.deny).toEqual(['>']);
  });

  it('says when to issue again: missing, unreadable, another account, other permissions, past half the lifetime', async () => {
    const t0 = 1_800_000_000_000;
    const creds = await mintSwarmUser(bundle.signingSeed, a, 'trainer', { ttlSeconds: 1000, now: t0 });
    expect(reissueReason(creds, bundle.signingSeed, a, t0 + 100_000)).toBeUndefined();
    expect(reissueReason(creds, bundle.signingSeed, a, t0 + 600_000)).toBe('past half its lifetime');
    expect(reissueReason(creds, bundle.signingSeed, a, t0 + 1_000_000)).toBe('expired');
    expect(reissueReason(undefined, bundle.signingSeed, a)).toBe('missing');
    expect(reissueReason('s3cret-token', bundle.signingSeed, a)).toMatch(/^unreadable/);
    expect(reissueReason(creds, bundle.signingSeed, { ...a, uid: 'uid-new' }, t0)).toBe('issued by another account');
    expect(reissueReason(creds, (await createAuthBundle()).signingSeed, a, t0)).toBe('issued by another account');
    const reader = await mintSwarmUser(bundle.signingSeed, a, 'telemetry', { ttlSeconds: 0 });
    expect(reissueReason(reader, bundle.signingSeed, a)).toBe('permissions changed');
    const forB = await mintSwarmUser(bundle.signingSeed, { ...b, uid: 'uid-a' }, 'trainer', { ttlSeconds: 0 });
    expect(reissueReason(forB, bundle.signingSeed, a)).toBe('permissions changed');
  });

  it('rejects a tampered JWT (the signature no longer verifies)', async () => {
    const creds = await mintSwarmUser(bundle.signingSeed, a, 'trainer', { ttlSeconds: 0 });
    const p = parseCreds(creds);
    if (!p.ok) throw new Error(p.error);
    const [h, body, sig] = p.jwt.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    claims.nats.sub.allow = ['>'];
    const forged = creds.replace(p.jwt, `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`);
    const r = parseCreds(forged);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/verif/);
  });
});
