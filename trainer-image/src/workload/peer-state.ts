/**
 * Where a training peer stands with respect to the swarm's state, as one
 * value, changed only by `transition` (pure):
 *
 *   joining   never held a swarm state; it gets one (from live peers, else
 *             the newest checkpoint, else the seed) before computing;
 *   training  holds state(epoch): computes, matches, steps;
 *   stale     the swarm's epoch moved on without this peer's step (a round
 *             it missed, skipped or failed, or it fell behind): it holds an
 *             older state and syncs before computing again.
 *
 * Epochs never go backwards: every transition keeps or raises the epoch.
 */
import type { RoundAssignment } from '../swarm/index.ts';

/**
 * A round this peer skipped that another member finished: the swarm's state is then at least
 * `epoch`, even when no live peer holds it any more (its members stopped right after the
 * step). Sync waits for their checkpoint until `until` before keeping its own state.
 */
export interface SteppedWithout {
  readonly epoch: number;
  readonly until: number;
}

export type PeerState =
  | { readonly kind: 'joining'; readonly epoch: number }
  | { readonly kind: 'training'; readonly epoch: number }
  | {
      readonly kind: 'stale';
      readonly epoch: number;
      /** The round it skipped: sync first waits until that round's members moved on, so that their decision is known. */
      readonly skippedRound: RoundAssignment | undefined;
      /** The state it holds is not the swarm's (a diverged parameter averaging): not served until replaced. */
      readonly withheld: boolean;
      readonly steppedWithout: SteppedWithout | undefined;
    };

export type PeerEvent =
  /** It holds state(epoch) now: the seed, a download, a checkpoint, its own state relabelled, or its step. */
  | { readonly type: 'loaded'; readonly epoch: number }
  /** The swarm moved on to `epoch` without this peer's step; `skippedRound` is the round it did not take part in, if any. */
  | { readonly type: 'movedOn'; readonly epoch: number; readonly skippedRound: RoundAssignment | undefined }
  /** Its step's parameter averaging diverged from the group's: as movedOn, and its state is withheld. */
  | { readonly type: 'diverged'; readonly epoch: number; readonly skippedRound: RoundAssignment }
  /** The skipped round's members moved on (or the wait for them timed out): its outcome is as known as it gets. */
  | { readonly type: 'membersMovedOn' }
  /** A group of the skipped round finished it: the swarm's state is at least `steppedWithout.epoch`. */
  | { readonly type: 'finishedWithout'; readonly steppedWithout: SteppedWithout };

/** The next state; an event that does not apply to the state (or would lower the epoch) leaves it as it is. */
export function transition(s: PeerState, e: PeerEvent): PeerState {
  switch (e.type) {
    case 'loaded':
      return { kind: 'training', epoch: Math.max(s.epoch, e.epoch) };
    case 'movedOn':
    case 'diverged':
      if (s.kind !== 'training' || e.epoch <= s.epoch) return s;
      return { kind: 'stale', epoch: e.epoch, skippedRound: e.skippedRound, withheld: e.type === 'diverged', steppedWithout: undefined };
    case 'membersMovedOn':
      return s.kind === 'stale' ? { ...s, skippedRound: undefined } : s;
    case 'finishedWithout':
      return s.kind === 'stale' ? { ...s, steppedWithout: e.steppedWithout } : s;
  }
}

/** Holds the state of its epoch (else the loop syncs before computing). */
export function holdsState(s: PeerState): boolean {
  return s.kind === 'training';
}

/** Holds a swarm state at all: a stale peer an older one, a joiner none yet. */
export function everHeldState(s: PeerState): boolean {
  return s.kind !== 'joining';
}

/** Serves its state to other peers (also while stale: its META then says its older epoch, and joiners skip it). */
export function servesState(s: PeerState): boolean {
  return s.kind === 'training' || (s.kind === 'stale' && !s.withheld);
}
