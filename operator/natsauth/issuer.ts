/**
 * Issues each swarm its NATS identity (the I/O half of keys.ts):
 *  - loads the auth bundle from a Secret in the operator's namespace, or
 *    creates it on first start (the chart's NATS mounts its auth.conf);
 *  - pushes the swarm's account JWT to the swarm's NATS server through the
 *    system account's claims user (once per connection; again after a
 *    reconnect, in case the server lost its resolver directory);
 *  - keeps the trainers' .creds in the Secret `<swarm>-nats` (owned by the
 *    swarm, so it goes with it), issuing again when keys.reissueReason says;
 *  - mints the operator's telemetry reader for the swarm's account.
 */
import { createHash } from 'node:crypto';
import { ApiException, type CoreV1Api, type V1Secret } from '@kubernetes/client-node';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { Counter, type Registry } from 'prom-client';
import { API_VERSION, KIND, LABEL_SWARM, LABEL_SWARM_UID, type SecretKeyRef, type TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import { createAuthBundle, CREDS_KEY, mintSwarmUser, reissueReason, serverAuthConf, swarmAccountJwt, swarmAccountKey, type AuthBundle } from './keys.ts';

/** Keys of the auth Secret. auth.conf is for nats-server; the rest is for the operator. */
export const AuthSecretKeys = {
  serverConf: 'auth.conf',
  operatorJwt: 'operator.jwt',
  signingSeed: 'signing.seed',
  sysAccountJwt: 'sys.jwt',
  claimsCreds: 'claims.creds',
} as const;

/** How long a claims push may take before it counts as failed. */
const PUSH_TIMEOUT_MS = 5_000;

export class NatsAuthError extends Error {
  override name = 'NatsAuthError';
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));
const notFound = (err: unknown): boolean => err instanceof ApiException && err.code === 404;

/** Reads the auth bundle from `namespace/name`, creating the Secret with a new bundle when it does not exist. */
export async function loadOrCreateAuthBundle(core: CoreV1Api, namespace: string, name: string, log: Logger): Promise<AuthBundle> {
  const read = async (): Promise<AuthBundle | undefined> => {
    let s: V1Secret;
    try {
      s = await core.readNamespacedSecret({ namespace, name });
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
    const get = (k: string): string => {
      const v = unb64(s.data?.[k]);
      if (!v) throw new NatsAuthError(`NATS auth Secret ${namespace}/${name} has no key ${k}; delete it to have a new one made`);
      return v;
    };
    return { operatorJwt: get(AuthSecretKeys.operatorJwt), signingSeed: get(AuthSecretKeys.signingSeed), sysAccountJwt: get(AuthSecretKeys.sysAccountJwt), claimsCreds: get(AuthSecretKeys.claimsCreds) };
  };
  const existing = await read();
  if (existing) return existing;
  const b = await createAuthBundle();
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'spotswarm', 'app.kubernetes.io/component': 'nats-auth' } },
        type: 'Opaque',
        data: {
          [AuthSecretKeys.serverConf]: b64(serverAuthConf(b)),
          [AuthSecretKeys.operatorJwt]: b64(b.operatorJwt),
          [AuthSecretKeys.signingSeed]: b64(b.signingSeed),
          [AuthSecretKeys.sysAccountJwt]: b64(b.sysAccountJwt),
          [AuthSecretKeys.claimsCreds]: b64(b.claimsCreds),
        },
      },
    });
    log.info('created the NATS auth Secret (operator, system account, signing key)', { secret: `${namespace}/${name}` });
    return b;
  } catch (err) {
    // Another replica made it first: use theirs.
    if (err instanceof ApiException && err.code === 409) {
      const theirs = await read();
      if (theirs) return theirs;
    }
    throw err;
  }
}

/** Name of the Secret holding a swarm's trainer .creds: `<swarm>-nats`, shortened with a hash if too long. */
export function credentialsSecretName(swarmName: string): string {
  const n = `${swarmName}-nats`;
  if (n.length <= 253) return n;
  return `${swarmName.slice(0, 236)}-${createHash('sha256').update(swarmName).digest('hex').slice(0, 10)}-nats`;
}

export interface IssuerDeps {
  bundle: AuthBundle;
  log: Logger;
  registry: Registry;
  /** Lifetime of trainer credentials in seconds; 0 = no expiry. */
  ttlSeconds: number;
  now?: () => number;
}

interface ClaimsConn {
  nc: Promise<NatsConnection>;
  /** Accounts (by public key) pushed over this connection since it last (re)connected. */
  pushed: Set<string>;
}

/** The Secret to point pods at, and why the account could not reach NATS (retried next time), if so. */
export type IssueResult = { ok: true; ref: SecretKeyRef; pushProblem?: string } | { ok: false; problem: string };

export class NatsCredentialIssuer {
  readonly #d: IssuerDeps;
  readonly #claims = new Map<string, ClaimsConn>();
  readonly #issued: Counter<'reason'>;
  readonly #pushes: Counter<'result'>;

  constructor(d: IssuerDeps) {
    this.#d = d;
    this.#issued = new Counter({ name: 'spotswarm_nats_credentials_issued_total', help: 'Swarm NATS credentials the operator issued, by why (missing, expired, ...).', labelNames: ['reason'], registers: [d.registry] });
    this.#pushes = new Counter({ name: 'spotswarm_nats_account_pushes_total', help: 'Swarm account JWTs pushed to NATS servers, by result.', labelNames: ['result'], registers: [d.registry] });
  }

  /**
   * Makes sure the swarm's account is known to its NATS server and its
   * trainer .creds Secret is current. A NATS server that cannot take the
   * account (unreachable, not in operator mode) is logged and retried on the
   * next reconcile; it does not stop the Secret.
   */
  async ensure(swarm: TrainingSwarm, core: CoreV1Api): Promise<IssueResult> {
    const ref = refOf(swarm);
    if (!ref.uid) return { ok: false, problem: 'the swarm has no uid yet' };
    const url = swarm.spec.nats.url;
    if (url === undefined) return { ok: false, problem: 'spec.nats.url is not set and the operator has no default NATS URL' };
    const pushProblem = await this.pushAccount(url, { ...ref, uid: ref.uid }).then(() => undefined, (err: unknown) => {
      const error = err instanceof Error ? err.message : String(err);
      this.#pushes.inc({ result: 'error' });
      this.#d.log.warn('cannot push the swarm account to NATS; will retry', { swarm: `${ref.namespace}/${ref.name}`, nats: swarm.spec.nats.url, error });
      return error;
    });
    const r = await this.#ensureSecret(swarm, core, true);
    return r.ok && pushProblem !== undefined ? { ...r, pushProblem } : r;
  }

  /**
   * The swarm's .creds Secret in a remote cluster of its placements (pods
   * there mount it like at home). Not owned by the swarm: an owner that lives
   * in another cluster would have that cluster's garbage collector delete it
   * at once. removeCopy() deletes it when the swarm goes.
   */
  async ensureCopy(swarm: TrainingSwarm, core: CoreV1Api): Promise<IssueResult> {
    if (!swarm.metadata.uid) return { ok: false, problem: 'the swarm has no uid yet' };
    return this.#ensureSecret(swarm, core, false);
  }

  /** Deletes the copy ensureCopy() made (only a Secret labelled with this swarm's uid). */
  async removeCopy(swarm: TrainingSwarm, core: CoreV1Api): Promise<void> {
    const ref = refOf(swarm);
    const name = credentialsSecretName(ref.name);
    try {
      const s = await core.readNamespacedSecret({ namespace: ref.namespace, name });
      if (s.metadata?.labels?.[LABEL_SWARM_UID] !== ref.uid) return;
      await core.deleteNamespacedSecret({ namespace: ref.namespace, name });
      this.#d.log.info('removed the swarm\'s NATS credentials copy', { swarm: `${ref.namespace}/${ref.name}`, secret: `${ref.namespace}/${name}` });
    } catch (err) {
      if (!notFound(err)) throw err;
    }
  }

  /** .creds of the operator's reader in the swarm's account (telemetry only). */
  readerCredentials(swarm: TrainingSwarm): Promise<string> {
    const ref = refOf(swarm);
    return mintSwarmUser(this.#d.bundle.signingSeed, { ...ref, uid: ref.uid ?? '' }, 'telemetry', { ttlSeconds: 0, now: this.#now() });
  }

  /** The swarm's account public key (telemetry connections are shared per account). */
  accountOf(swarm: TrainingSwarm): string {
    return swarmAccountKey(this.#d.bundle.signingSeed, swarm.metadata.uid ?? '').getPublicKey();
  }

  async stop(): Promise<void> {
    for (const c of this.#claims.values()) await c.nc.then((nc) => nc.close(), () => undefined);
    this.#claims.clear();
  }

  #now(): number {
    return (this.#d.now ?? Date.now)();
  }

  #conn(url: string): ClaimsConn {
    let c = this.#claims.get(url);
    if (!c) {
      const conn: ClaimsConn = {
        pushed: new Set(),
        nc: connect({
          servers: url,
          name: 'spotswarm-operator-claims',
          authenticator: credsAuthenticator(new TextEncoder().encode(this.#d.bundle.claimsCreds)),
          maxReconnectAttempts: -1,
          reconnectTimeWait: 1_000,
          timeout: PUSH_TIMEOUT_MS,
        }),
      };
      conn.nc.then((nc) => void (async () => {
        for await (const s of nc.status()) if (s.type === 'reconnect') conn.pushed.clear();
      })().catch(() => undefined), () => this.#claims.delete(url));
      this.#claims.set(url, conn);
      c = conn;
    }
    return c;
  }

  /** Pushes the swarm's account JWT to the NATS server at `url` (once per connection). Rejects with NatsAuthError. */
  async pushAccount(url: string, s: { namespace: string; name: string; uid: string }): Promise<void> {
    const account = swarmAccountKey(this.#d.bundle.signingSeed, s.uid).getPublicKey();
    const c = this.#conn(url);
    if (c.pushed.has(account)) return;
    const nc = await c.nc;
    const jwt = await swarmAccountJwt(this.#d.bundle.signingSeed, s);
    let reply: { data?: { code?: number; message?: string }; error?: { code?: number; description?: string } };
    try {
      reply = (await nc.request('$SYS.REQ.CLAIMS.UPDATE', jwt, { timeout: PUSH_TIMEOUT_MS })).json();
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new NatsAuthError(/no responders/i.test(msg) ? `NATS at ${url} takes no account JWTs (is it in operator mode with a full resolver?)` : `pushing the account to NATS at ${url}: ${msg}`);
    }
    if (reply.data?.code !== 200) throw new NatsAuthError(`NATS at ${url} refused the account: ${reply.error?.description ?? reply.data?.message ?? JSON.stringify(reply).slice(0, 200)}`);
    c.pushed.add(account);
    this.#pushes.inc({ result: 'ok' });
    this.#d.log.info('pushed the swarm account to NATS', { swarm: `${s.namespace}/${s.name}`, account, nats: url });
  }

  async #ensureSecret(swarm: TrainingSwarm, core: CoreV1Api, owned: boolean): Promise<IssueResult> {
    const ref = refOf(swarm);
    const name = credentialsSecretName(ref.name);
    const where = `Secret ${ref.namespace}/${name}`;
    let existing: V1Secret | undefined;
    try {
      existing = await core.readNamespacedSecret({ namespace: ref.namespace, name });
    } catch (err) {
      if (!notFound(err)) throw err;
    }
    if (existing && existing.metadata?.labels?.[LABEL_SWARM_UID] !== ref.uid) {
      const owner = existing.metadata?.ownerReferences?.find((o) => o.kind === KIND);
      // A Secret of a deleted swarm of the same name (the garbage collector is on its way) is ours to replace.
      if (!owner && existing.metadata?.labels?.['app.kubernetes.io/managed-by'] !== 'spotswarm') {
        return { ok: false, problem: `${where} exists and is not managed by spotswarm; rename it or set spec.nats.credentialsSecretRef` };
      }
    }
    const reason = reissueReason(unb64(existing?.data?.[CREDS_KEY]), this.#d.bundle.signingSeed, { ...ref, uid: ref.uid! }, this.#now());
    if (reason === undefined) return { ok: true, ref: { name, key: CREDS_KEY } };
    const creds = await mintSwarmUser(this.#d.bundle.signingSeed, { ...ref, uid: ref.uid! }, 'trainer', { ttlSeconds: this.#d.ttlSeconds, now: this.#now() });
    const body: V1Secret = {
      metadata: {
        name,
        namespace: ref.namespace,
        labels: { [LABEL_SWARM]: ref.name, [LABEL_SWARM_UID]: ref.uid!, 'app.kubernetes.io/managed-by': 'spotswarm', 'app.kubernetes.io/component': 'nats-credentials' },
        ...(owned ? { ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: ref.name, uid: ref.uid!, controller: true, blockOwnerDeletion: true }] } : {}),
        ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
      },
      type: 'Opaque',
      data: { [CREDS_KEY]: b64(creds) },
    };
    if (existing) await core.replaceNamespacedSecret({ namespace: ref.namespace, name, body });
    else await core.createNamespacedSecret({ namespace: ref.namespace, body });
    this.#issued.inc({ reason: reason.split(':')[0]! });
    this.#d.log.info('issued NATS credentials', { swarm: `${ref.namespace}/${ref.name}`, secret: where, reason, account: this.accountOf(swarm) });
    return { ok: true, ref: { name, key: CREDS_KEY } };
  }
}

function refOf(swarm: TrainingSwarm): { namespace: string; name: string; uid: string | undefined } {
  return { namespace: swarm.metadata.namespace ?? 'default', name: swarm.metadata.name ?? '', uid: swarm.metadata.uid };
}
