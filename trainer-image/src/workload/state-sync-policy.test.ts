import { describe, expect, it } from '@jest/globals';
import type { DonorMeta, MetaFrame } from '../state/index.ts';
import type { RoundAssignment } from '../swarm/index.ts';
import { decideSync, roundMembersMovedOn, type SyncDecision, type SyncView } from './state-sync-policy.ts';

const FP = 'f'.repeat(64);
const meta = (peerId: string, epoch: number, fingerprint = FP): DonorMeta => ({
  peerId,
  meta: { type: 'meta', epoch, workloadEpoch: epoch, totalBytes: 10, chunkBytes: 10, chunks: 1, mode: 'gradient', sha256: `${epoch}`.padStart(64, '0'), fingerprint } satisfies MetaFrame,
});
const view = (over: Partial<SyncView>): SyncView => ({
  epoch: 5, stateEpoch: 4, fingerprint: FP, livePeers: 2, metas: [meta('p1', 4), meta('p2', 4)], steppedWithout: undefined, now: 100, newestCheckpoint: undefined, ...over,
});

describe('decideSync', () => {
  it.each<[string, Partial<SyncView>, SyncDecision]>([
    ['live peers hold our epoch: download from those that agree', { metas: [meta('p2', 5), meta('p1', 5), meta('p3', 4)] }, { kind: 'download', donors: ['p1', 'p2'] }],
    ['live peers hold a newer epoch: download it', { metas: [meta('p1', 7)] }, { kind: 'download', donors: ['p1'] }],
    ['a joiner takes any state of its epoch', { stateEpoch: undefined, metas: [meta('p1', 5)] }, { kind: 'download', donors: ['p1'] }],
    ['other models do not count', { metas: [meta('p1', 9, 'a'.repeat(64))] }, { kind: 'waitForDonor' }],
    ['newer than ours but not our epoch: they are finishing a round', { metas: [meta('p1', 4), meta('p2', 4)], stateEpoch: 3 }, { kind: 'waitForDonor' }],
    ['live peers, none answered: they are syncing', { metas: [{ peerId: 'p1', error: 'no state' }] }, { kind: 'waitForDonor' }],
    ['a joiner with live peers holding nothing newer than nothing waits', { stateEpoch: undefined, metas: [meta('p1', 0)] }, { kind: 'waitForDonor' }],
    ['a joiner alone resumes from the checkpoint', { stateEpoch: undefined, livePeers: 0, metas: [] }, { kind: 'resumeFromCheckpoint' }],
    ['peers live, nothing newer, no round finished without us: relabel', {}, { kind: 'relabel', stateEpoch: 4, lostEpochs: 0, steppedWithout: false }],
    ['alone: look at the checkpoints first', { livePeers: 0, metas: [] }, { kind: 'listCheckpoints' }],
    ['alone, a newer checkpoint: resume from it', { livePeers: 0, metas: [], newestCheckpoint: 5 }, { kind: 'resumeFromCheckpoint' }],
    ['alone, no newer checkpoint: relabel and say what was lost', { livePeers: 0, metas: [], newestCheckpoint: 4, epoch: 7 }, { kind: 'relabel', stateEpoch: 4, lostEpochs: 3, steppedWithout: false }],
    ['stepped without us: look at the checkpoints', { steppedWithout: { epoch: 5, until: 200 } }, { kind: 'listCheckpoints' }],
    ['stepped without us, their checkpoint not there yet: wait', { steppedWithout: { epoch: 5, until: 200 }, newestCheckpoint: 3 }, { kind: 'waitForCheckpoint', stepped: { epoch: 5, until: 200 }, newestCheckpoint: 3 }],
    ['stepped without us, their checkpoint is there: resume', { steppedWithout: { epoch: 5, until: 200 }, newestCheckpoint: 5 }, { kind: 'resumeFromCheckpoint' }],
    ['stepped without us, waited long enough: keep ours', { steppedWithout: { epoch: 5, until: 200 }, newestCheckpoint: 4, now: 200 }, { kind: 'relabel', stateEpoch: 4, lostEpochs: 1, steppedWithout: true }],
    ['a stepped-without older than our state does not count', { steppedWithout: { epoch: 4, until: 200 } }, { kind: 'relabel', stateEpoch: 4, lostEpochs: 0, steppedWithout: false }],
  ])('%s', (_what, over, want) => {
    expect(decideSync(view(over))).toEqual(want);
  });
});

describe('roundMembersMovedOn', () => {
  const round = { v: 1, epoch: 4, leader: 'a', createdAt: 0, maxGroupSize: 4, groups: [[{ peerId: 'me', weight: 1, multiaddrs: [] }, { peerId: 'b', weight: 1, multiaddrs: [] }], [{ peerId: 'c', weight: 1, multiaddrs: [] }]], waiting: [] } as RoundAssignment;
  it.each<[string, { peerId: string; epoch: number }[], boolean]>([
    ['a member still at the round epoch', [{ peerId: 'me', epoch: 4 }, { peerId: 'b', epoch: 5 }, { peerId: 'c', epoch: 4 }], false],
    ['every other member past it (ours does not count)', [{ peerId: 'me', epoch: 4 }, { peerId: 'b', epoch: 5 }, { peerId: 'c', epoch: 6 }], true],
    ['members gone; a non-member at the epoch does not count', [{ peerId: 'x', epoch: 4 }], true],
  ])('%s', (_what, live, want) => {
    expect(roundMembersMovedOn(round, live, 'me')).toBe(want);
  });
});
