import fc from 'fast-check';
import { decodeAssignment, encodeAssignment, findGroup, type RoundAssignment } from './assignment.ts';
import { buildAssignment } from './matchmaking.ts';
import { makePeerIds } from './testing.ts';

let ids: string[] = [];
beforeAll(async () => {
  ids = await makePeerIds(10);
});
const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

function sample(): RoundAssignment {
  return buildAssignment({
    epoch: 5,
    leader: ids[0]!,
    createdAt: 1234,
    maxGroupSize: 4,
    seed: 'swarm-uid',
    candidates: ids.slice(0, 10).map((peerId, i) => ({ peerId, weight: i === 9 ? 0 : 10 + i, multiaddrs: [`/ip4/127.0.0.1/tcp/${4000 + i}`] })),
  });
}

describe('round assignment codec', () => {
  it('round-trips what a leader builds, and finds each peer’s group', () => {
    const a = sample();
    expect(a.groups.length).toBeGreaterThan(1);
    const d = decodeAssignment(encodeAssignment(a), 5);
    expect(d).toEqual({ ok: true, assignment: a });
    for (const id of ids) {
      const g = findGroup(a, id);
      expect(g === undefined).toBe(a.waiting.includes(id));
      if (g) expect(g.members.some((m) => m.peerId === id)).toBe(true);
    }
  });

  it('rejects an assignment stored under another epoch’s key', () => {
    const d = decodeAssignment(encodeAssignment(sample()), 6);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(/epoch/);
  });

  it.each<[string, (a: RoundAssignment) => unknown, RegExp]>([
    ['duplicate member', (a) => ({ ...a, groups: [[...a.groups[0]!, a.groups[0]![0]!]] }), /appears twice|exceed/],
    ['oversized group', (a) => ({ ...a, maxGroupSize: 2 }), /exceed maxGroupSize/],
    ['empty group', (a) => ({ ...a, groups: [...a.groups, []] }), /non-empty/],
    ['zero-weight group', (a) => ({ ...a, groups: [a.groups[0]!.map((m) => ({ ...m, weight: 0 }))] }), /total weight/],
    ['negative weight', (a) => ({ ...a, groups: [[{ ...a.groups[0]![0]!, weight: -1 }]] }), /weight/],
    ['fractional weight', (a) => ({ ...a, groups: [[{ ...a.groups[0]![0]!, weight: 0.5 }]] }), /weight/],
    ['waiting peer also in a group', (a) => ({ ...a, waiting: [a.groups[0]![0]!.peerId] }), /also in a group/],
    ['bad leader', (a) => ({ ...a, leader: 'nope' }), /leader/],
    ['unknown member field', (a) => ({ ...a, groups: [[{ ...a.groups[0]![0]!, extra: 1 }]] }), /unknown field/],
    ['version', (a) => ({ ...a, v: 9 }), /field v/],
  ])('rejects %s', (_name, mutate, re) => {
    const d = decodeAssignment(enc(mutate(sample())));
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.error).toMatch(re);
  });

  it('property: arbitrary mutations of a member never throw', () => {
    const fields = ['peerId', 'weight', 'multiaddrs', 'bandwidth', 'extra'];
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.jsonValue(), (field, value) => {
        const a = sample();
        const g0 = a.groups[0]!;
        const raw = { ...a, groups: [[{ ...g0[0]!, [field]: value }, ...g0.slice(1)], ...a.groups.slice(1)] };
        const d = decodeAssignment(enc(raw));
        return d.ok ? encodeAssignment(d.assignment).byteLength > 0 : d.error.length > 0;
      }),
      { numRuns: 1000 },
    );
  });
});
