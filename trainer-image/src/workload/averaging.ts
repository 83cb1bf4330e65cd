/**
 * The averaging workload: what the trainer runs until real training lands.
 * Each peer holds a synthetic vector and accumulates synthetic samples;
 * whenever the swarm's progress says so, it joins the round's group (as the
 * leader's assignment in NATS KV says) and averages its vector with the
 * group over libp2p. Each round's result replaces the vector, so repeated
 * rounds with mixing groups converge to the swarm's mean (Moshpit).
 *
 * Per peer, per epoch e:
 *  - accumulate samples, publish them in the membership record;
 *  - if round.e exists (written by whichever peer won the compare-and-set):
 *    run it if this peer is in a group, else wait for the next round;
 *  - else, once progress is ready (target reached or ETA inside the
 *    window), try to form round.e from the live peers at e;
 *  - after the round (or when the swarm moved past e without us): e+1,
 *    samples back to 0. Epochs only ever increase.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TELEMETRY_VERSION, type TelemetryReport } from '../../../api/index.ts';
import { AveragerLeftError, type Averager, type RoundResult } from '../averaging/index.ts';
import { errorMessage, type Logger } from '../common/index.ts';
import type { TrainerConfig } from '../config.ts';
import type { Swarm } from '../swarm/index.ts';
import { ProgressPublisher } from './progress-publisher.ts';
import { RepeatedWarning } from './repeated-warning.ts';
import { RoundRunner, type JoinedRound } from './round-runner.ts';
import { SampleCounter, syntheticVector, vectorChecksum } from './synthetic.ts';
import type { Workload, WorkloadEnd } from './workload.ts';

/** How often the loop looks at progress. */
const TICK_MS = 100;
/** Shortest gap between two membership writes caused by sample growth. */
const PUBLISH_GAP_MS = 250;
/** Periodic telemetry (besides one report after every round). */
const TELEMETRY_EVERY_MS = 5_000;
/** Repeated matchmaking errors (NATS away) are logged at most this often. */
const STEP_ERROR_LOG_EVERY_MS = 5_000;

export interface WorkloadDeps {
  swarm: Swarm;
  averager: Averager;
  config: TrainerConfig;
  log: Logger;
  now?: () => number;
}

export class AveragingWorkload implements Workload {
  readonly #swarm: Swarm;
  readonly #averager: Averager;
  readonly #cfg: TrainerConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #counter: SampleCounter;
  readonly #publisher: ProgressPublisher;
  readonly #rounds: RoundRunner;
  readonly #stepErrors: RepeatedWarning;
  #vector: Float32Array;
  /** Checksum of #vector, recomputed only when it changes (64 MiB take ~0.1 s). */
  #checksum: string;
  #epoch = 0;
  #timer: NodeJS.Timeout | undefined;
  #telemetryTimer: NodeJS.Timeout | undefined;
  #ticking = false;
  #stopping = false;
  #round: Promise<void> | undefined;
  #endResolve: (e: WorkloadEnd) => void = () => undefined;
  /** Resolves when the workload ends on its own (stopAfterEpochs). */
  readonly ended: Promise<WorkloadEnd>;

  constructor(deps: WorkloadDeps) {
    this.#swarm = deps.swarm;
    this.#averager = deps.averager;
    this.#cfg = deps.config;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    const syn = deps.config.synthetic;
    this.#counter = new SampleCounter(syn.samplesPerSecond, syn.samplesPerEpoch, this.#now());
    this.#vector = syntheticVector(syn.seed ?? deps.swarm.peerId, syn.vectorElements);
    this.#checksum = vectorChecksum(this.#vector);
    this.#publisher = new ProgressPublisher({ swarm: deps.swarm, local: () => this.#localProgress(), gapMs: PUBLISH_GAP_MS, roundRate: false, now: this.#now });
    const training = deps.config.training;
    this.#rounds = new RoundRunner({
      swarm: deps.swarm,
      averager: deps.averager,
      averaging: training.averaging,
      target: { samples: training.targetBatchSize, windowMs: training.averaging.matchmakingWindowSeconds * 1000 },
      publish: (force) => this.#publisher.publish(force),
      log: deps.log,
      now: this.#now,
    });
    this.#stepErrors = new RepeatedWarning(deps.log, 'matchmaking step failed; retrying', STEP_ERROR_LOG_EVERY_MS, this.#now);
    this.ended = new Promise((r) => (this.#endResolve = r));
  }

  get epoch(): number {
    return this.#epoch;
  }

  /** Picks the start epoch, registers in the swarm and starts the loop. */
  async start(): Promise<void> {
    this.#epoch = await this.#swarm.startEpoch();
    this.#counter.reset(this.#now());
    this.#swarm.setLocal(this.#localProgress());
    await this.#swarm.register();
    this.#log.info('joined swarm', {
      peerId: this.#swarm.peerId,
      multiaddrs: this.#swarm.multiaddrs,
      epoch: this.#epoch,
      vectorElements: this.#vector.length,
      checksum: this.#checksum,
    });
    this.#swarm.matchmaker.onAssignment((a) => {
      if (a.epoch === this.#epoch) void this.#tick();
    });
    this.#timer = setInterval(() => void this.#tick(), TICK_MS);
    this.#telemetryTimer = setInterval(() => this.#publishTelemetry(), TELEMETRY_EVERY_MS);
    if (this.#reachedStop()) this.#endResolve({ reason: 'stopAfterEpochs', epoch: this.#epoch });
  }

  /**
   * SIGTERM: tell the averager to leave (it finishes or hands off its shard
   * and tells the group, so nobody waits for a deadline), wait for the
   * running round to settle, and stop the loop. The caller then leaves the
   * swarm (deregisters) and stops the averager.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    if (this.#telemetryTimer) clearInterval(this.#telemetryTimer);
    await this.#averager.leave();
    await this.#round;
  }

  #localProgress(): { epoch: number; samples: number; samplesPerSecond: number } {
    const now = this.#now();
    return { epoch: this.#epoch, samples: this.#counter.samples(now), samplesPerSecond: this.#counter.samplesPerSecond(now) };
  }

  #reachedStop(): boolean {
    return this.#cfg.stopAfterEpochs !== undefined && this.#epoch >= this.#cfg.stopAfterEpochs;
  }

  async #tick(): Promise<void> {
    if (this.#ticking || this.#stopping || this.#round) return;
    this.#ticking = true;
    try {
      await this.#step();
    } catch (e) {
      // NATS away, a failed create, ...: try again next tick (and say so at most every few seconds).
      this.#stepErrors.note(e, { epoch: this.#epoch });
    } finally {
      this.#ticking = false;
    }
  }

  async #step(): Promise<void> {
    if (this.#reachedStop()) return;
    const next = await this.#rounds.next(this.#epoch);
    switch (next.kind) {
      case 'join':
        this.#startRound(next);
        return;
      case 'missed':
        // Not in this round: wait for the next one. Move on once the swarm has, or once nobody of the round is left at this epoch.
        this.#log.info('not in this round; waiting for the next', { epoch: this.#epoch, leader: next.assignment.leader });
        this.#advance(next.epoch);
        return;
      case 'behind':
        this.#log.info('swarm is ahead; catching up', { from: this.#epoch, to: next.epoch });
        this.#advance(next.epoch);
        return;
      case 'invalid':
        this.#log.warn('the round assignment is invalid; skipping the round', { epoch: this.#epoch });
        this.#advance(this.#epoch + 1);
        return;
      case 'excluded':
      case 'accumulate':
      case 'settling':
        return;
    }
  }

  #advance(epoch: number): void {
    if (epoch <= this.#epoch) return;
    this.#epoch = epoch;
    this.#counter.reset(this.#now());
    this.#publisher.publish(true);
    if (this.#reachedStop()) {
      this.#log.info('reached stopAfter.epochs', { epoch });
      this.#endResolve({ reason: 'stopAfterEpochs', epoch });
    }
  }

  #startRound(r: JoinedRound): void {
    this.#round = this.#runRound(r).finally(() => {
      this.#round = undefined;
    });
  }

  async #runRound(r: JoinedRound): Promise<void> {
    const epoch = r.assignment.epoch;
    const members = r.members;
    const spec = this.#rounds.spec(r);
    const meta = this.#rounds.meta(r, spec);
    const t0 = this.#now();
    let result: RoundResult | undefined;
    try {
      await this.#swarm.prepareRound(members);
      this.#log.info('round started', meta);
      if (members.length === 1) {
        this.#log.info('round has a single member; nothing to average', meta);
      } else {
        result = await this.#rounds.average(spec, this.#vector);
        this.#vector = result.vector;
        this.#checksum = vectorChecksum(this.#vector);
      }
    } catch (e) {
      if (e instanceof AveragerLeftError) {
        this.#log.info('round interrupted: leaving the swarm', meta);
        return;
      }
      this.#log.error('round failed', { ...meta, error: errorMessage(e) });
    }
    const checksum = this.#checksum;
    if (result || members.length === 1) {
      // The dump is written before the log line, so whoever reads 'round finished' finds the file.
      await this.#dump(epoch);
      this.#log.info('round finished', {
        ...meta,
        fractionAveraged: result ? result.fractionAveraged : 1,
        fractionMultiPeer: result ? result.fractionMultiPeer : 0,
        contributorsPerShard: result?.contributorsPerShard ?? [1],
        droppedPeers: result?.droppedPeers ?? [],
        drops: result?.drops ?? [],
        deadlineHit: result?.deadlineHit ?? false,
        hardDeadlineHit: result?.hardDeadlineHit ?? false,
        compression: result?.compression ?? 'none',
        bytesSent: result?.bytesSent ?? 0,
        bytesReceived: result?.bytesReceived ?? 0,
        roundMs: result?.durationMs ?? this.#now() - t0,
        checksum,
      });
    }
    this.#advance(epoch + 1);
    this.#publishTelemetry();
  }

  async #dump(epoch: number): Promise<void> {
    const dir = this.#cfg.synthetic.dumpDir;
    if (dir === undefined) return;
    try {
      await mkdir(dir, { recursive: true });
      const file = join(dir, `${this.#cfg.pod.name}.e${epoch}.f32`);
      const v = this.#vector;
      await writeFile(`${file}.tmp`, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      await rename(`${file}.tmp`, file);
    } catch (e) {
      this.#log.warn('could not write the round result', { error: errorMessage(e) });
    }
  }

  #publishTelemetry(): void {
    const l = this.#localProgress();
    const report: TelemetryReport = {
      v: TELEMETRY_VERSION,
      peerId: this.#swarm.peerId,
      pod: this.#cfg.pod.name,
      epoch: l.epoch,
      samplesAccumulated: l.samples,
      samplesPerSecond: l.samplesPerSecond,
      backend: 'synthetic',
      paramChecksum: this.#checksum,
      time: this.#now(),
    };
    if (this.#cfg.pod.cluster !== undefined) report.cluster = this.#cfg.pod.cluster;
    this.#swarm.publishTelemetry(report);
  }
}
