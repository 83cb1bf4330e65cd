/**
 * NATS subjects and bucket names per swarm. Every name is scoped by the
 * swarm's namespace and name, so per-swarm credentials can be limited to
 * `spotswarm.<ns>.<name>.>` and the swarm's buckets.
 */

/** NATS tokens may not contain '.', '*', '>' or whitespace. */
function token(s: string): string {
  return s.replace(/[.*>\s]/g, '_');
}

export interface SwarmRef {
  namespace: string;
  name: string;
}

export function swarmPrefix(s: SwarmRef): string {
  return `spotswarm.${token(s.namespace)}.${token(s.name)}`;
}

export const Subjects = {
  /** Peers publish TelemetryReport here; the operator subscribes. */
  telemetry: (s: SwarmRef): string => `${swarmPrefix(s)}.telemetry`,
  /** Matchmaking announcements for a round. */
  matchmaking: (s: SwarmRef): string => `${swarmPrefix(s)}.matchmaking`,
  /** Progress broadcasts between peers. */
  progress: (s: SwarmRef): string => `${swarmPrefix(s)}.progress`,
  /** Everything of this swarm, for credentials. */
  all: (s: SwarmRef): string => `${swarmPrefix(s)}.>`,
};

/** JetStream bucket names allow [A-Za-z0-9_-]. */
function bucketToken(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]/g, '_');
}

export const Buckets = {
  /** KV: peer id → MembershipRecord, entries expire with their TTL. */
  membership: (s: SwarmRef): string => `ks_${bucketToken(s.namespace)}_${bucketToken(s.name)}_members`,
  /** KV: round leaders and group assignments (compare-and-set). */
  rounds: (s: SwarmRef): string => `ks_${bucketToken(s.namespace)}_${bucketToken(s.name)}_rounds`,
  /** Object store: checkpoints. */
  checkpoints: (s: SwarmRef): string => `ks_${bucketToken(s.namespace)}_${bucketToken(s.name)}_ckpt`,
};
