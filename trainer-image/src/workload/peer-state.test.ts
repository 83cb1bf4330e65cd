import { describe, expect, it } from '@jest/globals';
import type { RoundAssignment } from '../swarm/index.ts';
import { everHeldState, holdsState, type PeerEvent, type PeerState, servesState, transition } from './peer-state.ts';

const round = { v: 1, epoch: 4, leader: 'a', createdAt: 0, maxGroupSize: 4, groups: [[{ peerId: 'a', weight: 1, multiaddrs: [] }]], waiting: [] } as RoundAssignment;
const stepped = { epoch: 5, until: 1_000 };

const joining: PeerState = { kind: 'joining', epoch: 4 };
const training: PeerState = { kind: 'training', epoch: 4 };
const stale: PeerState = { kind: 'stale', epoch: 5, skippedRound: round, withheld: false, steppedWithout: undefined };
const withheld: PeerState = { kind: 'stale', epoch: 5, skippedRound: round, withheld: true, steppedWithout: undefined };
const settled: PeerState = { kind: 'stale', epoch: 5, skippedRound: undefined, withheld: false, steppedWithout: undefined };
const steppedWithout: PeerState = { kind: 'stale', epoch: 5, skippedRound: undefined, withheld: false, steppedWithout: stepped };

describe('transition', () => {
  it.each<[string, PeerState, PeerEvent, PeerState]>([
    // a joiner gets a state: the seed, a checkpoint (never lowering the epoch) or a download
    ['joining, seed at its epoch', joining, { type: 'loaded', epoch: 4 }, training],
    ['joining, older checkpoint keeps the epoch', joining, { type: 'loaded', epoch: 2 }, training],
    ['joining, newer download', joining, { type: 'loaded', epoch: 6 }, { kind: 'training', epoch: 6 }],
    // a training peer steps, or the swarm moves on without it
    ['training, step', training, { type: 'loaded', epoch: 5 }, { kind: 'training', epoch: 5 }],
    ['training, missed round', training, { type: 'movedOn', epoch: 5, skippedRound: round }, stale],
    ['training, behind', training, { type: 'movedOn', epoch: 7, skippedRound: undefined }, { kind: 'stale', epoch: 7, skippedRound: undefined, withheld: false, steppedWithout: undefined }],
    ['training, diverged parameter averaging', training, { type: 'diverged', epoch: 5, skippedRound: round }, withheld],
    ['training, moved on to an epoch not ahead', training, { type: 'movedOn', epoch: 4, skippedRound: round }, training],
    ['training, settling a round it did not skip', training, { type: 'membersMovedOn' }, training],
    // a stale peer settles its skipped round, then gets a state
    ['stale, members moved on', stale, { type: 'membersMovedOn' }, settled],
    ['withheld, members moved on', withheld, { type: 'membersMovedOn' }, { ...withheld, skippedRound: undefined }],
    ['stale, a group finished without it', settled, { type: 'finishedWithout', steppedWithout: stepped }, steppedWithout],
    ['stale, download', steppedWithout, { type: 'loaded', epoch: 6 }, { kind: 'training', epoch: 6 }],
    ['withheld, relabel', withheld, { type: 'loaded', epoch: 5 }, { kind: 'training', epoch: 5 }],
    ['stale, moved on again (not from training)', stale, { type: 'movedOn', epoch: 9, skippedRound: undefined }, stale],
    // events that do not apply leave the state alone
    ['joining, moved on', joining, { type: 'movedOn', epoch: 9, skippedRound: undefined }, joining],
    ['joining, members moved on', joining, { type: 'membersMovedOn' }, joining],
    ['joining, finished without it', joining, { type: 'finishedWithout', steppedWithout: stepped }, joining],
  ])('%s', (_what, from, event, to) => {
    expect(transition(from, event)).toEqual(to);
  });

  it('never lowers the epoch', () => {
    for (const s of [joining, training, stale, withheld, settled, steppedWithout]) {
      for (const e of [{ type: 'loaded', epoch: 0 }, { type: 'movedOn', epoch: 0, skippedRound: undefined }, { type: 'membersMovedOn' }] as PeerEvent[]) {
        expect(transition(s, e).epoch).toBeGreaterThanOrEqual(s.epoch);
      }
    }
  });
});

describe('what a state allows', () => {
  it.each<[PeerState, boolean, boolean, boolean]>([
    // state, holds state(epoch), ever held one, serves it
    [joining, false, false, false],
    [training, true, true, true],
    [stale, false, true, true],
    [withheld, false, true, false],
  ])('%j', (s, holds, ever, serves) => {
    expect([holdsState(s), everHeldState(s), servesState(s)]).toEqual([holds, ever, serves]);
  });
});
