import { describe, expect, it } from '@jest/globals';
import type { RoundAssignment } from '../swarm/index.ts';
import { decideNext, inFlightReachesTarget, type MatchDecision, type MatchLocal, type MatchProgress } from './match.ts';

const member = (peerId: string) => ({ peerId, weight: 1, multiaddrs: [] });
const round = { v: 1, epoch: 3, leader: 'a', createdAt: 0, maxGroupSize: 2, groups: [[member('a'), member('me')], [member('b'), member('c')]], waiting: [] } as RoundAssignment;
const without = { ...round, groups: [[member('a'), member('b')]] } as RoundAssignment;
const local = (over: Partial<MatchLocal> = {}): MatchLocal => ({ epoch: 3, peerId: 'me', asked: false, pollDue: false, live: [], settling: false, ...over });
const at = (epoch: number, ready: boolean): MatchProgress => ({ epoch, ready });

describe('decideNext', () => {
  it.each<[string, MatchProgress, RoundAssignment | undefined, MatchLocal, MatchDecision]>([
    ['no assignment, not ready: accumulate', at(3, false), undefined, local(), { kind: 'accumulate' }],
    ['no assignment, a poll is due: ask', at(3, false), undefined, local({ pollDue: true }), { kind: 'ask' }],
    ['no assignment, ready: ask first', at(3, true), undefined, local(), { kind: 'ask' }],
    ['no assignment, the swarm is ahead: ask first', at(5, false), undefined, local(), { kind: 'ask' }],
    ['asked, none, ready: form the round', at(3, true), undefined, local({ asked: true }), { kind: 'form' }],
    ['asked, none, ready but settling', at(3, true), undefined, local({ asked: true, settling: true }), { kind: 'settling' }],
    ['asked, none, the swarm is ahead: catch up', at(5, true), undefined, local({ asked: true }), { kind: 'behind', epoch: 5 }],
    ['asked, none, not ready', at(3, false), undefined, local({ asked: true, pollDue: true }), { kind: 'accumulate' }],
    ['in a group: join it', at(3, true), round, local(), { kind: 'join', assignment: round, group: 0, members: [member('a'), member('me')] }],
    ['in a group of a later index', at(3, true), round, local({ peerId: 'c' }), { kind: 'join', assignment: round, group: 1, members: [member('b'), member('c')] }],
    ['left out, its members still at the epoch: wait', at(3, true), without, local({ live: [{ peerId: 'a', epoch: 3 }, { peerId: 'me', epoch: 3 }] }), { kind: 'excluded' }],
    ['left out, its members gone: move on', at(3, true), without, local({ live: [{ peerId: 'me', epoch: 3 }] }), { kind: 'missed', assignment: without, epoch: 4 }],
    ['left out, its members past it: move on', at(3, true), without, local({ live: [{ peerId: 'a', epoch: 4 }] }), { kind: 'missed', assignment: without, epoch: 4 }],
    ['left out, the swarm is further ahead: move on to it', at(6, true), without, local({ live: [{ peerId: 'a', epoch: 3 }] }), { kind: 'missed', assignment: without, epoch: 6 }],
  ])('%s', (_what, p, a, l, want) => {
    expect(decideNext(p, a, l)).toEqual(want);
  });
});

describe('inFlightReachesTarget', () => {
  const rec = (peerId: string, samples: number, samplesPerSecond: number, updatedAt: number, epoch = 3) => ({ peerId, epoch, samples, samplesPerSecond, updatedAt });
  const local = { epoch: 3, peerId: 'me', microBatchSize: 8, target: 40, now: 10_000 };
  it.each<[string, ReturnType<typeof rec>[], boolean]>([
    ['published samples alone reach it', [rec('me', 24, 10, 0), rec('b', 16, 0, 0)], true],
    ['a computing peer counts one micro-batch in flight', [rec('me', 16, 10, 0), rec('b', 16, 8, 9_000)], true],
    ['a stalled peer counts nothing after three micro-batches', [rec('me', 16, 10, 0), rec('b', 16, 8, 7_000)], false],
    ['our own micro-batch is not in flight', [rec('me', 32, 10, 10_000)], false],
    ['other epochs do not count', [rec('me', 16, 10, 0), rec('b', 30, 8, 10_000, 2)], false],
  ])('%s', (_what, records, want) => {
    expect(inFlightReachesTarget(records, local)).toBe(want);
  });
});
