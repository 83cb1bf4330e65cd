/**
 * Matchmaking decisions of both workloads (pure): given the swarm's
 * progress and the round assignment of this peer's epoch (if one is known),
 * what the peer does next. RoundRunner (round-runner.ts) gathers the inputs
 * and carries out `ask` and `form`; each workload acts on the rest.
 */
import { findGroup, type AssignmentMember, type RoundAssignment } from '../swarm/index.ts';

/** How often a peer without a known assignment asks the bucket directly (besides the watch). */
export const POLL_ASSIGNMENT_MS = 1_000;

export interface MatchProgress {
  /** The swarm's epoch (the highest live epoch, at least this peer's). */
  epoch: number;
  /** Time to form the round of `epoch`: the target is reached (or, with a matchmaking window, near). */
  ready: boolean;
}

export interface MatchLocal {
  /** The epoch this peer works on. */
  epoch: number;
  peerId: string;
  /** Whether `assignment` is what the bucket said when asked (so a missing one is not asked for again). */
  asked: boolean;
  /** The last time this peer asked the bucket is POLL_ASSIGNMENT_MS ago or more. */
  pollDue: boolean;
  /** Live peers and their epochs; only read when an assignment leaves this peer out. */
  live: readonly { peerId: string; epoch: number }[];
  /** The membership is refilling after a NATS reconnect: no time to lead a round. */
  settling: boolean;
}

export type MatchDecision =
  /** No assignment known: ask the bucket for it, then decide again. */
  | { kind: 'ask' }
  /** This peer is in a group of the round: run it. */
  | { kind: 'join'; assignment: RoundAssignment; group: number; members: AssignmentMember[] }
  /** The round left this peer out and is over for it (the swarm moved on, or nobody of the round is left at its epoch): move on to `epoch`. */
  | { kind: 'missed'; assignment: RoundAssignment; epoch: number }
  /** The round left this peer out and is still running: wait for the next one. */
  | { kind: 'excluded' }
  /** No round here, and the swarm is at a later epoch: move on to it. */
  | { kind: 'behind'; epoch: number }
  /** The target is not reached yet. */
  | { kind: 'accumulate' }
  /** Ready, but the membership is settling. */
  | { kind: 'settling' }
  /** Ready: form the round (compare-and-set; whoever wins writes it). */
  | { kind: 'form' };

export function decideNext(progress: MatchProgress, assignment: RoundAssignment | undefined, local: MatchLocal): MatchDecision {
  const p = progress;
  if (!assignment) {
    if (!local.asked && (p.ready || p.epoch > local.epoch || local.pollDue)) return { kind: 'ask' };
    if (p.epoch > local.epoch) return { kind: 'behind', epoch: p.epoch };
    if (!p.ready) return { kind: 'accumulate' };
    return local.settling ? { kind: 'settling' } : { kind: 'form' };
  }
  const g = findGroup(assignment, local.peerId);
  if (g) return { kind: 'join', assignment, group: g.index, members: g.members };
  const a = assignment;
  const roundAlive = a.groups.flat().some((m) => m.peerId !== local.peerId && local.live.some((r) => r.peerId === m.peerId && r.epoch === a.epoch));
  if (p.epoch > local.epoch || !roundAlive) return { kind: 'missed', assignment: a, epoch: Math.max(p.epoch, local.epoch + 1) };
  return { kind: 'excluded' };
}

/**
 * Whether the target will be reached without another micro-batch of this peer: the samples
 * published at `epoch`, plus, for every other peer that is computing, the one micro-batch it
 * has in flight (if its last update is recent: a stalled peer counts nothing after three
 * micro-batch durations, so nobody waits for it). `records` are the counted ones: a peer that
 * claims more than it computed must not make the others idle.
 */
export function inFlightReachesTarget(
  records: readonly { peerId: string; epoch: number; samples: number; samplesPerSecond: number; updatedAt: number }[],
  local: { epoch: number; peerId: string; microBatchSize: number; target: number; now: number },
): boolean {
  const micro = local.microBatchSize;
  let total = 0;
  for (const r of records) {
    if (r.epoch !== local.epoch) continue;
    total += r.samples;
    if (r.peerId === local.peerId || !(r.samplesPerSecond > 0)) continue;
    const batchMs = (micro / r.samplesPerSecond) * 1000;
    if (local.now - r.updatedAt < 3 * batchMs) total += micro;
  }
  return total >= local.target;
}
