/** libp2p protocol ids, built from prefix, name and version. */
const PREFIX = '/spotswarm';

export const Protocols = {
  /** Butterfly all-reduce: parts sent to a shard's reducer and back. */
  allReduce: `${PREFIX}/allreduce/3.0.0`,
  /** State download from a live peer. */
  state: `${PREFIX}/state/2.0.0`,
} as const;
