/**
 * Partitioning (pure): cut a flat vector into one contiguous shard per group
 * member, sized in proportion to the members' bandwidths, and cut shards
 * into chunks for streaming.
 */

export interface Shard {
  /** Member index in the group = the shard's primary reducer. */
  index: number;
  /** First element in the vector. */
  start: number;
  /** Number of elements (may be 0). */
  length: number;
}

/**
 * Effective bandwidth shares: unknown (undefined) bandwidths take the mean of
 * the known positive ones (1 if there are none); an explicit 0 means "reduce
 * nothing" (client mode); if every share is 0, all members share equally.
 */
export function bandwidthShares(bandwidths: readonly (number | undefined)[]): number[] {
  const known = bandwidths.filter((b): b is number => b !== undefined && b > 0);
  const fill = known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : 1;
  const shares = bandwidths.map((b) => (b === undefined ? fill : b));
  return shares.some((s) => s > 0) ? shares : shares.map(() => 1);
}

/**
 * Split `length` elements into `bandwidths.length` contiguous shards with
 * sizes proportional to the bandwidth shares, by the largest-remainder
 * method (ties to the lower index), so the sizes sum to `length` exactly and
 * every member computes the same partition.
 */
export function partition(length: number, bandwidths: readonly (number | undefined)[]): Shard[] {
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`partition: bad length ${length}`);
  const n = bandwidths.length;
  if (n === 0) throw new RangeError('partition: no members');
  for (const b of bandwidths) {
    if (b !== undefined && !(Number.isFinite(b) && b >= 0)) throw new RangeError(`partition: bad bandwidth ${b}`);
  }
  const shares = bandwidthShares(bandwidths);
  const total = shares.reduce((a, b) => a + b, 0);
  const exact = shares.map((s) => (length * s) / total);
  const sizes = exact.map((x) => Math.floor(x));
  let rest = length - sizes.reduce((a, b) => a + b, 0);
  const order = exact
    .map((x, i) => ({ i, frac: x - Math.floor(x), share: shares[i]! }))
    .filter((o) => o.share > 0)
    .sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; rest > 0; k = (k + 1) % order.length, rest--) sizes[order[k]!.i]!++;
  const out: Shard[] = [];
  let start = 0;
  for (let i = 0; i < n; i++) {
    out.push({ index: i, start, length: sizes[i]! });
    start += sizes[i]!;
  }
  return out;
}

/** Elements per chunk for a byte budget: whole int8 blocks, at least one block. */
export function chunkElements(chunkBytes: number, blockSize: number): number {
  return Math.max(blockSize, Math.floor(chunkBytes / 4 / blockSize) * blockSize);
}

/** [offset, count] pairs covering [0, length) in steps of `chunk` elements. */
export function chunks(length: number, chunk: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let o = 0; o < length; o += chunk) out.push([o, Math.min(chunk, length - o)]);
  return out;
}
