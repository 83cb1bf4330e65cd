import { allocate, type PlacementDemand } from './allocate.ts';

const d = (over: Partial<PlacementDemand> = {}): PlacementDemand => ({ weight: 1, reachable: true, unknown: 0, scheduled: 0, maxPending: 0, maxPeers: 1000, ...over });

describe('allocate', () => {
  it('matches the single-cluster rule: scheduled + fits + maxPending within [min, max]', () => {
    expect(allocate([d({ scheduled: 2, fits: 3, maxPending: 1 })], 10, 1)).toEqual([6]);
    expect(allocate([d({ scheduled: 2, fits: 30, maxPending: 1 })], 10, 1)).toEqual([10]);
    expect(allocate([d({ fits: 0 })], 10, 3)).toEqual([3]);
    expect(allocate([d()], 7, 0)).toEqual([7]); // capacity unknown: the ceiling
  });

  it('splits by weight where GPUs are free, list order breaking ties', () => {
    expect(allocate([d({ fits: 100 }), d({ fits: 100 })], 5, 0)).toEqual([3, 2]);
    expect(allocate([d({ fits: 100, weight: 3 }), d({ fits: 100 })], 8, 0)).toEqual([6, 2]);
  });

  it('sends peers where GPUs are free when a cluster is full', () => {
    expect(allocate([d({ fits: 1 }), d({ fits: 100 })], 10, 0)).toEqual([1, 9]);
  });

  it('keeps scheduled pods in place even when weights would split otherwise', () => {
    expect(allocate([d({ scheduled: 6, fits: 0 }), d({ fits: 100 })], 8, 0)).toEqual([6, 2]);
  });

  it('counts pods in unreachable clusters toward the ceiling and places nothing there', () => {
    expect(allocate([d({ reachable: false, unknown: 4, fits: 100 }), d({ fits: 100 })], 6, 0)).toEqual([4, 2]);
    expect(allocate([d({ reachable: false, unknown: 7 }), d({ fits: 100 })], 6, 0)).toEqual([7, 0]);
  });

  it('honours each placement\'s maxPeers, even for min', () => {
    expect(allocate([d({ fits: 100, maxPeers: 2 }), d({ fits: 100, maxPeers: 1 })], 10, 5)).toEqual([2, 1]);
  });

  it('trims sticky pods to the ceiling in list order', () => {
    expect(allocate([d({ scheduled: 3 }), d({ scheduled: 3 })], 4, 0)).toEqual([3, 1]);
  });
});
