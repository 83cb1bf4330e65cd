/**
 * Configuration of the relay workload (SPOTSWARM_WORKLOAD=relay): a libp2p
 * circuit relay for trainers behind NAT, run from the trainer image. It needs
 * a private key (so that its peer id, and hence its multiaddr, is known
 * before it starts), an address to listen on, and the addresses to announce.
 * With the swarm's NATS settings (SPOTSWARM_NATS_URL, SPOTSWARM_NAMESPACE,
 * SPOTSWARM_SWARM, and its credentials) it admits only the swarm's
 * registered members; without them it relays for anyone who reaches it.
 * Parsed once from the environment by main.ts, frozen.
 */
import { isIP } from 'node:net';
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys';
import type { PrivateKey } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { DEFAULT_RELAY_PORT, Env } from '../../../api/index.ts';
import { checkNatsUrl, ConfigError, DEFAULT_MEMBERSHIP_TTL_SECONDS, natsReplicas } from '../config.ts';

/** Reservations a relay accepts at once by default: a swarm's peers behind NAT, with room. */
export const DEFAULT_RELAY_MAX_RESERVATIONS = 1024;

export interface RelayConfig {
  privateKey: PrivateKey;
  /** Address to listen on (the pod IP). */
  ip: string;
  /** TCP port (0 = any free port, for tests). */
  port: number;
  /** Multiaddrs (no /p2p/) the relay announces in reservations; empty = its listen address. */
  announce: string[];
  maxReservations: number;
  pod: string;
  metricsPort: number;
  log: { format: 'json' | 'text'; level: string };
  /** Admit only members of this swarm (its membership bucket, read with its NATS credentials); unset = anyone. */
  members?: {
    nats: { url: string; credentials: string | undefined; replicas: number };
    swarm: { namespace: string; name: string };
    membershipTtlMs: number;
  };
}

type EnvSource = Readonly<Record<string, string | undefined>>;

const LOG_LEVELS = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'];

export function parseRelayConfig(env: EnvSource, fallback: { hostname: string }): RelayConfig {
  const str = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return n;
  };

  const rawKey = str(Env.RelayPrivateKey);
  if (rawKey === undefined) throw new ConfigError(Env.RelayPrivateKey, 'is required (base64 of a protobuf-encoded libp2p private key, from the relay Secret)');
  let privateKey: PrivateKey;
  try {
    const bytes = Buffer.from(rawKey, 'base64');
    if (bytes.toString('base64').replace(/=+$/, '') !== rawKey.replace(/=+$/, '')) throw new Error('not base64');
    privateKey = privateKeyFromProtobuf(bytes);
  } catch (e) {
    throw new ConfigError(Env.RelayPrivateKey, `is not a base64 protobuf libp2p private key (${(e as Error).message})`);
  }

  const ip = str(Env.PodIp);
  if (ip === undefined) throw new ConfigError(Env.PodIp, 'is required (the address the relay listens on)');
  if (isIP(ip) === 0) throw new ConfigError(Env.PodIp, `must be an IPv4 or IPv6 address, got ${JSON.stringify(ip)}`);

  const announce = (str(Env.RelayAnnounce) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const a of announce) {
    let ok = false;
    try {
      const cs = multiaddr(a).getComponents();
      ok = cs.some((c) => c.name === 'tcp') && !cs.some((c) => c.name === 'p2p' || c.name === 'p2p-circuit');
    } catch {
      ok = false;
    }
    if (!ok) throw new ConfigError(Env.RelayAnnounce, `each entry must be a TCP multiaddr without /p2p/, e.g. /dns4/relay.example.org/tcp/4001; got ${JSON.stringify(a)}`);
  }

  const format = str(Env.LogFormat) ?? 'text';
  if (format !== 'json' && format !== 'text') throw new ConfigError(Env.LogFormat, `must be "json" or "text", got ${JSON.stringify(format)}`);
  const level = str(Env.LogLevel) ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new ConfigError(Env.LogLevel, `must be one of ${LOG_LEVELS.join(', ')}`);

  let members: RelayConfig['members'];
  const natsUrl = str(Env.NatsUrl);
  if (natsUrl !== undefined) {
    checkNatsUrl(natsUrl);
    const namespace = str(Env.SwarmNamespace);
    const name = str(Env.SwarmName);
    if (namespace === undefined) throw new ConfigError(Env.SwarmNamespace, `is required with ${Env.NatsUrl} (whose members the relay admits)`);
    if (name === undefined) throw new ConfigError(Env.SwarmName, `is required with ${Env.NatsUrl} (whose members the relay admits)`);
    members = {
      nats: { url: natsUrl, credentials: str(Env.NatsCredentials), replicas: natsReplicas(env[Env.NatsReplicas]) },
      swarm: { namespace, name },
      membershipTtlMs: int(Env.MembershipTtlSeconds, DEFAULT_MEMBERSHIP_TTL_SECONDS, 1, 3600) * 1000,
    };
  }

  const cfg: RelayConfig = {
    privateKey,
    ip,
    port: int(Env.P2pPort, DEFAULT_RELAY_PORT, 0, 65535),
    announce,
    maxReservations: int(Env.RelayMaxReservations, DEFAULT_RELAY_MAX_RESERVATIONS, 1, 1_000_000),
    pod: str(Env.PodName) ?? fallback.hostname,
    metricsPort: int(Env.MetricsPort, 0, 0, 65535),
    log: { format, level },
    ...(members ? { members } : {}),
  };
  Object.freeze(cfg.announce);
  Object.freeze(cfg.log);
  return Object.freeze(cfg);
}
