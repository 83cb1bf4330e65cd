/**
 * An informer that survives watch errors. client-node's ListWatch stops for
 * good on a watch error, so this restarts it with backoff, and a watchdog
 * restarts it if it stays down. `synced` resolves after the first full list.
 */
import { makeInformer, type Informer, type KubeConfig, type KubernetesObject, type ListPromise, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { describeError } from './errors.ts';

export interface ResilientInformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** Watch path, e.g. /api/v1/pods. */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  log: Logger;
  /** Called for add, update and delete. */
  onChange: (obj: T, verb: 'add' | 'update' | 'delete') => void;
  /** Called after every (re)connect, so the caller can resync everything. */
  onConnect?: () => void;
  onError?: (err: unknown) => void;
  baseBackoffMs?: number;
  maxBackoffMs?: number;
  watchdogMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly #opts: ResilientInformerOptions<T>;
  readonly #informer: Informer<T> & ObjectCache<T>;
  #failures = 0;
  #down = false;
  #downSince = 0;
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #watchdog: NodeJS.Timeout;
  #resolveSynced!: () => void;
  readonly synced: Promise<void>;

  constructor(opts: ResilientInformerOptions<T>) {
    this.#opts = opts;
    this.synced = new Promise((r) => { this.#resolveSynced = r; });
    this.#informer = makeInformer(opts.kubeConfig, opts.path, async () => {
      const list = await opts.list();
      // Only a successful list proves the watch is healthy again; reset the backoff then.
      this.#failures = 0;
      // The list has landed in the cache once this returns; mark synced on the next tick.
      setImmediate(() => this.#resolveSynced());
      return list;
    }, opts.labelSelector);
    this.#informer.on('add', (o) => opts.onChange(o, 'add'));
    this.#informer.on('update', (o) => opts.onChange(o, 'update'));
    this.#informer.on('delete', (o) => opts.onChange(o, 'delete'));
    this.#informer.on('connect', () => {
      this.#down = false;
      opts.onConnect?.();
    });
    this.#informer.on('error', (err) => this.#onError(err));
    const watchdogMs = opts.watchdogMs ?? 30_000;
    this.#watchdog = setInterval(() => {
      if (this.#down && !this.#restartTimer && Date.now() - this.#downSince > watchdogMs) {
        opts.log.warn('informer still down; watchdog restarting it', { path: opts.path });
        this.#restart();
      }
    }, watchdogMs);
    this.#watchdog.unref();
  }

  start(): void {
    this.#informer.start().catch((err: unknown) => this.#onError(err));
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.#informer.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer.get(name, namespace);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdog);
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    await this.#informer.stop();
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    if (!this.#down) this.#downSince = Date.now();
    this.#down = true;
    this.#failures++;
    this.#opts.onError?.(err);
    const delay = Math.min((this.#opts.baseBackoffMs ?? 500) * 2 ** (this.#failures - 1), this.#opts.maxBackoffMs ?? 30_000);
    this.#opts.log.warn('watch failed; restarting informer', { path: this.#opts.path, attempt: this.#failures, delayMs: delay, error: describeError(err) });
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      this.#restart();
    }, delay);
  }

  #restart(): void {
    if (this.#stopped) return;
    this.#informer.start().catch((err: unknown) => this.#onError(err));
  }
}
