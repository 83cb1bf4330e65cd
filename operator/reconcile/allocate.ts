/**
 * Splits a swarm's peer budget across its placements (clusters). Pure.
 *
 * 1. Pods in unreachable clusters keep their count: we cannot see whether
 *    they still run, and placing duplicates elsewhere could exceed max.
 * 2. Scheduled pods are sticky: a placement keeps what already runs or is
 *    bound (in list order, if even that exceeds the ceiling).
 * 3. The rest of the budget goes one peer at a time to the placement with the
 *    lowest allocation per weight that still has room: what fits on its free
 *    GPUs plus maxPending waiting pods, up to its maxPeers.
 * 4. If that leaves fewer than min peers, placements take waiting pods beyond
 *    what fits, the same way, so min peers are always placed.
 */
export interface PlacementDemand {
  /** Weight of this placement in the split (≥ 1). */
  weight: number;
  reachable: boolean;
  /** Pods last seen in an unreachable cluster. */
  unknown: number;
  /** Pods bound to nodes (or running). */
  scheduled: number;
  /** Peers that fit now, or undefined when capacity is unknown (no limit). */
  fits?: number;
  /** Waiting pods allowed beyond what fits. */
  maxPending: number;
  /** The placement's own ceiling. */
  maxPeers: number;
}

function pick(ds: PlacementDemand[], alloc: number[], room: (i: number) => number): number {
  let best = -1;
  for (let i = 0; i < ds.length; i++) {
    if (!ds[i]!.reachable || room(i) <= 0) continue;
    if (best < 0 || (alloc[i]! + 1) / ds[i]!.weight < (alloc[best]! + 1) / ds[best]!.weight) best = i;
  }
  return best;
}

/** Peers each placement should have, in the order given. */
export function allocate(ds: PlacementDemand[], ceiling: number, min: number): number[] {
  const alloc = ds.map((d) => (d.reachable ? 0 : d.unknown));
  let budget = ceiling - alloc.reduce((a, b) => a + b, 0);
  for (let i = 0; i < ds.length && budget > 0; i++) {
    const d = ds[i]!;
    if (!d.reachable) continue;
    const keep = Math.min(d.scheduled, d.maxPeers, budget);
    alloc[i] = keep;
    budget -= keep;
  }
  const target = (i: number): number => {
    const d = ds[i]!;
    return d.fits === undefined ? d.maxPeers : Math.min(d.maxPeers, d.scheduled + d.fits + d.maxPending);
  };
  while (budget > 0) {
    const i = pick(ds, alloc, (j) => target(j) - alloc[j]!);
    if (i < 0) break;
    alloc[i]!++;
    budget--;
  }
  let total = alloc.reduce((a, b) => a + b, 0);
  while (total < min && budget > 0) {
    const i = pick(ds, alloc, (j) => ds[j]!.maxPeers - alloc[j]!);
    if (i < 0) break;
    alloc[i]!++;
    budget--;
    total++;
  }
  return alloc;
}
