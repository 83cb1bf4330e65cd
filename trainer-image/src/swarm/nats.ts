/**
 * The trainer's NATS connection: reconnects forever, so a nats-server
 * restart or a network blip costs the swarm layer only the time it is away
 * (JetStream state survives it, and KV watches resume on reconnect).
 *
 * The first connection is bounded when `firstConnectTimeoutMs` is given: a
 * trainer that never reaches NATS cannot publish telemetry, so it gives up
 * with a NatsUnreachableError (main.ts writes it to the termination message
 * and exits non-zero) instead of hanging as a Running pod that never trains.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, credsAuthenticator, tokenAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { errorMessage, type SwarmLogger } from './log.ts';
import type { SwarmMetrics } from './metrics.ts';

export interface NatsOptions {
  url: string;
  /** A token, or the contents of a .creds file (detected by its JWT header). */
  credentials?: string;
  /** Connection name shown by the server (the pod name). */
  name?: string;
  /** @default 500 */
  reconnectTimeWaitMs?: number;
  log: SwarmLogger;
  /** Counts refused operations (spotswarm_swarm_nats_permission_denied_total). */
  metrics?: SwarmMetrics;
  /** Give up on the first connection after this long (retrying every second meanwhile); unset waits forever. */
  firstConnectTimeoutMs?: number;
}

/** The first connection to NATS did not succeed within firstConnectTimeoutMs. */
export class NatsUnreachableError extends Error {
  readonly code = 'ERR_NATS_UNREACHABLE';
  constructor(message: string) {
    super(message);
    this.name = 'NatsUnreachableError';
  }
}

/** Pause between first-connection attempts. */
const FIRST_CONNECT_RETRY_MS = 1_000;
/** Longest one attempt may take (DNS, TCP, TLS, INFO). */
const ATTEMPT_TIMEOUT_MS = 5_000;

/** True when `s` looks like the contents of a NATS .creds file. */
export function isCredsFile(s: string): boolean {
  return s.includes('-----BEGIN NATS USER JWT-----');
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  const auth = opts.credentials === undefined || opts.credentials === ''
    ? {}
    : isCredsFile(opts.credentials)
      ? { authenticator: credsAuthenticator(new TextEncoder().encode(opts.credentials)) }
      : { authenticator: tokenAuthenticator(opts.credentials) };
  const base = {
    servers: opts.url,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 500,
    ...auth,
  };
  // Unbounded: keep trying at start-up too (the server may come up after the pod).
  const nc = opts.firstConnectTimeoutMs === undefined ? await connect({ ...base, waitOnFirstConnect: true }) : await connectBounded(base, opts.firstConnectTimeoutMs, opts);
  void (async () => {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') opts.log.warn('NATS disconnected; reconnecting', { server: s.server });
        else if (s.type === 'reconnect') opts.log.info('NATS reconnected', { server: s.server });
        else if (s.type === 'error' && s.error.name === 'PermissionViolationError') {
          // Our credentials do not allow it: another swarm's subject, or a bug. Counted and logged, never fatal.
          const e = s.error as Error & { operation?: string; subject?: string };
          opts.metrics?.natsPermissionDenied.inc({ operation: e.operation ?? 'unknown' });
          opts.log.warn('NATS permission denied', { operation: e.operation, subject: e.subject?.slice(0, 256), error: errorMessage(e) });
        } else if (s.type === 'error') opts.log.warn('NATS error', { error: errorMessage(s.error) });
      }
    } catch {
      // The status iterator ends with the connection.
    }
  })();
  return nc;
}

async function connectBounded(base: Parameters<typeof connect>[0], limitMs: number, opts: NatsOptions): Promise<NatsConnection> {
  const start = Date.now();
  let lastError = '';
  for (let attempt = 1; ; attempt++) {
    const left = start + limitMs - Date.now();
    try {
      return await connect({ ...base, timeout: Math.max(100, Math.min(ATTEMPT_TIMEOUT_MS, left)) });
    } catch (e) {
      const msg = errorMessage(e);
      if (msg !== lastError) opts.log.warn('cannot connect to NATS yet; retrying', { url: opts.url, attempt, error: msg, giveUpInMs: Math.max(0, left) });
      lastError = msg;
    }
    if (Date.now() - start + FIRST_CONNECT_RETRY_MS >= limitMs) {
      throw new NatsUnreachableError(`cannot connect to spec.nats.url ${opts.url} within ${Math.round(limitMs / 1000)}s (${attempt} attempts): ${lastError}`);
    }
    await sleep(FIRST_CONNECT_RETRY_MS);
  }
}
