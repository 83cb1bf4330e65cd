/**
 * Adaptive deadlines (pure; time is passed in). hivemind #676: fixed
 * timeouts fit nobody, so wait for a quorum of the expected arrivals, then
 * give the rest slack proportional to how long the quorum took:
 *
 *   soft = start + (t_quorum − start)·(1 + slackRatio) + slackMs
 *
 * At the soft deadline, a pending arrival is dropped unless it delivered
 * bytes within the last `stallMs` (a slow but live sender keeps its place).
 * At the hard deadline every pending arrival is dropped.
 */

export interface DeadlinePolicy {
  /** Fraction of the expected arrivals (rounded up, at least 1) that makes the quorum. */
  quorum: number;
  slackRatio: number;
  slackMs: number;
  stallMs: number;
}

export const DEFAULT_DEADLINE_POLICY: Readonly<DeadlinePolicy> = Object.freeze({ quorum: 0.5, slackRatio: 1, slackMs: 1000, stallMs: 2000 });

export interface Overdue<K> {
  key: K;
  why: 'soft' | 'hard';
}

interface Entry {
  lastProgress: number;
}

export class ArrivalTracker<K> {
  readonly start: number;
  readonly hardAt: number;
  readonly #policy: DeadlinePolicy;
  readonly #pending = new Map<K, Entry>();
  readonly #completed = new Set<K>();
  #quorumAt: number | undefined;

  constructor(keys: Iterable<K>, start: number, hardAt: number, policy: DeadlinePolicy) {
    this.start = start;
    this.hardAt = hardAt;
    this.#policy = policy;
    for (const k of keys) this.#pending.set(k, { lastProgress: -Infinity });
  }

  /** Keys still awaited. */
  get pending(): K[] {
    return [...this.#pending.keys()];
  }

  get done(): boolean {
    return this.#pending.size === 0;
  }

  has(key: K): boolean {
    return this.#pending.has(key);
  }

  /** Time the quorum was reached, if it was. */
  get quorumAt(): number | undefined {
    return this.#quorumAt;
  }

  /** Start awaiting another key. */
  add(key: K): void {
    if (!this.#completed.has(key) && !this.#pending.has(key)) this.#pending.set(key, { lastProgress: -Infinity });
  }

  /** Bytes arrived from `key`. */
  progress(key: K, now: number): void {
    const e = this.#pending.get(key);
    if (e) e.lastProgress = now;
  }

  /** `key` delivered everything. */
  complete(key: K, now: number): void {
    if (!this.#pending.delete(key)) return;
    this.#completed.add(key);
    this.#checkQuorum(now);
  }

  /** `key` is no longer awaited (failed, left, dropped). */
  remove(key: K, now: number): void {
    if (this.#pending.delete(key)) this.#checkQuorum(now);
  }

  #checkQuorum(now: number): void {
    if (this.#quorumAt !== undefined) return;
    const expected = this.#completed.size + this.#pending.size;
    const target = Math.max(1, Math.ceil(this.#policy.quorum * expected));
    if (this.#completed.size >= target) this.#quorumAt = now;
  }

  /** The soft deadline, once the quorum is in. */
  softDeadline(): number | undefined {
    if (this.#quorumAt === undefined) return undefined;
    const p = this.#policy;
    return Math.min(this.hardAt, this.start + (this.#quorumAt - this.start) * (1 + p.slackRatio) + p.slackMs);
  }

  /** Pending keys to drop at `now` (the caller removes them). */
  overdue(now: number): Overdue<K>[] {
    if (now >= this.hardAt) return this.pending.map((key) => ({ key, why: 'hard' as const }));
    const soft = this.softDeadline();
    if (soft === undefined || now < soft) return [];
    const out: Overdue<K>[] = [];
    for (const [key, e] of this.#pending) if (now - e.lastProgress >= this.#policy.stallMs) out.push({ key, why: 'soft' });
    return out;
  }
}
