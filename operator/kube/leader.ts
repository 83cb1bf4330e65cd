/**
 * Lease-based leader election (coordination.k8s.io/v1), as client-go does it:
 * acquire the Lease when it is free or expired, renew it every retry period,
 * and report loss when a renewal cannot succeed before the lease would
 * expire. Updates use the Lease's resourceVersion, so two candidates can never
 * both win the same term.
 */
import { ApiException, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { describeError } from './errors.ts';

export interface LeaderElectionOptions {
  api: CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  now?: () => Date;
}

export interface LeaderElector {
  /** Resolves when this candidate becomes leader. */
  acquired: Promise<void>;
  /** Resolves if leadership is lost after being acquired. */
  lost: Promise<void>;
  isLeader(): boolean;
  /** Stops renewing and releases the lease if held. */
  stop(): Promise<void>;
}

/** Lease times are metav1.MicroTime: the API server wants six fractional digits. */
function microTime(t: Date): Date {
  return t.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') as unknown as Date;
}

function code(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export function startLeaderElection(o: LeaderElectionOptions): LeaderElector {
  const now = o.now ?? (() => new Date());
  let leader = false;
  let stopped = false;
  let lastRenew = 0;
  let timer: NodeJS.Timeout | undefined;
  let resolveAcquired!: () => void;
  let resolveLost!: () => void;
  const acquired = new Promise<void>((r) => { resolveAcquired = r; });
  const lost = new Promise<void>((r) => { resolveLost = r; });

  const spec = (t: Date, transitions: number, acquireTime?: Date): V1Lease['spec'] => ({
    holderIdentity: o.identity,
    leaseDurationSeconds: Math.ceil(o.leaseDurationMs / 1000),
    acquireTime: microTime(acquireTime ?? t),
    renewTime: microTime(t),
    leaseTransitions: transitions,
  });

  async function tryAcquireOrRenew(): Promise<boolean> {
    const t = now();
    let lease: V1Lease;
    try {
      lease = await o.api.readNamespacedLease({ name: o.name, namespace: o.namespace });
    } catch (err) {
      if (code(err) !== 404) throw err;
      await o.api.createNamespacedLease({ namespace: o.namespace, body: { metadata: { name: o.name, namespace: o.namespace }, spec: spec(t, 0) } });
      return true;
    }
    const s = lease.spec ?? {};
    const holder = s.holderIdentity;
    const renewed = s.renewTime ? new Date(s.renewTime).getTime() : 0;
    const expired = renewed + (s.leaseDurationSeconds ?? 0) * 1000 < t.getTime();
    if (holder && holder !== o.identity && !expired) return false;
    const mine = holder === o.identity;
    lease.spec = spec(t, (s.leaseTransitions ?? 0) + (mine ? 0 : 1), mine && s.acquireTime ? new Date(s.acquireTime) : t);
    await o.api.replaceNamespacedLease({ name: o.name, namespace: o.namespace, body: lease });
    return true;
  }

  async function tick(): Promise<void> {
    if (stopped) return;
    try {
      const ok = await tryAcquireOrRenew();
      if (ok) {
        lastRenew = Date.now();
        if (!leader) {
          leader = true;
          o.log.info('became leader', { lease: `${o.namespace}/${o.name}`, identity: o.identity });
          resolveAcquired();
        }
      }
    } catch (err) {
      if (code(err) !== 409) o.log.warn('lease update failed', { error: describeError(err) });
    }
    if (leader && Date.now() - lastRenew > o.renewDeadlineMs) {
      leader = false;
      o.log.error('lost leadership: could not renew the lease in time', { lease: `${o.namespace}/${o.name}` });
      resolveLost();
      return;
    }
    if (!stopped) timer = setTimeout(() => void tick(), o.retryPeriodMs);
  }

  void tick();

  return {
    acquired,
    lost,
    isLeader: () => leader,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      if (!leader) return;
      leader = false;
      try {
        const lease = await o.api.readNamespacedLease({ name: o.name, namespace: o.namespace });
        if (lease.spec?.holderIdentity === o.identity) {
          lease.spec = { ...lease.spec, holderIdentity: undefined, renewTime: undefined, acquireTime: undefined } as V1Lease['spec'];
          // An expired-looking lease lets the next candidate take over at once.
          lease.spec!.leaseDurationSeconds = 1;
          await o.api.replaceNamespacedLease({ name: o.name, namespace: o.namespace, body: lease });
        }
      } catch (err) {
        o.log.warn('could not release the lease', { error: describeError(err) });
      }
    },
  };
}
