import { errorMessage, type SwarmLogger } from './log.ts';

/**
 * The listeners of one kind of event. A listener that throws is logged and
 * the others still run: one broken subscriber must not starve the rest, nor
 * break the watch that emits.
 */
export class Listeners<Args extends unknown[]> {
  readonly #fns = new Set<(...args: Args) => void>();
  readonly #log: SwarmLogger;
  readonly #failureMessage: string;

  /** `failureMessage` is what a throwing listener is logged as (at error level). */
  constructor(log: SwarmLogger, failureMessage: string) {
    this.#log = log;
    this.#failureMessage = failureMessage;
  }

  /** Adds `fn`; returns the function that removes it again. */
  add(fn: (...args: Args) => void): () => void {
    this.#fns.add(fn);
    return () => this.#fns.delete(fn);
  }

  emit(...args: Args): void {
    for (const fn of this.#fns) {
      try {
        fn(...args);
      } catch (e) {
        this.#log.error(this.#failureMessage, { error: errorMessage(e) });
      }
    }
  }

  clear(): void {
    this.#fns.clear();
  }
}
