/**
 * What the controller did that its pod caches do not show yet, modelled on
 * Kubernetes' ControllerExpectations. The caches lag the API, so without this
 * a reconcile right after a create would create again, and one right after a
 * delete would count the deleted pod as a peer.
 *
 * Expectations are kept per swarm (uid) and placement:
 * - expectCreations: a reconcile decided to create this many pods and is
 *   creating them; the API has not answered yet.
 * - creationsAnswered: it has; the pods it created are expected by name (and
 *   with the resourceVersion a delete may assume) until the cache shows them.
 * - expectDeletion: a pod was deleted; the cache may still show it running.
 * - observe: the cache's view of the placement. Creations it shows and
 *   deletions it no longer shows are observed; what is still expected is
 *   returned.
 *
 * Unlike a ReplicaSet, a reconcile does not wait for SatisfiedExpectations:
 * what is still expected is folded into the pods it decides on (pending
 * creates, deletes as ending; reconcile/pods.ts withExpectedPods).
 *
 * Every expectation lapses after ttlMs (Kubernetes' ExpectationsTimeout): an
 * event the cache never delivers cannot make the controller count a pod
 * forever.
 */
import type { ExpectedPods } from '../reconcile/pods.ts';

export interface ExpectationsOptions {
  /** The controller's clock, in Unix ms. */
  now: () => number;
  ttlMs: number;
}

/** A pod this controller created that the cache has not shown yet. */
export interface ExpectedCreate {
  name: string;
  /** Unix ms of the create. */
  at: number;
  /** The resourceVersion the create returned: what a delete of this pod may assume. */
  resourceVersion?: string;
}

/** What is still expected in one placement, after observe(). */
export interface Outstanding extends ExpectedPods {
  created: readonly ExpectedCreate[];
}

interface Scope {
  /** Creates decided and not answered yet. */
  reserved?: { count: number; at: number };
  created: Map<string, ExpectedCreate>;
  /** Pod name to Unix ms of the delete. */
  deleted: Map<string, number>;
}

export class PodExpectations {
  readonly #o: ExpectationsOptions;
  /** By placement, then swarm uid: pods other swarms create in a placement count there (inFlightElsewhere). */
  readonly #scopes = new Map<string, Map<string, Scope>>();

  constructor(o: ExpectationsOptions) {
    this.#o = o;
  }

  /** A reconcile is about to create `count` pods: until answered, they count as in flight for other swarms. */
  expectCreations(uid: string, placement: string, count: number): void {
    this.#scope(uid, placement).reserved = { count, at: this.#o.now() };
  }

  /** The creates were answered: the decided count gives way to the pods created, by name. */
  creationsAnswered(uid: string, placement: string, pods: readonly { name: string; resourceVersion?: string }[]): void {
    const s = this.#scope(uid, placement);
    delete s.reserved;
    const at = this.#o.now();
    for (const p of pods) s.created.set(p.name, { name: p.name, at, ...(p.resourceVersion !== undefined ? { resourceVersion: p.resourceVersion } : {}) });
    this.#dropIfEmpty(uid, placement, s);
  }

  /** The reconcile ends without (all of) the creates it decided: nothing is in flight for it any more. */
  creationsAbandoned(uid: string, placement: string): void {
    const s = this.#scopes.get(placement)?.get(uid);
    if (!s) return;
    delete s.reserved;
    this.#dropIfEmpty(uid, placement, s);
  }

  expectDeletion(uid: string, placement: string, name: string): void {
    this.#scope(uid, placement).deleted.set(name, this.#o.now());
  }

  /**
   * The cache shows the pods named in `seen`: creations among them are
   * observed, and so are deletions of pods it no longer shows. Returns what
   * is still expected.
   */
  observe(uid: string, placement: string, seen: ReadonlySet<string>): Outstanding {
    const s = this.#scopes.get(placement)?.get(uid);
    if (!s) return { created: [], deleting: new Set() };
    this.#expire(s);
    for (const n of s.created.keys()) if (seen.has(n)) s.created.delete(n);
    for (const n of s.deleted.keys()) if (!seen.has(n)) s.deleted.delete(n);
    const out = { created: [...s.created.values()], deleting: new Set(s.deleted.keys()) };
    this.#dropIfEmpty(uid, placement, s);
    return out;
  }

  /**
   * Pods other swarms are creating in this placement, decided or answered but
   * not in the cache yet: they will take free GPUs first.
   */
  inFlightElsewhere(uid: string, placement: string): number {
    const scopes = this.#scopes.get(placement);
    if (!scopes) return 0;
    let n = 0;
    for (const [other, s] of scopes) {
      this.#expire(s);
      this.#dropIfEmpty(other, placement, s);
      if (other !== uid) n += s.created.size + (s.reserved?.count ?? 0);
    }
    return n;
  }

  #scope(uid: string, placement: string): Scope {
    let byUid = this.#scopes.get(placement);
    if (!byUid) {
      byUid = new Map();
      this.#scopes.set(placement, byUid);
    }
    let s = byUid.get(uid);
    if (!s) {
      s = { created: new Map(), deleted: new Map() };
      byUid.set(uid, s);
    }
    return s;
  }

  #expire(s: Scope): void {
    const since = this.#o.now() - this.#o.ttlMs;
    if (s.reserved && s.reserved.at < since) delete s.reserved;
    for (const [n, c] of s.created) if (c.at < since) s.created.delete(n);
    for (const [n, at] of s.deleted) if (at < since) s.deleted.delete(n);
  }

  /** Satisfied expectations leave nothing behind, so a swarm that is gone costs no memory. */
  #dropIfEmpty(uid: string, placement: string, s: Scope): void {
    if (s.reserved || s.created.size || s.deleted.size) return;
    const byUid = this.#scopes.get(placement);
    byUid?.delete(uid);
    if (byUid?.size === 0) this.#scopes.delete(placement);
  }
}
