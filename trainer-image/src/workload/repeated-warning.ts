/** A warning about a failure that repeats (NATS away, say): logged when it changes, else at most every `everyMs`. */
import { errorMessage, type Logger } from '../common/index.ts';

export class RepeatedWarning {
  readonly #log: Logger;
  readonly #message: string;
  readonly #everyMs: number;
  readonly #now: () => number;
  #last = '';
  #lastAt = 0;

  constructor(log: Logger, message: string, everyMs: number, now: () => number) {
    this.#log = log;
    this.#message = message;
    this.#everyMs = everyMs;
    this.#now = now;
  }

  note(e: unknown, meta: Record<string, unknown>): void {
    const msg = errorMessage(e);
    const now = this.#now();
    if (msg === this.#last && now - this.#lastAt <= this.#everyMs) return;
    this.#last = msg;
    this.#lastAt = now;
    this.#log.warn(this.#message, { ...meta, error: msg });
  }
}
