import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  claim, complete, doneShare, EMPTY_PASS_RETRY_MS, fail, initialPool, parsePool, parsePosition, positionOf, type PoolState, release, renew, restorePool,
} from './pool.ts';

const LEASE = 1_000;

function claimed(s: PoolState, peer: string, now = 0): { unit: number; state: PoolState } {
  const c = claim(s, { peer, now, leaseMs: LEASE });
  if (c.kind !== 'claimed' && c.kind !== 'held') throw new Error(`expected a unit, got ${c.kind}`);
  return c;
}

function ok(u: ReturnType<typeof complete>): PoolState {
  if (!u.ok) throw new Error(u.reason);
  return u.state;
}

describe('data unit pool', () => {
  it('peers claim different units; a peer that asks again keeps its own (lease renewed)', () => {
    let s = initialPool(3, 0);
    const a = claimed(s, 'a');
    s = a.state;
    const b = claimed(s, 'b');
    s = b.state;
    expect(b.unit).not.toBe(a.unit);
    const again = claim(s, { peer: 'a', now: 500, leaseMs: LEASE });
    expect(again).toMatchObject({ kind: 'held', unit: a.unit });
    expect(again.kind === 'held' && again.state.leases.find((l) => l.peer === 'a')!.expires).toBe(1_500);
  });

  it('table: renew, complete, fail and release, with the reasons they are refused', () => {
    const s0 = claimed(initialPool(2, 0), 'a').state;
    const u = s0.leases[0]!.unit;
    const cases: [string, ReturnType<typeof complete>, boolean | string][] = [
      ['renew by holder', renew(s0, { peer: 'a', unit: u, pass: 0, now: 10, leaseMs: LEASE }), true],
      ['renew by another', renew(s0, { peer: 'b', unit: u, pass: 0, now: 10, leaseMs: LEASE }), 'not-held'],
      ['renew in another pass', renew(s0, { peer: 'a', unit: u, pass: 1, now: 10, leaseMs: LEASE }), 'other-pass'],
      ['complete by holder', complete(s0, { peer: 'a', unit: u, pass: 0, now: 10 }), true],
      ['complete by another while the lease lives', complete(s0, { peer: 'b', unit: u, pass: 0, now: 10 }), 'taken'],
      ['complete by another once it expired', complete(s0, { peer: 'b', unit: u, pass: 0, now: LEASE }), true],
      ['complete twice', complete(ok(complete(s0, { peer: 'a', unit: u, pass: 0, now: 10 })), { peer: 'a', unit: u, pass: 0, now: 10 }), 'finished'],
      ['fail by holder', fail(s0, { peer: 'a', unit: u, pass: 0, now: 10 }), true],
      ['complete a failed unit', complete(ok(fail(s0, { peer: 'a', unit: u, pass: 0, now: 10 })), { peer: 'a', unit: u, pass: 0, now: 10 }), 'finished'],
    ];
    for (const [name, r, want] of cases) expect({ name, r: r.ok ? true : r.reason }).toEqual({ name, r: want });
    expect(ok(complete(s0, { peer: 'a', unit: u, pass: 0, now: 10 }))).toMatchObject({ done: [u], leases: [] });
    expect(ok(fail(s0, { peer: 'a', unit: u, pass: 0, now: 10 }))).toMatchObject({ failed: [u], leases: [] });
    expect(release(s0, 'a').leases).toEqual([]);
    expect(release(s0, 'b').leases).toHaveLength(1);
  });

  it('an expired lease is taken over only when no unit is pending; a live one never', () => {
    let s = claimed(initialPool(2, 0), 'a').state;
    const ua = s.leases[0]!.unit;
    const b = claimed(s, 'b', 5_000);
    expect(b.unit).not.toBe(ua); // the pending unit first, although a's lease expired
    s = ok(complete(b.state, { peer: 'b', unit: b.unit, pass: 0, now: 5_000 }));
    expect(claim(s, { peer: 'c', now: 500, leaseMs: LEASE })).toEqual({ kind: 'wait', reason: 'all-leased' });
    const c = claim(s, { peer: 'c', now: 5_000, leaseMs: LEASE });
    expect(c).toMatchObject({ kind: 'claimed', unit: ua, tookOver: { peer: 'a', unit: ua } });
    // a's late renewal is refused: the unit is c's now.
    expect(c.kind === 'claimed' && renew(c.state, { peer: 'a', unit: ua, pass: 0, now: 5_001, leaseMs: LEASE })).toEqual({ ok: false, reason: 'not-held' });
  });

  it('the claim after the last unit starts the next pass; a completion from the old pass is refused', () => {
    let s = initialPool(1, 0);
    s = ok(complete(claimed(s, 'a').state, { peer: 'a', unit: 0, pass: 0, now: 1 }));
    const c = claim(s, { peer: 'b', now: 2, leaseMs: LEASE });
    expect(c).toMatchObject({ kind: 'claimed', unit: 0, newPass: true, state: { pass: 1, done: [], passStartedAt: 2 } });
    expect(c.kind === 'claimed' && complete(c.state, { peer: 'a', unit: 0, pass: 0, now: 3 })).toEqual({ ok: false, reason: 'other-pass' });
  });

  it('a pass in which every unit failed is not started again before EMPTY_PASS_RETRY_MS', () => {
    let s = initialPool(1, 0);
    s = ok(fail(claimed(s, 'a').state, { peer: 'a', unit: 0, pass: 0, now: 1 }));
    expect(claim(s, { peer: 'a', now: EMPTY_PASS_RETRY_MS - 1, leaseMs: LEASE })).toEqual({ kind: 'wait', reason: 'empty-pass' });
    expect(claim(s, { peer: 'a', now: EMPTY_PASS_RETRY_MS, leaseMs: LEASE })).toMatchObject({ kind: 'claimed', newPass: true, state: { pass: 1 } });
  });

  it('share done is by bytes when known, else by units; restore keeps the pass and the done units', () => {
    const c = claimed(initialPool(2, 0), 'a');
    const s = ok(complete(c.state, { peer: 'a', unit: c.unit, pass: 0, now: 1 }));
    const u = c.unit;
    const bytes = u === 0 ? [30, 10] : [10, 30];
    expect(doneShare(s, bytes)).toBe(0.75);
    expect(doneShare(s, [0, 0])).toBe(0.5);
    const r = restorePool(2, positionOf({ ...s, pass: 4 }), 9);
    expect(r).toMatchObject({ pass: 4, done: [u], leases: [], failed: [], passStartedAt: 9 });
  });

  it('parsePool names the first bad field; parsePosition ignores what it cannot read', () => {
    const good = initialPool(3, 0);
    expect(parsePool(JSON.parse(JSON.stringify(good)), 3)).toEqual(good);
    expect(() => parsePool({ ...good, units: 4 }, 3)).toThrow('pool.units: 4, the corpus has 3');
    expect(() => parsePool({ ...good, done: [3] }, 3)).toThrow('pool.done[0]');
    expect(() => parsePool({ ...good, leases: [{ unit: 0, peer: '', expires: 1 }] }, 3)).toThrow('pool.leases[0].peer');
    expect(() => parsePool(null, 3)).toThrow('pool: not an object');
    expect(parsePosition('{"pass":2,"done":[0,5]}')).toEqual({ pass: 2, done: [0, 5] });
    for (const bad of [undefined, '', 'x', '{"pass":-1,"done":[]}', '{"pass":1,"done":["a"]}']) expect(parsePosition(bad)).toBeUndefined();
  });

  it('property: whatever peers do (claims, renewals, completions, failures, releases, clock), no unit is held twice, each is finished at most once per pass, and a pass ends only with every unit finished', () => {
    const peers = ['p0', 'p1', 'p2', 'p3'];
    const op = fc.record({
      kind: fc.constantFrom('claim', 'claim', 'renew', 'complete', 'complete', 'fail', 'release', 'tick'),
      peer: fc.constantFrom(...peers),
      dt: fc.integer({ min: 0, max: 2 * LEASE }),
    });
    fc.assert(fc.property(fc.integer({ min: 1, max: 7 }), fc.array(op, { maxLength: 200 }), (units, ops) => {
      let s = initialPool(units, 0);
      let now = 0;
      /** What each peer believes it reads: (unit, pass). */
      const reading = new Map<string, { unit: number; pass: number }>();
      const finishedThisPass = new Set<number>();
      for (const o of ops) {
        if (o.kind === 'tick') now += o.dt;
        else if (o.kind === 'claim') {
          const c = claim(s, { peer: o.peer, now, leaseMs: LEASE });
          if (c.kind === 'wait') continue;
          if (c.kind === 'claimed' && c.newPass) {
            // A pass ends only when every unit is done or failed.
            expect(finishedThisPass.size).toBe(units);
            finishedThisPass.clear();
          }
          s = c.state;
          reading.set(o.peer, { unit: c.unit, pass: s.pass });
        } else if (o.kind === 'release') {
          s = release(s, o.peer);
          reading.delete(o.peer);
        } else {
          const r = reading.get(o.peer);
          if (r === undefined) continue;
          const ref = { peer: o.peer, ...r, now };
          const u = o.kind === 'renew' ? renew(s, { ...ref, leaseMs: LEASE }) : o.kind === 'fail' ? fail(s, ref) : complete(s, ref);
          if (o.kind !== 'renew') reading.delete(o.peer);
          if (!u.ok) continue;
          if (o.kind !== 'renew') {
            expect(finishedThisPass.has(r.unit)).toBe(false);
            finishedThisPass.add(r.unit);
          }
          s = u.state;
        }
        const held = s.leases.map((l) => l.unit);
        expect(new Set(held).size).toBe(held.length);
        expect(new Set(s.leases.map((l) => l.peer)).size).toBe(s.leases.length);
        for (const u of held) expect(s.done.includes(u) || s.failed.includes(u)).toBe(false);
        expect(new Set([...s.done, ...s.failed]).size).toBe(s.done.length + s.failed.length);
        expect([...s.done, ...s.failed].sort()).toEqual([...finishedThisPass].sort());
      }
    }));
  });

  it('property: peers that read every unit they claim finish each pass with every unit done exactly once', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.array(fc.nat(2), { minLength: 1, maxLength: 300 }), (units, who) => {
      let s = initialPool(units, 0);
      const doneCount = new Map<string, number>();
      for (const w of who) {
        const peer = `p${w}`;
        const c = claim(s, { peer, now: 0, leaseMs: LEASE });
        if (c.kind === 'wait') continue;
        const key = `${c.state.pass}/${c.unit}`;
        s = ok(complete(c.state, { peer, unit: c.unit, pass: c.state.pass, now: 0 }));
        doneCount.set(key, (doneCount.get(key) ?? 0) + 1);
      }
      expect([...doneCount.values()].every((n) => n === 1)).toBe(true);
      for (let p = 0; p < s.pass; p++) for (let u = 0; u < units; u++) expect(doneCount.get(`${p}/${u}`)).toBe(1);
    }));
  });
});
