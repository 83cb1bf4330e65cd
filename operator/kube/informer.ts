/**
 * An informer that survives watch errors. client-node's ListWatch stops for
 * good on a watch error, so this restarts it with backoff, and a watchdog
 * restarts it if it stays down. `synced` resolves after the first full list.
 *
 * The cache holds projected objects (projection.ts): each listed or watched
 * object is projected as it arrives, before the cache stores it, and the list
 * is read in pages, so a full copy of every object never exists at once.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { describeError } from './errors.ts';

/** Objects per list page. */
export const LIST_PAGE_SIZE = 500;

/** One page of a list: up to `limit` objects from the apiserver's continue token `cont` on. */
export type ListPage<R extends KubernetesObject> = (cont: string | undefined, limit: number) => Promise<KubernetesListObject<R>>;

/** T: what the cache keeps; R: the object as the API returns it. */
export interface ResilientInformerOptions<T extends KubernetesObject, R extends KubernetesObject = T> {
  kubeConfig: KubeConfig;
  /** Watch path, e.g. /api/v1/pods. */
  path: string;
  listPage: ListPage<R>;
  /** What the cache keeps of each object; it must keep metadata name, namespace and resourceVersion. */
  project: (raw: R) => T;
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

/** Watch events that carry an object to cache; ERROR carries a Status and BOOKMARK only a resourceVersion. */
const OBJECT_EVENTS: ReadonlySet<string> = new Set(['ADDED', 'MODIFIED', 'DELETED']);

/** A watch that hands on projected objects. */
class ProjectingWatch<T, R> extends Watch {
  readonly #project: (raw: R) => T;

  constructor(kubeConfig: KubeConfig, project: (raw: R) => T) {
    super(kubeConfig);
    this.#project = project;
  }

  override watch(...[path, query, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    return super.watch(path, query, (phase, obj, event) => callback(phase, OBJECT_EVENTS.has(phase) ? this.#project(obj as R) : obj, event), done);
  }
}

/** Every page of a list, projected page by page; the result has the list's resourceVersion. */
export async function listProjected<T extends KubernetesObject, R extends KubernetesObject>(listPage: ListPage<R>, project: (raw: R) => T, limit = LIST_PAGE_SIZE): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  let resourceVersion: string | undefined;
  let cont: string | undefined;
  do {
    const page = await listPage(cont, limit);
    for (const o of page.items) items.push(project(o));
    // Every page of one list is the same snapshot. Typed clients name the token _continue; custom objects come as plain JSON.
    const meta = page.metadata as { resourceVersion?: string; _continue?: string; continue?: string } | undefined;
    resourceVersion = meta?.resourceVersion ?? resourceVersion;
    cont = meta?._continue || meta?.continue || undefined;
  } while (cont);
  return { apiVersion: 'v1', kind: 'List', metadata: resourceVersion === undefined ? {} : { resourceVersion }, items };
}

export class ResilientInformer<T extends KubernetesObject, R extends KubernetesObject = T> {
  readonly #opts: ResilientInformerOptions<T, R>;
  readonly #informer: ListWatch<T>;
  #failures = 0;
  #down = false;
  #downSince = 0;
  #stopped = false;
  #restartTimer: NodeJS.Timeout | undefined;
  readonly #watchdog: NodeJS.Timeout;
  #resolveSynced!: () => void;
  readonly synced: Promise<void>;

  constructor(opts: ResilientInformerOptions<T, R>) {
    this.#opts = opts;
    this.synced = new Promise((r) => { this.#resolveSynced = r; });
    this.#informer = new ListWatch<T>(opts.path, new ProjectingWatch(opts.kubeConfig, opts.project), async () => {
      const list = await listProjected(opts.listPage, opts.project);
      // Only a successful list proves the watch is healthy again; reset the backoff then.
      this.#failures = 0;
      // The list has landed in the cache once this returns; mark synced on the next tick.
      setImmediate(() => this.#resolveSynced());
      return list;
    }, false, opts.labelSelector);
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
