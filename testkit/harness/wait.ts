/**
 * Polling for unit, integration and e2e tests and the demo; the one waitFor
 * of the repo. Not a timed assertion: `timeoutMs` only bounds how long a
 * condition that never holds takes to fail, with a message that says what
 * was awaited and what the probe last saw. Speed belongs in bench/.
 */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns a value other than undefined, null or false,
 * and returns that value. Errors thrown by the probe count as "not yet". On
 * timeout (default 30 s; polling every 250 ms) the error names `what` and the
 * probe's last error or value.
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: { what: string; timeoutMs?: number; intervalMs?: number },
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
      last = `last value: ${JSON.stringify(v)}`;
    } catch (err) {
      last = `last error: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${opts.what} (${last})`);
    await sleep(opts.intervalMs ?? 250);
  }
}
