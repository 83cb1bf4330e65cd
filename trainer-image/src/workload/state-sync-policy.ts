/**
 * How a peer without the state of its epoch gets it (pure). state-sync.ts
 * gathers what this needs (the live peers' META, sometimes the newest
 * checkpoint) and carries out the decision.
 *
 * A newer state than ours held by live peers is downloaded. If live peers
 * hold a newer state, but not yet that of our epoch (they are finishing a
 * round), or none of them answered (they are syncing too), we wait. A peer
 * that never held a state falls back to the checkpoint. Otherwise nobody
 * live holds anything newer: with peers live and no round of ours finished
 * without us, the swarm skipped the step with us, and our unchanged state
 * is relabelled with the epoch. When nobody is live, or a round we skipped
 * was finished by others who have left since, the newest state left may be
 * a checkpoint: it is taken when newer than ours, and for a round finished
 * without us it is waited for a while (its members write the checkpoint of
 * their last epoch before they leave).
 */
import { chooseDonors, type DonorMeta } from '../state/index.ts';
import type { RoundAssignment } from '../swarm/index.ts';
import type { SteppedWithout } from './peer-state.ts';

export interface SyncView {
  /** The epoch whose state this peer needs. */
  epoch: number;
  /** The epoch of the state it holds; undefined when it never held one (joining). */
  stateEpoch: number | undefined;
  fingerprint: string;
  /** Other live peers. */
  livePeers: number;
  /** Their META answers (none when there are no other live peers). */
  metas: readonly DonorMeta[];
  steppedWithout: SteppedWithout | undefined;
  now: number;
  /** Epoch of the newest checkpoint (-1: there is none); undefined until looked up, which only some cases need. */
  newestCheckpoint: number | undefined;
}

export type SyncDecision =
  /** Live peers agree on a state of our epoch or newer: download it from them. */
  | { kind: 'download'; donors: string[] }
  /** Live peers will have it soon (they are finishing a round, or syncing): ask again later. */
  | { kind: 'waitForDonor' }
  /** Look up the newest checkpoint, then decide again. */
  | { kind: 'listCheckpoints' }
  /** Peers finished a round without us and left: wait for the checkpoint they write. */
  | { kind: 'waitForCheckpoint'; stepped: SteppedWithout; newestCheckpoint: number }
  /** Take the newest checkpoint (or, without one, the seed) at our epoch. */
  | { kind: 'resumeFromCheckpoint' }
  /** Our own state is the newest there is: relabel it with our epoch. */
  | { kind: 'relabel'; stateEpoch: number; lostEpochs: number; steppedWithout: boolean };

/** Decides; with the newest checkpoint known, never asks for it. */
export function decideSync(v: SyncView & { newestCheckpoint: number }): Exclude<SyncDecision, { kind: 'listCheckpoints' }>;
export function decideSync(v: SyncView): SyncDecision;
export function decideSync(v: SyncView): SyncDecision {
  const best = chooseDonors(v.metas, v.fingerprint, v.epoch);
  if (best) return { kind: 'download', donors: best.donors };
  const newer = chooseDonors(v.metas, v.fingerprint, v.stateEpoch !== undefined ? v.stateEpoch + 1 : 0);
  const answered = v.metas.some((m) => m.meta !== undefined && m.meta.fingerprint === v.fingerprint);
  if (newer || (v.livePeers > 0 && !answered)) return { kind: 'waitForDonor' };
  if (v.stateEpoch === undefined) return { kind: 'resumeFromCheckpoint' };
  const stepped = v.steppedWithout !== undefined && v.steppedWithout.epoch > v.stateEpoch ? v.steppedWithout : undefined;
  const alone = v.livePeers === 0 || stepped !== undefined;
  if (alone) {
    const newest = v.newestCheckpoint;
    if (newest === undefined) return { kind: 'listCheckpoints' };
    if (stepped !== undefined && newest < stepped.epoch && v.now < stepped.until) return { kind: 'waitForCheckpoint', stepped, newestCheckpoint: newest };
    if (newest > v.stateEpoch) return { kind: 'resumeFromCheckpoint' };
  }
  return { kind: 'relabel', stateEpoch: v.stateEpoch, lostEpochs: alone ? v.epoch - v.stateEpoch : 0, steppedWithout: stepped !== undefined };
}

/** Whether every other member of `round` has moved past its epoch (or left), so that the round's outcome is known. */
export function roundMembersMovedOn(round: RoundAssignment, live: readonly { peerId: string; epoch: number }[], me: string): boolean {
  const members = new Set(round.groups.flat().map((m) => m.peerId));
  members.delete(me);
  return !live.some((r) => members.has(r.peerId) && r.epoch <= round.epoch);
}
