/**
 * Verified reduction (pure): a defence against a Byzantine *reducer*. In
 * the butterfly all-reduce, member j alone reduces shard j and sends the
 * result to everyone, signed; a malicious reducer could send any finite
 * values and every member would apply them. Robust rules bound what one
 * *contributor* can do, not what one reducer does.
 *
 * With `robust.verifyReducers`, a round runs in passes over the same
 * vector: pass k is the same round with the members rotated by k, so shard
 * j is reduced by member j + k. Bandwidths stay where they were, so the
 * shards keep their boundaries, and robust rules see their parts in
 * peer-id order (reduce.ts), so honest reducers produce the same bytes in
 * every pass. Each member then takes, per shard, the result that reducers
 * of two different peers agree on bit for bit. With three or more members
 * there are three passes, and one Byzantine reducer is outvoted; with two
 * there are two, and a disagreement can only be detected, not settled.
 * A shard with no two agreeing reducers fails the round (no member applies
 * what it cannot verify). Cost: two or three rounds instead of one.
 */
import { ReducersDisagreeError } from './errors.ts';
import type { Averager, GroupMember, Outvoted, RoundResult, RoundSpec } from './types.ts';

/** Passes a verified round needs for `members` members: a majority of three, or two that must agree. */
export function passesFor(members: number): number {
  return members >= 3 ? 3 : members;
}

/**
 * The spec of pass `k`: members rotated by k (member i of pass k is member
 * i + k of the round), each position keeping its bandwidth so that the
 * shards keep their boundaries. Pass 0 is the spec itself.
 */
export function passSpec(spec: RoundSpec, k: number): RoundSpec {
  if (k === 0) return spec;
  const n = spec.members.length;
  const members = spec.members.map((slot, i): GroupMember => {
    const m = spec.members[(i + k) % n]!;
    return slot.bandwidth === undefined ? { peerId: m.peerId, weight: m.weight } : { peerId: m.peerId, weight: m.weight, bandwidth: slot.bandwidth };
  });
  return { ...spec, roundId: `${spec.roundId}v${k}`, members };
}

export type PassVerdict =
  | { ok: true; vector: Float32Array; outvoted: Outvoted[] }
  | { ok: false; undecided: number[]; outvoted: Outvoted[] };

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Per shard, the result two reducers of different peers agree on, over the
 * passes' results (pass order). A shard a pass kept local values for is no
 * vote. Reducers whose result for a shard differs from the agreed one are
 * outvoted.
 */
export function agreeOnShards(passes: readonly RoundResult[]): PassVerdict {
  const first = passes[0];
  if (first === undefined) throw new RangeError('agreeOnShards: no passes');
  for (const p of passes) {
    if (p.vector.length !== first.vector.length || p.shards.length !== first.shards.length || p.shards.some((s, i) => s.start !== first.shards[i]!.start || s.length !== first.shards[i]!.length)) {
      throw new RangeError('agreeOnShards: passes do not share their shards');
    }
  }
  const out = new Float32Array(first.vector.length);
  const outvoted: Outvoted[] = [];
  const undecided: number[] = [];
  first.shards.forEach((shard, s) => {
    if (shard.length === 0) return;
    const votes = passes
      .filter((p) => !p.shards[s]!.local)
      .map((p) => ({ values: p.vector.subarray(shard.start, shard.start + shard.length), peerId: p.shards[s]!.reducedBy }));
    const agreed = votes.find((v) => votes.some((w) => w.peerId !== v.peerId && sameBits(v.values, w.values)));
    if (agreed === undefined) {
      undecided.push(s);
      return;
    }
    out.set(agreed.values, shard.start);
    for (const v of votes) if (!sameBits(v.values, agreed.values)) outvoted.push({ shard: s, peerId: v.peerId });
  });
  return undecided.length > 0 ? { ok: false, undecided, outvoted } : { ok: true, vector: out, outvoted };
}

/**
 * Runs the passes of a verified round one after the other (passSpec), and
 * returns pass 0's result with the agreed vector, the bytes and time of all
 * passes, and who was outvoted. Throws ReducersDisagreeError when a shard
 * has no two agreeing reducers, and whatever a pass throws (e.g. leaving).
 */
export async function averageVerified(averager: Averager, spec: RoundSpec, vector: Float32Array): Promise<{ result: RoundResult; outvoted: Outvoted[] }> {
  const passes: RoundResult[] = [];
  for (let k = 0; k < passesFor(spec.members.length); k++) passes.push(await averager.run(passSpec(spec, k), vector));
  const verdict = agreeOnShards(passes);
  if (!verdict.ok) throw new ReducersDisagreeError(spec.roundId, verdict.undecided, verdict.outvoted);
  const sum = (f: (r: RoundResult) => number): number => passes.reduce((acc, r) => acc + f(r), 0);
  const result: RoundResult = { ...passes[0]!, vector: verdict.vector, bytesSent: sum((r) => r.bytesSent), bytesReceived: sum((r) => r.bytesReceived), durationMs: sum((r) => r.durationMs) };
  return { result, outvoted: verdict.outvoted };
}
