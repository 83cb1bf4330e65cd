import type { QueuedIterator } from '@nats-io/transport-node';

/** How long a dead watch waits before it is opened again. */
const RESTART_DELAY_MS = 1000;

export interface RestartingWatchHooks<T> {
  /** Opens one watch (the first, and each replacement of a dead one). */
  open(): Promise<QueuedIterator<T>>;
  onEntry(entry: T): void;
  /** The watch's iterator threw; a new watch follows unless closed. */
  onFailure(error: unknown): void;
  /** The watch's iterator ended, by failure or not (runs before a restart is scheduled). */
  onEnd?(): void;
  /** Runs once each watch is open and being read; `start` (and each restart) waits for it. */
  afterOpen?(): Promise<void>;
  /** Opening a replacement watch (or its `afterOpen`) failed; there is no further retry. */
  onRestartFailure(error: unknown): void;
}

/**
 * A KV watch that is opened again 1 s after its iterator dies, until closed.
 * Watches survive reconnects; the iterator only dies when the watch itself
 * is lost, and then the view it feeds would silently go stale.
 */
export class RestartingWatch<T> {
  readonly #hooks: RestartingWatchHooks<T>;
  #current: QueuedIterator<T> | undefined;
  #closed = false;

  private constructor(hooks: RestartingWatchHooks<T>) {
    this.#hooks = hooks;
  }

  /** Opens the first watch; rejects if that fails. */
  static async start<T>(hooks: RestartingWatchHooks<T>): Promise<RestartingWatch<T>> {
    const w = new RestartingWatch(hooks);
    await w.#open();
    return w;
  }

  async #open(): Promise<void> {
    const it = await this.#hooks.open();
    this.#current = it;
    void this.#read(it);
    await this.#hooks.afterOpen?.();
  }

  async #read(it: QueuedIterator<T>): Promise<void> {
    try {
      for await (const e of it) this.#hooks.onEntry(e);
    } catch (e) {
      this.#hooks.onFailure(e);
    } finally {
      this.#hooks.onEnd?.();
      if (!this.#closed) setTimeout(() => void this.#open().catch((err: unknown) => this.#hooks.onRestartFailure(err)), RESTART_DELAY_MS).unref();
    }
  }

  /** Stops the current watch; a dead one is not opened again. */
  close(): void {
    this.#closed = true;
    this.#current?.stop();
  }
}
