import { ArrivalTracker, type DeadlinePolicy } from './deadline.ts';

const policy: DeadlinePolicy = { quorum: 0.5, slackRatio: 1, slackMs: 100, stallMs: 50 };

describe('adaptive deadlines (quorum + slack, hard cap)', () => {
  it('sets no soft deadline before the quorum, then quorum time × (1 + slack) + slackMs', () => {
    const t = new ArrivalTracker(['a', 'b', 'c', 'd'], 1000, 60_000, policy);
    t.complete('a', 1200);
    expect(t.softDeadline()).toBeUndefined();
    expect(t.overdue(50_000)).toEqual([]);
    t.complete('b', 1400); // 2 of 4 = quorum at +400 ms
    expect(t.softDeadline()).toBe(1000 + 400 * 2 + 100);
  });

  it('drops silent stragglers at the soft deadline but not ones still delivering', () => {
    const t = new ArrivalTracker(['a', 'b', 'c', 'd'], 0, 60_000, policy);
    t.complete('a', 100);
    t.complete('b', 200);
    t.progress('c', 150);
    t.progress('d', 280);
    expect(t.overdue(499)).toEqual([]);
    // soft = 0 + 200·2 + 100 = 500: c last delivered 350 ms ago, d 220 ms ago
    expect(t.overdue(500)).toEqual([{ key: 'c', why: 'soft' }, { key: 'd', why: 'soft' }]);
    t.progress('d', 480);
    expect(t.overdue(500)).toEqual([{ key: 'c', why: 'soft' }]);
  });

  it('drops everyone pending at the hard deadline', () => {
    const t = new ArrivalTracker(['a', 'b'], 0, 1000, policy);
    t.progress('a', 999);
    expect(t.overdue(1000)).toEqual([{ key: 'a', why: 'hard' }, { key: 'b', why: 'hard' }]);
  });

  it('caps the soft deadline at the hard one', () => {
    const t = new ArrivalTracker(['a', 'b'], 0, 500, policy);
    t.complete('a', 400);
    expect(t.softDeadline()).toBe(500);
  });

  it('counts the quorum over the peers still expected (failures shrink it)', () => {
    const t = new ArrivalTracker(['a', 'b', 'c', 'd', 'e', 'f'], 0, 60_000, policy);
    t.complete('a', 100);
    t.complete('b', 200);
    expect(t.quorumAt).toBeUndefined(); // 2 of 6 < 3
    t.remove('c', 300);
    t.remove('d', 300);
    expect(t.quorumAt).toBe(300); // 2 of 4
    expect(t.pending).toEqual(['e', 'f']);
  });

  it('is done when nothing is pending, and ignores unknown keys', () => {
    const t = new ArrivalTracker<number>([], 0, 10, policy);
    expect(t.done).toBe(true);
    t.add(1);
    expect(t.done).toBe(false);
    t.progress(2, 5);
    t.complete(2, 5);
    expect(t.pending).toEqual([1]);
    t.complete(1, 6);
    expect(t.done).toBe(true);
    t.add(1); // completed keys are not re-added
    expect(t.done).toBe(true);
  });
});
