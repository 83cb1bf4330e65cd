/**
 * Group forming for one round: a pure function of the candidates, the round
 * number and the swarm's seed. Only the round's leader runs it (the leader
 * writes its output to the rounds bucket and every peer reads it back), so
 * determinism is not what makes peers agree; it makes the schedule
 * reproducible and testable.
 *
 * Moshpit-style mixing (Ryabinin et al., 2021): peers with weight > 0 are
 * placed on a virtual grid of D dimensions of side R ≤ maxGroupSize, with
 * R^D ≥ n. Round r groups the peers that share every coordinate except
 * coordinate (r mod D). The placement is a permutation seeded by
 * (seed, floor(r / D)), so it stays put for D consecutive rounds and then
 * reshuffles. On a full grid with equal weights, D consecutive rounds give
 * every peer the exact global mean; on a partial grid the spread still
 * shrinks every round. Peers with weight 0 tag along, filling the smallest
 * groups up to maxGroupSize; those that do not fit wait for the next round.
 */

export interface Candidate {
  peerId: string;
  /** Samples to weight this peer by; 0 = tag-along. */
  weight: number;
  multiaddrs: string[];
  bandwidth?: number;
}

export interface FormGroupsInput {
  candidates: readonly Candidate[];
  /** The round number (the epoch); selects the grid dimension and the placement block. */
  round: number;
  maxGroupSize: number;
  /** Swarm-specific seed (e.g. the swarm's uid), so different swarms mix differently. */
  seed: string;
}

export interface FormGroupsOutput {
  /** Each group ordered by peer id; every group has total weight > 0 and size ≤ maxGroupSize. */
  groups: Candidate[][];
  /** Peer ids left out of this round (tag-alongs that did not fit, or everyone when all weights are 0). */
  waiting: string[];
}

/** 32-bit FNV-1a of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A permutation of 0..n-1, fixed by `seed` (Fisher–Yates). */
export function seededPermutation(n: number, seed: string): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  const rnd = prng(fnv1a(seed));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = p[i] as number;
    p[i] = p[j] as number;
    p[j] = t;
  }
  return p;
}

/** Grid shape for n peers and groups of at most m: the fewest dimensions D with m^D ≥ n, and the smallest side R with R^D ≥ n. */
export function gridShape(n: number, m: number): { dims: number; side: number } {
  if (n <= m) return { dims: 1, side: Math.max(n, 1) };
  let dims = 1;
  while (m ** dims < n) dims++;
  let side = Math.max(2, Math.floor(n ** (1 / dims)));
  while (side ** dims < n) side++;
  return { dims, side };
}

const byPeerId = (a: Candidate, b: Candidate): number => (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0);

export function formGroups(inp: FormGroupsInput): FormGroupsOutput {
  const m = inp.maxGroupSize;
  if (!Number.isInteger(m) || m < 2) throw new RangeError(`maxGroupSize must be an integer >= 2, got ${m}`);
  if (!Number.isInteger(inp.round) || inp.round < 0) throw new RangeError(`round must be an integer >= 0, got ${inp.round}`);
  // Canonical order, one entry per peer id (the first after sorting wins).
  const sorted = [...inp.candidates].sort(byPeerId).filter((c, i, a) => i === 0 || a[i - 1]?.peerId !== c.peerId);
  const weighted = sorted.filter((c) => c.weight > 0);
  const tagAlongs = sorted.filter((c) => !(c.weight > 0));
  if (weighted.length === 0) return { groups: [], waiting: sorted.map((c) => c.peerId) };

  const n = weighted.length;
  const { dims, side } = gridShape(n, m);
  let groups: Candidate[][];
  if (dims === 1) {
    groups = [weighted];
  } else {
    const block = Math.floor(inp.round / dims);
    const dim = inp.round % dims;
    const perm = seededPermutation(n, `${inp.seed}/${block}`);
    const byKey = new Map<number, Candidate[]>();
    for (let pos = 0; pos < n; pos++) {
      // Group key: the position's base-`side` digits with digit `dim` zeroed.
      const digit = Math.floor(pos / side ** dim) % side;
      const key = pos - digit * side ** dim;
      const c = weighted[perm[pos] as number] as Candidate;
      const g = byKey.get(key);
      if (g) g.push(c);
      else byKey.set(key, [c]);
    }
    groups = [...byKey.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
  }

  // A group of one averages nothing: merge it into the smallest group with room.
  for (;;) {
    const single = groups.findIndex((g) => g.length === 1);
    if (single < 0) break;
    let target = -1;
    for (let i = 0; i < groups.length; i++) {
      if (i === single || (groups[i] as Candidate[]).length >= m) continue;
      if (target < 0 || (groups[i] as Candidate[]).length < (groups[target] as Candidate[]).length) target = i;
    }
    if (target < 0) break;
    (groups[target] as Candidate[]).push(...(groups[single] as Candidate[]));
    groups.splice(single, 1);
  }

  // Tag-alongs fill the smallest groups; the rest wait.
  const waiting: string[] = [];
  for (const c of tagAlongs) {
    let target = -1;
    for (let i = 0; i < groups.length; i++) {
      if ((groups[i] as Candidate[]).length >= m) continue;
      if (target < 0 || (groups[i] as Candidate[]).length < (groups[target] as Candidate[]).length) target = i;
    }
    if (target < 0) waiting.push(c.peerId);
    else (groups[target] as Candidate[]).push({ ...c, weight: 0 });
  }
  return { groups: groups.map((g) => [...g].sort(byPeerId)), waiting };
}
