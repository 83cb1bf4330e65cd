import { PodExpectations } from './expectations.ts';

const TTL = 60_000;

function setup(): { e: PodExpectations; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { e: new PodExpectations({ now: () => t, ttlMs: TTL }), advance: (ms) => { t += ms; } };
}

const none = new Set<string>();

describe('PodExpectations', () => {
  it('expects nothing at first', () => {
    const { e } = setup();
    expect(e.observe('u1', 'local', none)).toEqual({ created: [], deleting: new Set() });
    expect(e.inFlightElsewhere('u1', 'local')).toBe(0);
  });

  it('counts decided creations of other swarms in the same placement only', () => {
    const { e } = setup();
    e.expectCreations('u1', 'local', 3);
    expect(e.inFlightElsewhere('u2', 'local')).toBe(3);
    expect(e.inFlightElsewhere('u1', 'local')).toBe(0);
    expect(e.inFlightElsewhere('u2', 'east')).toBe(0);
  });

  it('replaces the decided count with the pods created, which the cache then observes', () => {
    const { e, advance } = setup();
    e.expectCreations('u1', 'local', 3);
    advance(5);
    // One of three creates failed.
    e.creationsAnswered('u1', 'local', [{ name: 'a', resourceVersion: '7' }, { name: 'b' }]);
    expect(e.inFlightElsewhere('u2', 'local')).toBe(2);
    expect(e.observe('u1', 'local', none)).toEqual({
      created: [{ name: 'a', at: 1_000_005, resourceVersion: '7' }, { name: 'b', at: 1_000_005 }],
      deleting: new Set(),
    });
    expect(e.observe('u1', 'local', new Set(['a'])).created.map((c) => c.name)).toEqual(['b']);
    expect(e.observe('u1', 'local', new Set(['b'])).created).toEqual([]);
    expect(e.inFlightElsewhere('u2', 'local')).toBe(0);
  });

  it('drops the decided count when the reconcile ends without creating', () => {
    const { e } = setup();
    e.expectCreations('u1', 'local', 2);
    e.creationsAbandoned('u1', 'local');
    expect(e.inFlightElsewhere('u2', 'local')).toBe(0);
    // Abandoning what was never expected is harmless.
    e.creationsAbandoned('u3', 'local');
  });

  it('keeps answered creations when the reconcile ends (only the decided count goes)', () => {
    const { e } = setup();
    e.expectCreations('u1', 'local', 1);
    e.creationsAnswered('u1', 'local', [{ name: 'a' }]);
    e.creationsAbandoned('u1', 'local');
    expect(e.inFlightElsewhere('u2', 'local')).toBe(1);
  });

  it('expects a deleted pod to go until the cache no longer shows it', () => {
    const { e } = setup();
    e.expectDeletion('u1', 'local', 'a');
    expect(e.observe('u1', 'local', new Set(['a', 'b'])).deleting).toEqual(new Set(['a']));
    expect(e.observe('u1', 'local', new Set(['a'])).deleting).toEqual(new Set(['a']));
    expect(e.observe('u1', 'local', new Set(['b'])).deleting).toEqual(new Set());
    // Observed once, the deletion is not expected again even if a pod of that name shows up.
    expect(e.observe('u1', 'local', new Set(['a'])).deleting).toEqual(new Set());
  });

  describe('TTL: a lost event cannot wedge the controller', () => {
    it('a creation the cache never shows lapses after the TTL', () => {
      const { e, advance } = setup();
      e.creationsAnswered('u1', 'local', [{ name: 'a' }]);
      advance(TTL);
      expect(e.observe('u1', 'local', none).created.map((c) => c.name)).toEqual(['a']);
      expect(e.inFlightElsewhere('u2', 'local')).toBe(1);
      advance(1);
      expect(e.observe('u1', 'local', none).created).toEqual([]);
      expect(e.inFlightElsewhere('u2', 'local')).toBe(0);
    });

    it('a deletion the cache never observes lapses after the TTL', () => {
      const { e, advance } = setup();
      e.expectDeletion('u1', 'local', 'a');
      advance(TTL + 1);
      expect(e.observe('u1', 'local', new Set(['a'])).deleting).toEqual(new Set());
    });

    it('a decided count that is never answered nor abandoned lapses after the TTL', () => {
      const { e, advance } = setup();
      e.expectCreations('u1', 'local', 4);
      advance(TTL + 1);
      expect(e.inFlightElsewhere('u2', 'local')).toBe(0);
    });

    it('lapses for a swarm that is gone too: other swarms stop counting its creations without it reconciling again', () => {
      const { e, advance } = setup();
      e.creationsAnswered('gone', 'local', [{ name: 'a' }, { name: 'b' }]);
      e.expectCreations('u1', 'local', 1);
      advance(TTL / 2);
      e.expectCreations('u3', 'local', 1);
      advance(TTL / 2 + 1);
      expect(e.inFlightElsewhere('u2', 'local')).toBe(1);
    });
  });
});
