/** Names and time limits the bench's steps share. */

export const NS_BASELINE = 'bench-replicaset';
export const NS_SWARMS = 'bench-spotswarm';
export const NS_DIRECT = 'bench-direct';
export const NS_PROBE = 'bench-probe';
export const NS_OPERATOR = 'spotswarm-system';
export const PROGRESS_MS = 5_000;
/** The spotswarm phase gives up early when the operator made no pod this long while its reconciles fail. */
export const STALL_MS = 60_000;
/** How long the swarms' status may take, once the operator is quiet, to agree with what the watches saw. */
export const STATUS_SETTLE_MS = 30_000;
/** Label the bench puts on the pods it creates itself (floor, ReplicaSets), grouping them like swarms. */
export const LABEL_SET = 'bench.spotswarm.dev/set';
