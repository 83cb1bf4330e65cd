/**
 * Subscribes to each swarm's telemetry subject on its NATS server and keeps
 * the latest report per peer. One connection per NATS URL, shared by the
 * swarms that use it. Bad reports are counted and logged, never trusted.
 */
import { connect, credsAuthenticator, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { parseTelemetry, Subjects, type TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { PEER_TTL_MS, summarize, type ReceivedReport, type TelemetrySummary } from './aggregate.ts';

/** A swarm of thousands of peers still fits; a flood of made-up peer ids does not grow memory further. */
const MAX_PEERS_PER_SWARM = 10_000;
/** At most one log line per swarm per this interval about rejected reports. */
const REJECT_LOG_INTERVAL_MS = 10_000;

interface Watched {
  url: string;
  /** Connection key: the URL, plus the account when the operator issued the swarm its own NATS account. */
  conn: string;
  subject: string;
  sub?: Subscription;
  reports: Map<string, ReceivedReport>;
  lastRejectLog: number;
}

export interface TelemetryHubDeps {
  log: Logger;
  metrics: OperatorMetrics;
  /** Called when a swarm's telemetry changed (the caller throttles status writes). */
  onTelemetry: (swarmKey: string) => void;
  /** NATS token for the operator's own user, if the servers require auth. */
  token?: string;
  now?: () => number;
}

export class TelemetryHub {
  readonly #d: TelemetryHubDeps;
  readonly #conns = new Map<string, Promise<NatsConnection>>();
  readonly #swarms = new Map<string, Watched>();

  constructor(d: TelemetryHubDeps) {
    this.#d = d;
  }

  /**
   * Subscribes for this swarm if not yet (or again, if its NATS URL or account
   * changed). `auth` is the operator's reader in the swarm's own NATS account
   * (id = the account); swarms of one account and URL share a connection.
   */
  watch(key: string, swarm: TrainingSwarm, auth?: { id: string; creds: string }): void {
    const url = swarm.spec.nats.url;
    if (url === undefined) {
      this.unwatch(key);
      return;
    }
    const subject = Subjects.telemetry({ namespace: swarm.metadata.namespace ?? 'default', name: swarm.metadata.name ?? '' });
    const conn = auth ? `${url}#${auth.id}` : url;
    const w = this.#swarms.get(key);
    if (w && w.conn === conn && w.subject === subject) return;
    if (w) this.unwatch(key);
    const entry: Watched = { url, conn, subject, reports: new Map(), lastRejectLog: 0 };
    this.#swarms.set(key, entry);
    void this.#connection(conn, url, auth?.creds).then((nc) => {
      if (this.#swarms.get(key) !== entry) return;
      entry.sub = nc.subscribe(subject, { callback: (err, msg) => { if (!err) this.#receive(key, entry, msg.data); } });
      this.#d.log.info('watching swarm telemetry', { swarm: key, subject, nats: url });
    }, (err: unknown) => this.#d.log.warn('cannot connect to NATS for telemetry', { swarm: key, nats: url, error: err instanceof Error ? err.message : String(err) }));
  }

  unwatch(key: string): void {
    const w = this.#swarms.get(key);
    w?.sub?.unsubscribe();
    this.#swarms.delete(key);
    // A per-account connection nobody watches any more is closed.
    if (w && w.conn !== w.url && ![...this.#swarms.values()].some((o) => o.conn === w.conn)) {
      const c = this.#conns.get(w.conn);
      this.#conns.delete(w.conn);
      void c?.then((nc) => nc.close(), () => undefined);
    }
  }

  summary(key: string, targetBatchSize: number): TelemetrySummary | undefined {
    const w = this.#swarms.get(key);
    if (!w) return undefined;
    const now = (this.#d.now ?? Date.now)();
    for (const [peer, r] of w.reports) if (now - r.receivedAt > 2 * PEER_TTL_MS) w.reports.delete(peer);
    return summarize(w.reports.values(), now, targetBatchSize);
  }

  async stop(): Promise<void> {
    for (const key of [...this.#swarms.keys()]) this.unwatch(key);
    for (const c of this.#conns.values()) await c.then((nc) => nc.close(), () => {});
    this.#conns.clear();
  }

  #connection(key: string, url: string, creds?: string): Promise<NatsConnection> {
    let c = this.#conns.get(key);
    if (!c) {
      c = connect({
        servers: url,
        name: 'spotswarm-operator',
        maxReconnectAttempts: -1,
        waitOnFirstConnect: true,
        reconnectTimeWait: 1_000,
        ...(creds !== undefined ? { authenticator: credsAuthenticator(new TextEncoder().encode(creds)) } : this.#d.token ? { token: this.#d.token } : {}),
      });
      c.catch(() => this.#conns.delete(key));
      this.#conns.set(key, c);
    }
    return c;
  }

  #receive(key: string, w: Watched, data: Uint8Array): void {
    const parsed = parseTelemetry(data);
    if (!parsed.ok) {
      this.#d.metrics.telemetryRejected.inc({ reason: parsed.reason });
      const now = Date.now();
      if (now - w.lastRejectLog > REJECT_LOG_INTERVAL_MS) {
        w.lastRejectLog = now;
        this.#d.log.warn('rejected a telemetry report', { swarm: key, error: parsed.error });
      }
      return;
    }
    const r = parsed.report;
    if (!w.reports.has(r.peerId) && w.reports.size >= MAX_PEERS_PER_SWARM) {
      this.#d.metrics.telemetryRejected.inc({ reason: 'too-many-peers' });
      return;
    }
    w.reports.set(r.peerId, { report: r, receivedAt: (this.#d.now ?? Date.now)() });
    this.#d.metrics.telemetryReports.inc();
    this.#d.onTelemetry(key);
  }
}
