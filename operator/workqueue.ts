/**
 * A keyed work queue in the client-go style: a key is processed by one worker
 * at a time, duplicate adds collapse, failed keys retry with exponential
 * backoff, and keys can come back after a delay.
 */
export interface WorkQueueOptions {
  concurrency: number;
  baseRetryMs: number;
  maxRetryMs: number;
  /** A handler that has not settled by then counts as failed, so one hung API call cannot wedge its key forever. */
  handlerTimeoutMs?: number;
  onError: (key: string, err: unknown, attempt: number) => void;
}

/** Thrown when a handler has not settled within handlerTimeoutMs. */
export class HandlerTimeoutError extends Error {
  override name = 'HandlerTimeoutError';
  constructor(key: string, ms: number) {
    super(`handling ${key} took longer than ${ms} ms`);
  }
}

export type Handler = (key: string) => Promise<{ requeueAfterMs?: number } | void>;

export class WorkQueue {
  readonly #opts: WorkQueueOptions;
  readonly #handler: Handler;
  readonly #queued = new Set<string>();
  readonly #order: string[] = [];
  readonly #active = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #running = 0;
  #stopped = false;

  constructor(handler: Handler, opts: WorkQueueOptions) {
    this.#handler = handler;
    this.#opts = opts;
  }

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#active.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#order.push(key);
    this.#pump();
  }

  addAfter(key: string, ms: number): void {
    if (this.#stopped) return;
    const existing = this.#timers.get(key);
    if (existing) clearTimeout(existing);
    const t = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.#timers.set(key, t);
  }

  get length(): number {
    return this.#order.length;
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#opts.concurrency && this.#order.length > 0) {
      const key = this.#order.shift()!;
      this.#queued.delete(key);
      this.#active.add(key);
      this.#running++;
      void this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const limit = this.#opts.handlerTimeoutMs;
      const r = limit === undefined
        ? await this.#handler(key)
        : await Promise.race([
          this.#handler(key),
          new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new HandlerTimeoutError(key, limit)), limit); }),
        ]);
      this.#failures.delete(key);
      if (r && r.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
    } catch (err) {
      const attempt = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, attempt);
      this.#opts.onError(key, err, attempt);
      this.addAfter(key, Math.min(this.#opts.baseRetryMs * 2 ** (attempt - 1), this.#opts.maxRetryMs));
    } finally {
      clearTimeout(timer);
      this.#active.delete(key);
      this.#running--;
      if (this.#dirty.delete(key)) this.add(key);
      this.#pump();
    }
  }
}
