/**
 * Entrypoint of the relay workload (SPOTSWARM_WORKLOAD=relay, same image as
 * the trainer; trainer-image/src/main.ts hands over here). Starts the circuit
 * relay, serves /metrics and /healthz, and stops on SIGTERM. Exit 2 on a bad
 * configuration, 1 on a fatal error.
 */
import type { ConnectionGater } from '@libp2p/interface';
import type { NatsConnection } from '@nats-io/transport-node';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { Buckets, Env } from '../../../api/index.ts';
import { ConfigError } from '../config.ts';
import { createLogger } from '../log.ts';
import { connectNats, createSwarmMetrics, errorMessage, Membership, membershipGater } from '../swarm/index.ts';
import { parseRelayConfig, type RelayConfig } from './config.ts';
import { startRelay } from './relay.ts';
import { serveMetrics } from '../metrics-server.ts';

async function run(cfg: RelayConfig, log: ReturnType<typeof createLogger>): Promise<number> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let ready = false;
  const http = cfg.metricsPort > 0 ? await serveMetrics(cfg.metricsPort, registry, () => ready) : undefined;
  const signalled = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  // Members only: the swarm's membership bucket, read with the swarm's NATS credentials.
  let members: { nc: NatsConnection; membership: Membership; gater: ConnectionGater } | undefined;
  if (cfg.members) {
    const metrics = createSwarmMetrics(registry);
    const nc = await connectNats({ url: cfg.members.nats.url, credentials: cfg.members.nats.credentials, name: cfg.pod, log, metrics });
    const membership = await Membership.open(nc, { bucket: Buckets.membership(cfg.members.swarm), replicas: cfg.members.nats.replicas, ttlMs: cfg.members.membershipTtlMs, log, metrics });
    members = { nc, membership, gater: membershipGater({ isMember: (id) => membership.isRegistered(id), metrics, log }) };
  }
  const relay = await startRelay({ privateKey: cfg.privateKey, ip: cfg.ip, port: cfg.port, announce: cfg.announce, maxReservations: cfg.maxReservations, log, registry, ...(members ? { connectionGater: members.gater } : {}) });
  ready = true;
  log.info('relay started', { peerId: relay.peerId, multiaddrs: relay.multiaddrs, maxReservations: cfg.maxReservations, admits: cfg.members ? `members of ${cfg.members.swarm.namespace}/${cfg.members.swarm.name}` : 'anyone' });
  const why = await signalled;
  log.info(`${why} received, stopping the relay`, { reservations: relay.reservations() });
  await relay.stop();
  members?.membership.close();
  await members?.nc.drain().catch((e: unknown) => log.warn('NATS drain failed', { error: errorMessage(e) }));
  http?.close();
  log.info('relay stopped');
  return 0;
}

/** Runs the relay from an environment; never returns normally (exits the process). */
export function relayMain(env: Readonly<Record<string, string | undefined>>, hostname: string): void {
  let cfg: RelayConfig;
  try {
    cfg = parseRelayConfig(env, { hostname });
  } catch (e) {
    const boot = createLogger({ format: env[Env.LogFormat] === 'json' ? 'json' : 'text', level: 'info', meta: { component: 'relay' } });
    boot.error('invalid configuration', { error: errorMessage(e), variable: e instanceof ConfigError ? e.variable : undefined });
    process.exitCode = 2;
    return;
  }
  const log = createLogger({ format: cfg.log.format, level: cfg.log.level, meta: { component: 'relay', pod: cfg.pod } });
  process.on('unhandledRejection', (e) => log.error('unhandled rejection', { error: errorMessage(e) }));
  run(cfg, log).then(
    (code) => process.exit(code),
    (e: unknown) => {
      log.error('relay failed', { error: errorMessage(e), stack: e instanceof Error ? e.stack : undefined });
      process.exit(1);
    },
  );
}
