/**
 * The training workload (SPOTSWARM_WORKLOAD=train): the RuLeanALBERT recipe
 * on the data plane. One loop per peer, over small parts:
 *
 *   sync     a peer without the state of its epoch (joining, or stale after
 *            a skipped step or a round it missed: peer-state.ts) gets it:
 *            from live peers over the state protocol, else from the newest
 *            checkpoint, else (nobody live holds anything newer) it keeps its
 *            own (state-sync-policy.ts decides, state-sync.ts does it);
 *   compute  one micro-batch of masked-LM: loss, gradients (in the compute
 *            worker thread, model/compute.ts, so NATS and libp2p keep
 *            running), accumulate (diloco: an inner AdamW step), publish samples;
 *   match    as the averaging workload (match.ts, round-runner.ts): once the
 *            swarm's samples for the epoch reach the target (× innerSteps in
 *            diloco), one peer writes the round's groups (compare-and-set);
 *   step     everyone in a group averages with it (weights = samples), and
 *            every peer applies the same step (training-step.ts; optim/policy.ts
 *            says when not); epoch + 1.
 *
 * Epochs never go backwards: the workload's epoch only grows, and a peer
 * that resumes from a checkpoint older than the swarm's epoch keeps the
 * newer epoch number (and says how many epochs of progress were lost).
 *
 * Per epoch it logs `epoch finished` (epoch, checksum = sha256 of the global
 * parameters, loss, how the state got there) and publishes a TelemetryReport
 * (training-telemetry.ts).
 */
import { setImmediate as yieldToEventLoop, setTimeout as sleep } from 'node:timers/promises';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import { Buckets, PeerProblems } from '../../../api/index.ts';
import type { Averager } from '../averaging/index.ts';
import { errorMessage, type Logger } from '../common/index.ts';
import type { TrainerConfig, TrainWorkloadConfig } from '../config.ts';
import { createDataMetrics, DataPool, DataSourceError, DataUnitError, DEFAULT_UNIT_BYTES, type MlmBatch, parsePosition, sourceKind, TokenizerLoadError } from '../data/index.ts';
import { checksum, type ComputeHost } from '../model/index.ts';
import type { StepReport } from '../optim/index.ts';
import { CheckpointStore, createStateMetrics, encodeState, makeSnapshot, type Snapshot, StateServer, type StateMetrics } from '../state/index.ts';
import type { LocalProgress, Swarm } from '../swarm/index.ts';
import { samplesPerEpoch, type TrainingSpec } from '../training-spec.ts';
import { CheckpointWriter } from './checkpoint-writer.ts';
import { inFlightReachesTarget } from './match.ts';
import { holdsState, type PeerEvent, type PeerState, servesState, transition } from './peer-state.ts';
import { ProgressPublisher } from './progress-publisher.ts';
import { RepeatedWarning } from './repeated-warning.ts';
import { type JoinedRound, RoundRunner } from './round-runner.ts';
import { type Loaded, StateSync } from './state-sync.ts';
import { evaluate, setUpTraining, type TrainingParts } from './training-setup.ts';
import { StepRunner } from './training-step.ts';
import { TrainingTelemetry } from './training-telemetry.ts';
import type { Workload, WorkloadEnd } from './workload.ts';

/**
 * Shortest gap between two membership writes caused by sample growth. A
 * micro-batch takes longer than this, so every micro-batch is published:
 * the round's leader weighs each gradient by the samples it last saw.
 */
const PUBLISH_GAP_MS = 100;
/** Periodic telemetry (besides one report per epoch). */
const TELEMETRY_EVERY_MS = 5_000;
/** Idle wait when there is nothing to compute (waiting for a round or for donors). */
const IDLE_MS = 100;
/** Repeated loop errors are logged at most this often. */
const ERROR_LOG_EVERY_MS = 5_000;
/** Data that cannot be read is retried after this long, doubling up to DATA_RETRY_MAX_MS. */
const DATA_RETRY_MIN_MS = 2_000;
const DATA_RETRY_MAX_MS = 60_000;

export interface TrainingWorkloadDeps {
  swarm: Swarm;
  averager: Averager;
  nc: NatsConnection;
  config: TrainerConfig;
  /** The train workload's own knobs (eval batches, fault injection). */
  train: TrainWorkloadConfig;
  /** Where the model runs (main.ts: a worker thread) and on which backend. */
  compute: ComputeHost;
  log: Logger;
  registry: Registry;
  now?: () => number;
}

/** How the peer came to hold the state of its epoch. */
type Via = Loaded['via'] | 'step';

export class TrainingWorkload implements Workload {
  readonly #d: TrainingWorkloadDeps;
  readonly #spec: TrainingSpec;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #telemetry: TrainingTelemetry;
  readonly #stateMetrics: StateMetrics;
  readonly #publisher: ProgressPublisher;
  readonly #rounds: RoundRunner;
  readonly #loopErrors: RepeatedWarning;
  /** The model, optimizer and data, built in start(). */
  #parts!: TrainingParts;
  #sync!: StateSync;
  #steps!: StepRunner;
  #checkpoints: CheckpointWriter | undefined;
  /** The swarm's data units (undefined for a generated corpus). */
  #pool: DataPool | undefined;
  /** A micro-batch asked for and not ready yet (the data pool is waiting for a unit). */
  #nextBatch: Promise<IteratorResult<MlmBatch>> | undefined;
  #server: StateServer | undefined;
  #peer: PeerState = { kind: 'joining', epoch: 0 };
  /** The state served to other peers, encoded once per state change. */
  #snapshot: Snapshot | undefined;
  /** Waiting for a round the others' in-flight samples will trigger (not computing). */
  #idle = false;
  /** Waiting for data (no unit free in the pool): announces 0 samples/s, so others do not wait for this peer's micro-batches. */
  #starved = false;
  #stopping = false;
  /** Aborts state downloads on stop (SIGTERM must not wait for retries). */
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #telemetryTimer: NodeJS.Timeout | undefined;
  #endResolve: (e: WorkloadEnd) => void = () => undefined;
  readonly ended: Promise<WorkloadEnd>;

  constructor(deps: TrainingWorkloadDeps) {
    this.#d = deps;
    this.#spec = deps.config.training;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#telemetry = new TrainingTelemetry({
      swarm: deps.swarm, registry: deps.registry, pod: deps.config.pod, backend: deps.compute.backend.device, now: this.#now, data: () => this.#pool?.progress(),
    });
    this.#stateMetrics = createStateMetrics(deps.registry);
    this.#publisher = new ProgressPublisher({ swarm: deps.swarm, local: () => this.#localProgress(), gapMs: PUBLISH_GAP_MS, roundRate: true, now: this.#now });
    const m = this.#telemetry.metrics;
    this.#rounds = new RoundRunner({
      swarm: deps.swarm,
      averager: deps.averager,
      averaging: this.#spec.averaging,
      // Rounds form only once the target is reached (no early matchmaking window): the
      // assignment's weights are the samples behind the gradients being averaged.
      target: { samples: samplesPerEpoch(this.#spec), windowMs: 0 },
      publish: (force) => this.#publisher.publish(force),
      log: deps.log,
      now: this.#now,
      verification: { outvotedReducers: m.outvotedReducers, unverifiedRounds: m.unverifiedRounds },
    });
    this.#loopErrors = new RepeatedWarning(deps.log, 'training loop step failed; retrying', ERROR_LOG_EVERY_MS, this.#now);
    this.ended = new Promise((r) => (this.#endResolve = r));
  }

  get epoch(): number {
    return this.#peer.epoch;
  }

  // ---------------------------------------------------------------- start and stop

  async start(): Promise<void> {
    const { config: cfg, swarm, nc } = this.#d;
    const log = this.#log;
    const seed = cfg.swarm.uid ?? `${cfg.swarm.namespace}/${cfg.swarm.name}`;
    const ref = { namespace: cfg.swarm.namespace, name: cfg.swarm.name };
    this.#parts = await this.#setUpWhenReadable(seed, ref);
    const { model, opt, fingerprint } = this.#parts;

    this.#server = new StateServer(swarm.host, { snapshot: () => this.#currentSnapshot(), workloadEpoch: () => this.#peer.epoch, log, metrics: this.#stateMetrics });
    await this.#server.start();
    const store = await CheckpointStore.open(nc, { bucket: Buckets.checkpoints(ref), electionBucket: Buckets.rounds(ref), log, metrics: this.#stateMetrics });
    this.#checkpoints = new CheckpointWriter({
      store,
      peerId: swarm.peerId,
      every: this.#spec.checkpointEvery,
      stopAfterEpochs: cfg.stopAfterEpochs,
      log,
      now: this.#now,
      written: (name) => {
        this.#telemetry.checkpoint = name;
        this.#publishTelemetry();
      },
    });
    const metrics = this.#telemetry.metrics;
    this.#sync = new StateSync({
      swarm, model, opt, fingerprint, checkpoints: store, timeoutMs: this.#spec.averaging.timeoutSeconds * 1000, syncs: metrics.syncs,
      stateMetrics: this.#stateMetrics, log, now: this.#now, signal: this.#abort.signal, stopping: () => this.#stopping,
    });
    this.#steps = new StepRunner({ swarm, rounds: this.#rounds, model, opt, averaging: this.#spec.averaging, metrics, faults: this.#d.train.faults, log });

    // Where to start: state(0) is the seeded initialisation every peer builds alike.
    this.#peer = { kind: 'joining', epoch: await swarm.startEpoch() };
    const others = swarm.membership.live().filter((r) => r.peerId !== swarm.peerId);
    if (this.#peer.epoch === 0) {
      this.#stateChanged('init', 0);
      await this.#logEval();
    } else if (others.length === 0) {
      await this.#loaded(await this.#sync.resume(this.#peer.epoch));
    }
    this.#publisher.publish(true);
    await swarm.register();
    log.info('joined swarm', { peerId: swarm.peerId, multiaddrs: swarm.multiaddrs, epoch: this.#peer.epoch, hasState: holdsState(this.#peer), livePeers: others.length });
    this.#telemetryTimer = setInterval(() => this.#publishTelemetry(), TELEMETRY_EVERY_MS);
    if (this.#reachedStop()) this.#endResolve({ reason: 'stopAfterEpochs', epoch: this.#peer.epoch });
    this.#loop = this.#run();
  }

  /**
   * Builds the model and data; while the data cannot be read, reports DataUnreadable (source and
   * error) in telemetry and retries with a doubling pause, so the operator can say why the swarm
   * does not train and the peer picks the data up once it is there.
   */
  async #setUpWhenReadable(seed: string, ref: { namespace: string; name: string }): Promise<TrainingParts> {
    const { swarm, train, nc } = this.#d;
    const urls = this.#spec.data.urls;
    for (let wait = DATA_RETRY_MIN_MS; ; wait = Math.min(2 * wait, DATA_RETRY_MAX_MS)) {
      try {
        if (this.#pool === undefined && !urls.some((u) => sourceKind(u) === 'generated')) {
          this.#pool = await DataPool.open({
            kv: await new Kvm(nc).open(Buckets.rounds(ref)), urls, unitBytes: DEFAULT_UNIT_BYTES, peerId: swarm.peerId,
            log: this.#log, metrics: createDataMetrics(this.#d.registry), now: this.#now, signal: this.#abort.signal, onUnreadable: (e) => this.#reportUnreadable(e),
          });
        }
        const parts = await setUpTraining({ spec: this.#spec, compute: this.#d.compute, seed, peerId: swarm.peerId, pool: this.#pool, evalBatches: train.evalBatches, log: this.#log, now: this.#now });
        if (this.#telemetry.problem !== undefined) this.#log.info('the training data is readable now', { urls: this.#spec.data.urls });
        this.#telemetry.problem = undefined;
        return parts;
      } catch (e) {
        if (!(e instanceof DataSourceError || e instanceof TokenizerLoadError || e instanceof DataUnitError) || this.#stopping) throw e;
        this.#telemetry.problem = { reason: PeerProblems.DataUnreadable, message: `spec.training.data: ${e.message}`.slice(0, 1024) };
        this.#telemetry.metrics.dataErrors.inc();
        this.#log.warn('cannot read the training data; retrying', { error: e.message, retryInMs: wait });
        this.#publishTelemetry();
        await sleep(wait, undefined, { signal: this.#abort.signal }).catch(() => undefined);
        if (this.#stopping) throw e;
      }
    }
  }

  /** A data unit that cannot be read is marked failed by the pool (not retried in a loop); the operator hears of it as DataUnreadable. */
  #reportUnreadable(e: DataUnitError): void {
    this.#telemetry.problem = { reason: PeerProblems.DataUnreadable, message: `spec.training.data: ${e.message}`.slice(0, 1024) };
    this.#telemetry.metrics.dataErrors.inc();
    this.#publishTelemetry();
  }

  /**
   * SIGTERM: the averager leaves (finishing or handing off its shard), the
   * loop ends after its current micro-batch or round, a checkpoint being
   * written is finished. The caller then leaves the swarm and stops the averager.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort(new Error('stopping'));
    if (this.#telemetryTimer) clearInterval(this.#telemetryTimer);
    await this.#d.averager.leave();
    await this.#loop?.catch(() => undefined);
    await this.#pool?.release().catch((e: unknown) => this.#log.warn('could not release the data unit', { error: errorMessage(e) }));
    await this.#checkpoints?.writing;
    await this.#server?.stop();
  }

  #reachedStop(): boolean {
    const s = this.#d.config.stopAfterEpochs;
    return s !== undefined && this.#peer.epoch >= s && holdsState(this.#peer);
  }

  // ---------------------------------------------------------------- loop

  async #run(): Promise<void> {
    while (!this.#stopping && !this.#reachedStop()) {
      try {
        if (!holdsState(this.#peer)) {
          await this.#syncOnce();
          continue;
        }
        const next = await this.#match();
        if (next === 'wait') await sleep(IDLE_MS);
        else if (next === 'compute') {
          if (holdsState(this.#peer) && !this.#stopping) await this.#computeMicroBatch();
          // The micro-batch ran in the compute worker, so I/O ran meanwhile; but a compute call
          // that settles at once (an error, a worker reply already queued) must not let
          // back-to-back iterations starve I/O: the membership watch would not deliver the other
          // peers' samples until this peer reached the target alone.
          await yieldToEventLoop();
        } else await this.#step(next);
      } catch (e) {
        this.#loopErrors.note(e, { epoch: this.#peer.epoch });
        await sleep(IDLE_MS * 5);
      }
    }
    if (this.#reachedStop()) {
      this.#log.info('reached stopAfter.epochs', { epoch: this.#peer.epoch });
      this.#endResolve({ reason: 'stopAfterEpochs', epoch: this.#peer.epoch });
    }
  }

  /** Matchmaking (round-runner.ts): a round to run, or whether to compute or wait meanwhile. */
  async #match(): Promise<JoinedRound | 'compute' | 'wait'> {
    const epoch = this.#peer.epoch;
    const next = await this.#rounds.next(epoch);
    switch (next.kind) {
      case 'join':
        return next;
      case 'missed':
        this.#log.info('not in this round; syncing to the next', { epoch, leader: next.assignment.leader });
        this.#moveOn({ type: 'movedOn', epoch: next.epoch, skippedRound: next.assignment }, 'missed round');
        return 'wait';
      case 'excluded':
        // The step of this epoch happens without us: computing now would be for nothing.
        return 'wait';
      case 'behind':
        this.#log.info('swarm is ahead; syncing', { from: epoch, to: next.epoch });
        this.#moveOn({ type: 'movedOn', epoch: next.epoch, skippedRound: undefined }, 'behind');
        return 'wait';
      case 'accumulate': {
        // The micro-batches other peers have in flight will reach the target: one more here would
        // only overshoot the global batch. Wait for the round instead (announcing 0 samples/s).
        // But every peer computes at least one micro-batch per epoch: otherwise a slower peer (a
        // joiner still warming up, say) is starved by faster ones and never contributes.
        const swarm = this.#d.swarm;
        const idle = this.#parts.opt.samples > 0 && inFlightReachesTarget(swarm.countedRecords(), {
          epoch, peerId: swarm.peerId, microBatchSize: this.#spec.data.microBatchSize, target: samplesPerEpoch(this.#spec), now: this.#now(),
        });
        if (idle !== this.#idle) {
          this.#idle = idle;
          this.#publisher.publish(true);
        }
        return idle ? 'wait' : 'compute';
      }
      case 'settling':
        return 'compute';
      case 'invalid':
        this.#log.warn('the round assignment is invalid; skipping the round', { epoch });
        this.#moveOn({ type: 'movedOn', epoch: epoch + 1, skippedRound: undefined }, 'invalid assignment');
        return 'wait';
    }
  }

  async #computeMicroBatch(): Promise<void> {
    const { batches, model, opt } = this.#parts;
    // The pool may have no unit free for a while (the end of a pass): the loop keeps matching meanwhile.
    this.#nextBatch ??= batches.next();
    let next: IteratorResult<MlmBatch> | undefined;
    try {
      next = await Promise.race([this.#nextBatch, sleep(IDLE_MS).then(() => undefined)]);
    } catch (e) {
      this.#nextBatch = undefined;
      throw e;
    }
    this.#setStarved(next === undefined);
    if (next === undefined) return;
    this.#nextBatch = undefined;
    if (next.done) {
      this.#log.warn('the dataset ended; idling', { epoch: this.#peer.epoch });
      await sleep(1000);
      return;
    }
    const batch = next.value;
    const t0 = this.#now();
    const r = await model.lossAndGradients(batch);
    const ms = this.#now() - t0;
    const acc = opt.accumulate(r.grads, batch.batchSize);
    if (!acc.accepted) {
      this.#telemetry.metrics.rejected.inc({ reason: acc.reason });
      this.#log.warn('rejected a non-finite local gradient', { epoch: this.#peer.epoch, index: acc.index, loss: r.loss });
      return;
    }
    if (opt.mode === 'diloco') await model.setFlat(opt.params);
    this.#telemetry.microBatch(batch.batchSize, ms, r.loss);
    this.#publisher.publish(false);
  }

  #setStarved(starved: boolean): void {
    if (starved === this.#starved) return;
    this.#starved = starved;
    this.#publisher.publish(true);
  }

  /** Runs the round this peer is in (training-step.ts) and moves its state on by the outcome. */
  async #step(r: JoinedRound): Promise<void> {
    const end = await this.#steps.run(r);
    switch (end.kind) {
      case 'left':
        return;
      case 'stepped': {
        const { opt, fingerprint } = this.#parts;
        this.#stateChanged('step', end.report.epoch, end.report);
        // Encoded now (synchronously): the checkpoint must be exactly state(e).
        this.#checkpoints?.maybeWrite(this.#peer.epoch, () => encodeState(opt.shared(), fingerprint), () => {
          const p = this.#pool?.position();
          return p === undefined ? undefined : JSON.stringify(p);
        });
        await this.#logEval();
        return;
      }
      case 'diverged':
        // Our state(e+1) is not the swarm's: serve nobody until we hold the swarm's again.
        this.#moveOn({ type: 'diverged', epoch: end.report.epoch, skippedRound: r.assignment }, 'parameter averaging diverged');
        return;
      case 'skipped':
        this.#moveOn({ type: 'movedOn', epoch: r.assignment.epoch + 1, skippedRound: r.assignment }, `round ${end.report.outcome}`);
    }
  }

  /** One attempt at the state of this peer's epoch (after a skipped round, once its members moved on). */
  async #syncOnce(): Promise<void> {
    const peer = this.#peer;
    if (peer.kind === 'stale' && peer.skippedRound !== undefined) {
      const round = peer.skippedRound;
      await this.#sync.waitForMembers(round);
      this.#peer = transition(this.#peer, { type: 'membersMovedOn' });
      const stepped = await this.#sync.finishedWithout(round);
      if (stepped) this.#peer = transition(this.#peer, { type: 'finishedWithout', steppedWithout: stepped });
    }
    const loaded = await this.#sync.sync(this.#peer);
    if (!loaded) return;
    await this.#loaded(loaded);
    if (loaded.via === 'download') await this.#logEval();
  }

  // ---------------------------------------------------------------- state changes

  async #loaded(l: Loaded): Promise<void> {
    if (l.checkpoint !== undefined) this.#telemetry.checkpoint = l.checkpoint;
    // The swarm's pool is the truth while it exists; the checkpoint's position restarts a pool that is gone.
    const position = parsePosition(l.data);
    if (position !== undefined) await this.#pool?.restore(position);
    this.#stateChanged(l.via, l.epoch);
  }

  /** The peer holds state(epoch) now (a step, download, checkpoint, relabel or the seed): checksum, logs, telemetry. */
  #stateChanged(via: Via, epoch: number, report?: StepReport): void {
    this.#peer = transition(this.#peer, { type: 'loaded', epoch });
    this.#snapshot = undefined;
    const t = this.#telemetry;
    t.checksum = checksum(this.#parts.opt.globalParams);
    this.#newEpoch();
    if (t.lastLoss !== undefined) t.metrics.loss.set(t.lastLoss);
    this.#log.info('epoch finished', {
      epoch: this.#peer.epoch,
      via,
      checksum: t.checksum,
      loss: via === 'step' ? t.lastLoss : undefined,
      outcome: report?.outcome,
      learningRate: report?.learningRate,
      samplesPerSecond: +t.samplesPerSecond.toFixed(2),
    });
    this.#publisher.publish(true);
    this.#publishTelemetry();
  }

  /** The swarm moved on without this peer's step: the loop syncs before computing again. */
  #moveOn(e: Extract<PeerEvent, { type: 'movedOn' | 'diverged' }>, why: string): void {
    if (e.epoch <= this.#peer.epoch) return;
    this.#log.info('epoch moved on without this peer\'s step; state sync needed', { from: this.#peer.epoch, to: e.epoch, reason: why, stateEpoch: this.#parts.opt.epoch });
    this.#peer = transition(this.#peer, e);
    this.#newEpoch();
    this.#publisher.publish(true);
  }

  #newEpoch(): void {
    this.#idle = false;
    this.#telemetry.newEpoch(this.#peer.epoch);
  }

  /** Held-out loss of the global parameters (the model holds them right after a step or a sync). */
  async #logEval(): Promise<void> {
    const evalLoss = await evaluate(this.#parts);
    if (evalLoss !== undefined) this.#log.info('evaluated', { epoch: this.#peer.epoch, evalLoss, checksum: this.#telemetry.checksum });
  }

  // ---------------------------------------------------------------- what others see

  #localProgress(): LocalProgress {
    // While syncing, announce the epoch being synced to with no samples: the round of that
    // epoch takes this peer along (weight 0), so that right after the download it takes the
    // step with the others instead of chasing a swarm that is always one round ahead.
    const epoch = this.#peer.epoch;
    if (!holdsState(this.#peer)) return { epoch, samples: 0, samplesPerSecond: 0 };
    return { epoch, samples: this.#parts.opt.samples, samplesPerSecond: this.#idle || this.#starved ? 0 : this.#telemetry.samplesPerSecond };
  }

  /** The state this peer holds, even while stale (its META then says its older epoch; joiners skip it). */
  #currentSnapshot(): Snapshot | undefined {
    if (!servesState(this.#peer)) return undefined;
    if (this.#snapshot === undefined) {
      const { opt, fingerprint } = this.#parts;
      this.#snapshot = makeSnapshot(encodeState(opt.shared(), fingerprint), { epoch: opt.epoch, mode: opt.mode, fingerprint });
    }
    return this.#snapshot;
  }

  #publishTelemetry(): void {
    this.#telemetry.publish(this.#peer.epoch, this.#localProgress().samples, !holdsState(this.#peer) && (this.#peer.kind !== 'joining' || this.#peer.epoch > 0));
  }
}
