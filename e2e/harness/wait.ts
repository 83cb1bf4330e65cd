/**
 * Polling for integration tests. No timed assertions: a condition that never
 * holds fails through the test's own timeout, with `what` in the message
 * when `limitMs` is given.
 */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, opts: { everyMs?: number; limitMs?: number } = {}): Promise<T> {
  const every = opts.everyMs ?? 50;
  const t0 = Date.now();
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (opts.limitMs !== undefined && Date.now() - t0 > opts.limitMs) throw new Error(`gave up waiting for ${what} after ${opts.limitMs} ms`);
    await sleep(every);
  }
}
