/**
 * Rounds as both workloads run them: matchmaking (match.ts decides; this
 * asks the bucket and forms rounds by compare-and-set), the round's id and
 * spec, its log fields, and the all-reduce itself, verified per shard when
 * the swarm asks for robust.verifyReducers and the runner has somewhere to
 * count what verification finds.
 */
import { averageVerified, ReducersDisagreeError, type Averager, type RoundResult, type RoundSpec } from '../averaging/index.ts';
import type { Logger } from '../common/index.ts';
import { findGroup, type Swarm } from '../swarm/index.ts';
import type { TrainingSpec } from '../training-spec.ts';
import { decideNext, POLL_ASSIGNMENT_MS, type MatchDecision } from './match.ts';

/** The all-reduce round id of group `group` in epoch `epoch` (also the key of its result digest). */
export function roundIdOf(epoch: number, group: number): string {
  return `e${epoch}g${group}`;
}

/** A round this peer is in. */
export type JoinedRound = Extract<MatchDecision, { kind: 'join' }>;

/** What a workload does next: a match decision once asking and forming are done, or `invalid` (the formed assignment was invalid). */
export type RoundStep = Exclude<MatchDecision, { kind: 'ask' } | { kind: 'form' }> | { kind: 'invalid' };

export interface RoundRunnerOptions {
  swarm: Swarm;
  averager: Averager;
  averaging: TrainingSpec['averaging'];
  /** Samples the swarm accumulates per epoch, and how long before the ETA rounds may form (0: only at the target). */
  target: { samples: number; windowMs: number };
  /** Publishes this peer's progress; `force` skips the throttle (the leader weighs members by what they published). */
  publish: (force: boolean) => void;
  log: Logger;
  now: () => number;
  /** Counts what robust.verifyReducers finds. Without it rounds run unverified, as the averaging workload's always have. */
  verification?: { outvotedReducers: { inc(): void }; unverifiedRounds: { inc(): void } };
}

export class RoundRunner {
  readonly #o: RoundRunnerOptions;
  #lastPoll = 0;

  constructor(o: RoundRunnerOptions) {
    this.#o = o;
  }

  /** One look at matchmaking for `epoch`: asks the bucket or forms the round when match.ts says so, and returns what is left to do. */
  async next(epoch: number): Promise<RoundStep> {
    const swarm = this.#o.swarm;
    this.#o.publish(false);
    const progress = swarm.progress({ highWaterEpoch: epoch, targetBatchSize: this.#o.target.samples, matchmakingWindowMs: this.#o.target.windowMs });
    let assignment = swarm.matchmaker.known(epoch);
    let asked = false;
    for (;;) {
      const now = this.#o.now();
      const local = { epoch, peerId: swarm.peerId, asked, pollDue: now - this.#lastPoll >= POLL_ASSIGNMENT_MS, live: assignment ? swarm.liveRecords() : [], settling: swarm.settling() };
      const d = decideNext(progress, assignment, local);
      if (d.kind === 'ask') {
        this.#lastPoll = now;
        assignment = await swarm.matchmaker.get(epoch);
        asked = true;
        continue;
      }
      if (d.kind !== 'form') return d;
      // Make sure the leader (maybe us) sees our latest samples.
      this.#o.publish(true);
      const formed = await swarm.matchmaker.formRound(epoch, swarm.candidates(epoch));
      if (!formed) return { kind: 'invalid' };
      const g = findGroup(formed.assignment, swarm.peerId);
      return g ? { kind: 'join', assignment: formed.assignment, group: g.index, members: g.members } : { kind: 'excluded' };
    }
  }

  /** The all-reduce of round `r`: members weighted by their samples, with the swarm's compression, timeout and robust rule. */
  spec(r: JoinedRound): RoundSpec {
    const avg = this.#o.averaging;
    return {
      roundId: roundIdOf(r.assignment.epoch, r.group),
      members: r.members.map((m) => (m.bandwidth === undefined ? { peerId: m.peerId, weight: m.weight } : { peerId: m.peerId, weight: m.weight, bandwidth: m.bandwidth })),
      compression: avg.compression,
      timeoutMs: avg.timeoutSeconds * 1000,
      robust: avg.robust,
    };
  }

  /**
   * The parameter averaging that follows round `r` (gradient mode, stateAveragingEvery): equal
   * weights, uncompressed. The robust rule applies here too: one peer's parameters could
   * otherwise overwrite everyone's.
   */
  stateSpec(r: JoinedRound): RoundSpec {
    const avg = this.#o.averaging;
    return {
      roundId: `${roundIdOf(r.assignment.epoch, r.group)}s`,
      members: r.members.map((m) => ({ peerId: m.peerId, weight: 1 })),
      compression: 'none',
      timeoutMs: avg.timeoutSeconds * 1000,
      robust: avg.robust,
    };
  }

  /** The fields every round log line carries. */
  meta(r: JoinedRound, spec: RoundSpec): Record<string, unknown> {
    const a = r.assignment;
    return { epoch: a.epoch, roundId: spec.roundId, group: r.group, groups: a.groups.length, leader: a.leader, members: spec.members.map((m) => m.peerId), weights: spec.members.map((m) => m.weight) };
  }

  /**
   * One all-reduce round; with robust.verifyReducers (and a robust method), in passes whose
   * shards have different reducers, applying per shard what two reducers agree on
   * (averaging/verify.ts). Outvoted reducers and unverifiable rounds are counted and logged.
   */
  async average(spec: RoundSpec, v: Float32Array): Promise<RoundResult> {
    const robust = spec.robust;
    const counters = this.#o.verification;
    if (counters === undefined || robust === undefined || robust.method === 'none' || !robust.verifyReducers || spec.members.length < 2) return this.#o.averager.run(spec, v);
    try {
      const { result, outvoted } = await averageVerified(this.#o.averager, spec, v);
      this.#reportOutvoted(spec.roundId, outvoted);
      return result;
    } catch (e) {
      if (e instanceof ReducersDisagreeError) {
        this.#reportOutvoted(spec.roundId, e.outvoted);
        counters.unverifiedRounds.inc();
        this.#o.log.warn('round not applied: no two reducers agreed on some shard', { roundId: spec.roundId, shards: e.shards });
      }
      throw e;
    }
  }

  #reportOutvoted(roundId: string, outvoted: readonly { shard: number; peerId: string }[]): void {
    for (const o of outvoted) {
      this.#o.verification?.outvotedReducers.inc();
      this.#o.log.warn('outvoted a reducer: its shard result differed from the one two other peers agreed on', { roundId, shard: o.shard, reducer: o.peerId });
    }
  }
}
