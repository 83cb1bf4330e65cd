/**
 * Tiny HTTP(S) GET for health probes of the control-plane binaries, which
 * serve self-signed certificates (hence the `ca` and `insecure` options that
 * global fetch does not offer).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

export interface GetOptions {
  /** PEM CA bundle to verify the server against. */
  ca?: string;
  /** Skip server certificate verification (health ports of scheduler / controller-manager). */
  insecure?: boolean;
  /** Bearer token. */
  token?: string;
  timeoutMs?: number;
}

export function httpGet(url: string, opts: GetOptions = {}): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const req = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = req(
      u,
      {
        method: 'GET',
        headers: opts.token ? { Authorization: `Bearer ${opts.token}` } : {},
        ...(u.protocol === 'https:' ? { ca: opts.ca, rejectUnauthorized: !opts.insecure } : {}),
        timeout: opts.timeoutMs ?? 5_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    r.on('timeout', () => r.destroy(new Error(`GET ${url} timed out`)));
    r.on('error', reject);
    r.end();
  });
}

/**
 * Polls `check` until it returns true. Fails early when `gone()` reports the
 * process being waited on has died, and on timeout; both errors come from
 * `describe` so they can include the process's log tail.
 */
export async function pollUntil(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; gone?: () => boolean; describe: (why: string, lastError: string) => Error },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (;;) {
    if (opts.gone?.()) throw opts.describe('exited before it was ready', lastError);
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw opts.describe(`not ready after ${Math.round(opts.timeoutMs / 1000)}s`, lastError);
    await sleep(opts.intervalMs ?? 200);
  }
}
