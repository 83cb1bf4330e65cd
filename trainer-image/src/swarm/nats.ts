/**
 * The trainer's NATS connection: reconnects forever, so a nats-server
 * restart or a network blip costs the swarm layer only the time it is away
 * (JetStream state survives it, and KV watches resume on reconnect).
 */
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
}

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
  const nc = await connect({
    servers: opts.url,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 500,
    // Keep trying at start-up too: the server may come up after the pod.
    waitOnFirstConnect: true,
    ...auth,
  });
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
