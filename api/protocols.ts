/** libp2p protocol ids, built from prefix, name and version. */
const PREFIX = '/kubeswarm';

export const Protocols = {
  /** Butterfly all-reduce: parts sent to a shard's reducer and back. */
  allReduce: `${PREFIX}/allreduce/2.0.0`,
  /** State download from a live peer. */
  state: `${PREFIX}/state/1.0.0`,
} as const;
