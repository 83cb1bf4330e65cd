/**
 * The training workload (SPOTSWARM_WORKLOAD=train): the RuLeanALBERT recipe
 * on the data plane. One loop per peer:
 *
 *   sync     a peer without the state of its epoch (joining, or stale after
 *            a skipped step or a round it missed) gets it: from live peers
 *            over the state protocol, else from the newest checkpoint, else
 *            (nobody live holds anything newer) it keeps its own;
 *   compute  one micro-batch of masked-LM: loss, gradients (in the compute
 *            worker thread, model/compute.ts, so NATS and libp2p keep
 *            running), accumulate (diloco: an inner AdamW step), publish samples;
 *   match    as the averaging workload: once the swarm's samples for the
 *            epoch reach the target (× innerSteps in diloco), one peer writes
 *            the round's groups (compare-and-set), everyone in a group
 *            averages with it (weights = samples), and every peer applies
 *            the same step (optim/policy.ts says when not); epoch + 1.
 *
 * Epochs never go backwards: the workload's epoch only grows, and a peer
 * that resumes from a checkpoint older than the swarm's epoch keeps the
 * newer epoch number (and says how many epochs of progress were lost).
 *
 * Per epoch it logs `epoch finished` (epoch, checksum = sha256 of the global
 * parameters, loss, how the state got there) and publishes a TelemetryReport.
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Buckets, TELEMETRY_VERSION, type TelemetryReport } from '../../../api/index.ts';
import { AveragerLeftError, averageVerified, ReducersDisagreeError, type Averager, type RoundResult, type RoundSpec } from '../averaging/index.ts';
import type { TrainerConfig } from '../config.ts';
import { samplesPerEpoch, type TrainingSpec } from '../training-spec.ts';
import { createDataset, createTokenizer, hash32, type MlmBatch, mlmBatches, sourceKind, type TextTokenizer } from '../data/index.ts';
import { type ComputeHost, type ModelCompute, modelConfig } from '../model/index.ts';
import { CollaborativeOptimizer, segmentsOf, type StepReport } from '../optim/index.ts';
import {
  CheckpointStore, chooseDonors, createStateMetrics, decodeState, downloadState, encodeState, makeSnapshot, queryDonors, type Snapshot,
  StateServer, stateFingerprint, type StateMetrics,
} from '../state/index.ts';
import { errorMessage, findGroup, type AssignmentMember, type RoundAssignment, type Swarm, type SwarmLogger } from '../swarm/index.ts';
import { applyByzantineFault, type ByzantineFault } from './faults.ts';

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
/** How often a peer without a known assignment asks the bucket directly (besides the watch). */
const POLL_ASSIGNMENT_MS = 1_000;
/** Repeated loop errors are logged at most this often. */
const ERROR_LOG_EVERY_MS = 5_000;
/** Generated corpora are endless: peers read shard hash(peer id) mod this many (disjoint unless two ids collide). */
const GENERATED_SHARDS = 64;
/** Lines read to train the shared vocabulary when the spec names no tokenizer.json. */
const TOKENIZER_TRAIN_LINES = 5_000;

export interface TrainingFaults {
  /** Epochs at which this peer sends a NaN gradient to its group (tests: must be rejected). */
  nanGradientEpochs?: readonly number[];
  /** Tamper with every gradient this peer sends (tests of robust aggregation). */
  byzantine?: ByzantineFault | undefined;
}

export interface TrainingWorkloadDeps {
  swarm: Swarm;
  averager: Averager;
  nc: NatsConnection;
  config: TrainerConfig;
  /** Where the model runs (main.ts: a worker thread) and on which backend. */
  compute: ComputeHost;
  log: SwarmLogger;
  registry: Registry;
  /** Held-out batches evaluated on the global parameters after every epoch (0 = off). */
  evalBatches?: number;
  faults?: TrainingFaults;
  now?: () => number;
}

export type WorkloadEnd = { reason: 'stopAfterEpochs'; epoch: number };

interface TrainingMetrics {
  epoch: Gauge;
  loss: Gauge;
  samplesPerSecond: Gauge;
  samples: Counter;
  unweightedSamples: Counter;
  steps: Counter<'outcome'>;
  rejected: Counter<'reason'>;
  bytesSent: Counter<'kind'>;
  syncs: Counter<'source'>;
  agreements: Counter<'state'>;
  outvotedReducers: Counter;
  unverifiedRounds: Counter;
}

function createTrainingMetrics(r: Registry): TrainingMetrics {
  return {
    epoch: new Gauge({ name: 'spotswarm_trainer_epoch', help: 'Epoch (global optimizer steps) this peer works on', registers: [r] }),
    loss: new Gauge({ name: 'spotswarm_trainer_loss', help: 'Mean masked-LM loss of this peer over its last epoch', registers: [r] }),
    samplesPerSecond: new Gauge({ name: 'spotswarm_trainer_samples_per_second', help: 'Local training throughput', registers: [r] }),
    samples: new Counter({ name: 'spotswarm_trainer_samples_total', help: 'Sequences this peer trained on', registers: [r] }),
    unweightedSamples: new Counter({ name: 'spotswarm_trainer_unweighted_samples_total', help: 'Sequences this peer trained on that its round weighted 0 (the leader formed the round before it saw them): compute spent for nothing', registers: [r] }),
    steps: new Counter({ name: 'spotswarm_trainer_steps_total', help: 'Global steps, by round outcome (complete, alone: applied; partial, failed, non-finite, diverged: skipped)', labelNames: ['outcome'], registers: [r] }),
    rejected: new Counter({ name: 'spotswarm_trainer_rejected_gradients_total', help: 'Local micro-batch gradients rejected (NaN/Inf)', labelNames: ['reason'], registers: [r] }),
    bytesSent: new Counter({ name: 'spotswarm_trainer_averaging_bytes_sent_total', help: 'All-reduce bytes this peer sent, by what was averaged', labelNames: ['kind'], registers: [r] }),
    agreements: new Counter({ name: 'spotswarm_trainer_round_agreements_total', help: 'Averaged vectors compared with the round\'s first finisher: canonical (applied), diverged (skipped, state downloaded), unconfirmed (NATS failed; applied)', labelNames: ['state'], registers: [r] }),
    outvotedReducers: new Counter({ name: 'spotswarm_trainer_outvoted_reducers_total', help: 'robust.verifyReducers: shard results of a reducer that differed from the one two other peers agreed on (the reducer is named in the log)', registers: [r] }),
    unverifiedRounds: new Counter({ name: 'spotswarm_trainer_unverified_rounds_total', help: 'robust.verifyReducers: rounds not applied because some shard had no two agreeing reducers', registers: [r] }),
    syncs: new Counter({ name: 'spotswarm_trainer_state_syncs_total', help: 'How a peer got the state of its epoch without stepping', labelNames: ['source'], registers: [r] }),
  };
}

function sha256Of(v: Float32Array): string {
  return createHash('sha256').update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest('hex');
}

/** Throughput as an exponential moving average over micro-batches. */
class Rate {
  #value = 0;
  add(samples: number, ms: number): void {
    if (ms <= 0) return;
    const r = (samples * 1000) / ms;
    this.#value = this.#value === 0 ? r : 0.7 * this.#value + 0.3 * r;
  }
  get value(): number {
    return this.#value;
  }
}

export class TrainingWorkload {
  readonly #d: TrainingWorkloadDeps;
  readonly #t: TrainingSpec;
  readonly #log: SwarmLogger;
  readonly #now: () => number;
  readonly #m: TrainingMetrics;
  readonly #stateMetrics: StateMetrics;
  #tokenizer!: TextTokenizer;
  #model!: ModelCompute;
  #opt!: CollaborativeOptimizer;
  #fingerprint = '';
  #batches!: AsyncIterator<MlmBatch>;
  #evalSet: MlmBatch[] = [];
  #server: StateServer | undefined;
  #checkpoints: CheckpointStore | undefined;

  /** The epoch this peer works on (accumulates samples for). Only grows. */
  #epoch = 0;
  /** Whether the optimizer holds state(#epoch) (else the loop syncs first). */
  #hasState = false;
  /** Whether it ever held a swarm state (a stale peer has one, a joiner not yet). */
  #everHadState = false;
  /** Bumped whenever the shared state changes (snapshot cache key). */
  #stateVersion = 0;
  #snapshot: { version: number; snap: Snapshot } | undefined;
  #checksum = '';
  /** The state we hold is not the swarm's (a diverged parameter averaging): not served until replaced. */
  #withheld = false;
  /** The round (epoch) a skipped step happened in: sync waits until its members moved on. */
  #skippedRound: RoundAssignment | undefined;
  /**
   * A round this peer skipped that another member finished: the swarm's state is then at
   * least `epoch`, even when no live peer holds it any more (its members stopped right
   * after the step). Sync waits for their checkpoint until `until` before keeping ours.
   */
  #steppedWithout: { epoch: number; until: number } | undefined;
  #lossSum = 0;
  #lossSamples = 0;
  #lastLoss: number | undefined;
  #rate = new Rate();
  #checkpoint: string | undefined;
  #waitLogged = -1;
  /** Waiting for a round the others' in-flight samples will trigger (not computing). */
  #idle = false;
  #checkpointing: Promise<void> | undefined;

  #stopping = false;
  /** Aborts state downloads on stop (SIGTERM must not wait for retries). */
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #telemetryTimer: NodeJS.Timeout | undefined;
  #lastPublish = 0;
  #lastPublished = '';
  #lastPoll = 0;
  #lastError = '';
  #lastErrorAt = 0;
  #endResolve: (e: WorkloadEnd) => void = () => undefined;
  readonly ended: Promise<WorkloadEnd>;

  constructor(deps: TrainingWorkloadDeps) {
    this.#d = deps;
    this.#t = deps.config.training;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#m = createTrainingMetrics(deps.registry);
    this.#stateMetrics = createStateMetrics(deps.registry);
    this.ended = new Promise((r) => (this.#endResolve = r));
  }

  get epoch(): number {
    return this.#epoch;
  }

  // ---------------------------------------------------------------- start-up

  async start(): Promise<void> {
    const t = this.#t;
    const cfg = this.#d.config;
    const swarm = this.#d.swarm;
    const seed = cfg.swarm.uid ?? `${cfg.swarm.namespace}/${cfg.swarm.name}`;
    const t0 = this.#now();
    this.#tokenizer = await createTokenizer(t.data, { trainLines: TOKENIZER_TRAIN_LINES });
    const mc = modelConfig(t.model.size, { vocabSize: this.#tokenizer.vocabSize, maxSeqLength: t.model.seqLength });
    this.#model = await this.#d.compute.createModel(mc, `${seed}/model`);
    this.#opt = new CollaborativeOptimizer({
      segments: segmentsOf(this.#model.params),
      params: await this.#model.getFlat(),
      mode: t.averaging.mode,
      optimizer: { ...t.optimizer },
    });
    this.#fingerprint = stateFingerprint({ v: 1, model: mc, tokenizer: this.#tokenizer.hash, mode: t.averaging.mode });
    const shard = t.data.urls.some((u) => sourceKind(u) === 'generated')
      ? { index: hash32(swarm.peerId) % GENERATED_SHARDS, count: GENERATED_SHARDS }
      : { index: 0, count: 1 };
    const docs = createDataset({ urls: t.data.urls, seed: `${seed}/${swarm.peerId}` }, shard);
    this.#batches = mlmBatches(docs, this.#tokenizer, { seqLength: t.model.seqLength, batchSize: t.data.microBatchSize, maskProbability: t.data.maskProbability, seed: swarm.peerId })[Symbol.asyncIterator]();
    await this.#buildEvalSet(seed);
    this.#log.info('model ready', {
      backend: this.#d.compute.backend.kind,
      parameters: this.#model.size,
      vocabSize: this.#tokenizer.vocabSize,
      tokenizer: this.#tokenizer.hash.slice(0, 16),
      mode: t.averaging.mode,
      optimizer: t.optimizer.name,
      shard,
      fingerprint: this.#fingerprint.slice(0, 16),
      setupMs: this.#now() - t0,
    });

    this.#server = new StateServer(swarm.host, {
      snapshot: () => this.#currentSnapshot(),
      workloadEpoch: () => this.#epoch,
      log: this.#log,
      metrics: this.#stateMetrics,
    });
    await this.#server.start();
    this.#checkpoints = await CheckpointStore.open(this.#d.nc, {
      bucket: Buckets.checkpoints({ namespace: cfg.swarm.namespace, name: cfg.swarm.name }),
      electionBucket: Buckets.rounds({ namespace: cfg.swarm.namespace, name: cfg.swarm.name }),
      log: this.#log,
      metrics: this.#stateMetrics,
    });

    // Where to start: state(0) is the seeded initialisation every peer builds alike.
    this.#epoch = await swarm.startEpoch();
    const others = swarm.membership.live().filter((r) => r.peerId !== swarm.peerId);
    if (this.#epoch === 0) {
      this.#hasState = true;
      this.#afterStateChange('init');
      await this.#logEval();
    } else if (others.length === 0) {
      await this.#resumeFromCheckpoint();
    }
    this.#publishLocal(true);
    await swarm.register();
    this.#log.info('joined swarm', { peerId: swarm.peerId, multiaddrs: swarm.multiaddrs, epoch: this.#epoch, hasState: this.#hasState, livePeers: others.length });
    this.#telemetryTimer = setInterval(() => this.#publishTelemetry(), TELEMETRY_EVERY_MS);
    if (this.#reachedStop()) this.#endResolve({ reason: 'stopAfterEpochs', epoch: this.#epoch });
    this.#loop = this.#run();
  }

  async #buildEvalSet(seed: string): Promise<void> {
    const n = this.#d.evalBatches ?? 0;
    if (n <= 0) return;
    const docs = createDataset({ urls: this.#t.data.urls, seed: `${seed}/eval`, shuffleBuffer: 1 }, { index: 0, count: 1 });
    const it = mlmBatches(docs, this.#tokenizer, { seqLength: this.#t.model.seqLength, batchSize: this.#t.data.microBatchSize, maskProbability: this.#t.data.maskProbability, seed: 'eval' });
    for await (const b of it) {
      this.#evalSet.push(b);
      if (this.#evalSet.length >= n) break;
    }
  }

  /** No live peer: take the newest checkpoint (epoch kept, never lowered), else start from the seed. */
  async #resumeFromCheckpoint(): Promise<void> {
    let loaded;
    try {
      loaded = await this.#checkpoints!.latest(this.#fingerprint);
    } catch (e) {
      this.#log.warn('could not read checkpoints', { error: errorMessage(e) });
    }
    if (loaded) {
      this.#opt.load(loaded.state);
      await this.#model.setFlat(this.#opt.params);
      this.#m.syncs.inc({ source: 'checkpoint' });
      const lost = this.#epoch - loaded.state.epoch;
      if (loaded.state.epoch >= this.#epoch) this.#epoch = loaded.state.epoch;
      else this.#opt.relabel(this.#epoch);
      this.#hasState = true;
      this.#log.info('resumed from checkpoint', { checkpoint: loaded.info.name, checkpointEpoch: loaded.state.epoch, epoch: this.#epoch, writer: loaded.info.writer, lostEpochs: Math.max(0, lost) });
      this.#checkpoint = loaded.info.name;
      this.#afterStateChange('checkpoint');
      return;
    }
    this.#log.warn('no live peer and no checkpoint: starting from the initial parameters at the swarm epoch', { epoch: this.#epoch });
    this.#opt.relabel(this.#epoch);
    this.#hasState = true;
    this.#m.syncs.inc({ source: 'init' });
    this.#afterStateChange('init');
  }

  // ---------------------------------------------------------------- stop

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
    await this.#checkpointing;
    await this.#server?.stop();
  }

  #reachedStop(): boolean {
    const s = this.#d.config.stopAfterEpochs;
    return s !== undefined && this.#epoch >= s && this.#hasState;
  }

  // ---------------------------------------------------------------- loop

  async #run(): Promise<void> {
    while (!this.#stopping && !this.#reachedStop()) {
      try {
        if (!this.#hasState) {
          await this.#sync();
          continue;
        }
        const next = await this.#match();
        if (next === 'wait') await sleep(IDLE_MS);
        else if (next === 'compute') {
          if (this.#hasState && !this.#stopping) await this.#computeMicroBatch();
          // The micro-batch ran in the compute worker, so I/O ran meanwhile; but a compute call
          // that settles at once (an error, a worker reply already queued) must not let
          // back-to-back iterations starve I/O: the membership watch would not deliver the other
          // peers' samples until this peer reached the target alone.
          await yieldToEventLoop();
        } else await this.#runRound(next.assignment, next.index, next.members);
      } catch (e) {
        this.#noteError(e);
        await sleep(IDLE_MS * 5);
      }
    }
    if (this.#reachedStop()) {
      this.#log.info('reached stopAfter.epochs', { epoch: this.#epoch });
      this.#endResolve({ reason: 'stopAfterEpochs', epoch: this.#epoch });
    }
  }

  #noteError(e: unknown): void {
    const msg = errorMessage(e);
    const now = this.#now();
    if (msg !== this.#lastError || now - this.#lastErrorAt > ERROR_LOG_EVERY_MS) {
      this.#lastError = msg;
      this.#lastErrorAt = now;
      this.#log.warn('training loop step failed; retrying', { epoch: this.#epoch, error: msg });
    }
  }

  #localProgress(): { epoch: number; samples: number; samplesPerSecond: number } {
    // While syncing, announce the epoch being synced to with no samples: the round of that
    // epoch takes this peer along (weight 0), so that right after the download it takes the
    // step with the others instead of chasing a swarm that is always one round ahead.
    if (!this.#hasState) return { epoch: this.#epoch, samples: 0, samplesPerSecond: 0 };
    return { epoch: this.#epoch, samples: this.#opt.samples, samplesPerSecond: this.#idle ? 0 : this.#rate.value };
  }

  #publishLocal(force: boolean): void {
    const l = this.#localProgress();
    this.#d.swarm.setLocal(l);
    const key = `${l.epoch}/${l.samples}/${Math.round(l.samplesPerSecond)}`;
    const now = this.#now();
    if (key === this.#lastPublished) return;
    if (!force && now - this.#lastPublish < PUBLISH_GAP_MS) return;
    this.#lastPublished = key;
    this.#lastPublish = now;
    void this.#d.swarm.publish();
  }

  async #computeMicroBatch(): Promise<void> {
    const next = await this.#batches.next();
    if (next.done) {
      this.#log.warn('the dataset ended; idling', { epoch: this.#epoch });
      await sleep(1000);
      return;
    }
    const batch = next.value;
    const t0 = this.#now();
    const r = await this.#model.lossAndGradients(batch);
    const ms = this.#now() - t0;
    const n = batch.batchSize;
    const acc = this.#opt.accumulate(r.grads, n);
    if (!acc.accepted) {
      this.#m.rejected.inc({ reason: acc.reason });
      this.#log.warn('rejected a non-finite local gradient', { epoch: this.#epoch, index: acc.index, loss: r.loss });
      return;
    }
    if (this.#opt.mode === 'diloco') await this.#model.setFlat(this.#opt.params);
    this.#rate.add(n, ms);
    this.#m.samples.inc(n);
    this.#m.samplesPerSecond.set(this.#rate.value);
    if (Number.isFinite(r.loss)) {
      this.#lossSum += r.loss * n;
      this.#lossSamples += n;
    }
    this.#publishLocal(false);
  }

  /** The swarm's target for one epoch: a global batch, or innerSteps of them in diloco. */
  #target(): number {
    return samplesPerEpoch(this.#t);
  }

  /** Matchmaking, as the averaging workload does it: a round to run, or whether to compute or wait meanwhile. */
  async #match(): Promise<{ assignment: RoundAssignment; index: number; members: AssignmentMember[] } | 'compute' | 'wait'> {
    const swarm = this.#d.swarm;
    this.#publishLocal(false);
    // Rounds form only once the target is reached (no early matchmaking window): the
    // assignment's weights are the samples behind the gradients being averaged.
    const p = swarm.progress({ highWaterEpoch: this.#epoch, targetBatchSize: this.#target(), matchmakingWindowMs: 0 });
    const me = swarm.peerId;
    let a = swarm.matchmaker.known(this.#epoch);
    const now = this.#now();
    if (!a && (p.ready || p.epoch > this.#epoch || now - this.#lastPoll >= POLL_ASSIGNMENT_MS)) {
      this.#lastPoll = now;
      a = await swarm.matchmaker.get(this.#epoch);
    }
    if (a) {
      const g = findGroup(a, me);
      if (g) return { assignment: a, index: g.index, members: g.members };
      const live = swarm.liveRecords();
      const roundAlive = a.groups.flat().some((m) => m.peerId !== me && live.some((r) => r.peerId === m.peerId && r.epoch === a.epoch));
      if (p.epoch > this.#epoch || !roundAlive) {
        this.#log.info('not in this round; syncing to the next', { epoch: this.#epoch, leader: a.leader });
        this.#goStale(Math.max(p.epoch, this.#epoch + 1), a, 'missed round');
        return 'wait';
      }
      // The step of this epoch happens without us: computing now would be for nothing.
      return 'wait';
    }
    if (p.epoch > this.#epoch) {
      this.#log.info('swarm is ahead; syncing', { from: this.#epoch, to: p.epoch });
      this.#goStale(p.epoch, undefined, 'behind');
      return 'wait';
    }
    if (!p.ready) {
      // The micro-batches other peers have in flight will reach the target: one more here would
      // only overshoot the global batch. Wait for the round instead (announcing 0 samples/s).
      // But every peer computes at least one micro-batch per epoch: otherwise a slower peer (a
      // joiner still warming up, say) is starved by faster ones and never contributes.
      const idle = this.#opt.samples > 0 && this.#inFlightReachesTarget();
      if (idle !== this.#idle) {
        this.#idle = idle;
        this.#publishLocal(true);
      }
      return idle ? 'wait' : 'compute';
    }
    if (swarm.settling()) return 'compute';
    this.#publishLocal(true);
    const formed = await swarm.matchmaker.formRound(this.#epoch, swarm.candidates(this.#epoch));
    if (!formed) {
      this.#log.warn('the round assignment is invalid; skipping the round', { epoch: this.#epoch });
      this.#goStale(this.#epoch + 1, undefined, 'invalid assignment');
      return 'wait';
    }
    const g = findGroup(formed.assignment, me);
    return g ? { assignment: formed.assignment, index: g.index, members: g.members } : 'wait';
  }

  /**
   * Published samples at this epoch plus, for every other peer that is computing, the one
   * micro-batch it has in flight (if its last update is recent: a stalled peer counts nothing
   * after three micro-batch durations, so nobody waits for it).
   */
  #inFlightReachesTarget(): boolean {
    const swarm = this.#d.swarm;
    const now = this.#now();
    const micro = this.#t.data.microBatchSize;
    let total = 0;
    // Counted records: a peer that claims more than it computed must not make the others idle.
    for (const r of swarm.countedRecords()) {
      if (r.epoch !== this.#epoch) continue;
      total += r.samples;
      if (r.peerId === swarm.peerId || !(r.samplesPerSecond > 0)) continue;
      const batchMs = (micro / r.samplesPerSecond) * 1000;
      if (now - r.updatedAt < 3 * batchMs) total += micro;
    }
    return total >= this.#target();
  }

  /** Moves to `epoch` without the state for it: the loop syncs before computing again. */
  #goStale(epoch: number, round: RoundAssignment | undefined, why: string): void {
    if (epoch <= this.#epoch) return;
    this.#log.info('epoch moved on without this peer\'s step; state sync needed', { from: this.#epoch, to: epoch, reason: why, stateEpoch: this.#opt.epoch });
    this.#epoch = epoch;
    this.#hasState = false;
    this.#skippedRound = round;
    this.#resetEpochStats();
    this.#m.epoch.set(this.#epoch);
    this.#publishLocal(true);
  }

  #resetEpochStats(): void {
    this.#idle = false;
    if (this.#lossSamples > 0) this.#lastLoss = this.#lossSum / this.#lossSamples;
    this.#lossSum = 0;
    this.#lossSamples = 0;
  }

  // ---------------------------------------------------------------- rounds

  async #runRound(a: RoundAssignment, index: number, members: AssignmentMember[]): Promise<void> {
    const swarm = this.#d.swarm;
    const avg = this.#d.config.training.averaging;
    const epoch = a.epoch;
    await swarm.prepareRound(members);
    const spec: RoundSpec = {
      roundId: roundIdOf(epoch, index),
      members: members.map((m) => (m.bandwidth === undefined ? { peerId: m.peerId, weight: m.weight } : { peerId: m.peerId, weight: m.weight, bandwidth: m.bandwidth })),
      compression: avg.compression,
      timeoutMs: avg.timeoutSeconds * 1000,
      robust: avg.robust,
    };
    const meta = { epoch, roundId: spec.roundId, group: index, groups: a.groups.length, leader: a.leader, members: spec.members.map((m) => m.peerId), weights: spec.members.map((m) => m.weight) };
    this.#log.info('round started', meta);
    const nan = this.#d.faults?.nanGradientEpochs?.includes(epoch) === true;
    const tamper = nan
      ? (v: Float32Array): void => {
          this.#log.warn('fault injection: sending a NaN gradient', { epoch });
          v.fill(NaN);
        }
      : this.#byzantineTamper(epoch, 'gradient');
    let left = false;
    const average = members.length === 1
      ? undefined
      : async (v: Float32Array): Promise<RoundResult> => {
          try {
            return await this.#average(spec, v);
          } catch (e) {
            if (e instanceof AveragerLeftError) left = true;
            throw e;
          }
        };
    const report = await this.#opt.step(epoch, average, { confirm: (v) => this.#confirm(spec.roundId, v), ...(tamper ? { tamper } : {}) });
    if (left) {
      this.#log.info('round interrupted: leaving the swarm', meta);
      return;
    }
    this.#m.steps.inc({ outcome: report.outcome });
    const weight = members.find((m) => m.peerId === swarm.peerId)?.weight ?? 0;
    if (weight === 0 && report.samples > 0) this.#m.unweightedSamples.inc(report.samples);
    const r = report.result;
    if (r) this.#m.bytesSent.inc({ kind: this.#opt.mode === 'diloco' ? 'pseudo_gradient' : 'gradient' }, r.bytesSent);
    this.#log.info('round finished', {
      ...meta,
      mode: this.#opt.mode,
      outcome: report.outcome,
      applied: report.applied,
      detail: report.detail,
      error: report.error,
      samples: report.samples,
      fractionAveraged: r ? r.fractionAveraged : report.outcome === 'alone' ? 1 : 0,
      droppedPeers: r?.droppedPeers ?? [],
      drops: r?.drops ?? [],
      compression: r?.compression ?? 'none',
      bytesSent: r?.bytesSent ?? 0,
      bytesReceived: r?.bytesReceived ?? 0,
      roundMs: r?.durationMs ?? 0,
      learningRate: report.learningRate,
      norm: report.norm,
      clipped: report.clipped,
    });
    if (report.applied) {
      await this.#model.setFlat(this.#opt.params);
      if ((await this.#maybeAverageState(epoch, index, members)) === 'diverged') {
        // Our state(e+1) is not the swarm's: serve nobody until we hold the swarm's again.
        this.#withheld = true;
        this.#goStale(report.epoch, a, 'parameter averaging diverged');
        return;
      }
      this.#epoch = report.epoch;
      this.#afterStateChange('step', report);
      this.#maybeCheckpoint();
      await this.#logEval();
    } else {
      this.#log.warn('step skipped', { epoch, outcome: report.outcome, detail: report.detail, error: report.error });
      this.#goStale(epoch + 1, a, `round ${report.outcome}`);
    }
  }

  /**
   * Whether this peer's averaged vector is the round's (swarm/agreement.ts): the first
   * member to finish wrote its digest. An unconfirmed result (NATS failed) is applied,
   * with a warning: skipping would cost every member its step for a failure that
   * almost never coincides with a divergence.
   */
  async #confirm(roundId: string, v: Float32Array): Promise<{ agreed: true } | { agreed: false; detail: string }> {
    const a = await this.#d.swarm.matchmaker.agree(roundId, sha256Of(v));
    this.#m.agreements.inc({ state: a.state });
    if (a.state === 'unconfirmed') {
      this.#log.warn('could not confirm the round result with the group; applying it', { roundId, error: a.error });
      return { agreed: true };
    }
    if (a.state === 'canonical') return { agreed: true };
    this.#log.warn('round result differs from the group\'s; will load the state from a peer that applied it', { roundId, writer: a.writer });
    return { agreed: false, detail: `another member (${a.writer}) finished round ${roundId} with a different vector` };
  }

  /**
   * One all-reduce round; with robust.verifyReducers (and a robust method), in passes whose
   * shards have different reducers, applying per shard what two reducers agree on
   * (averaging/verify.ts). Outvoted reducers and unverifiable rounds are counted and logged.
   */
  async #average(spec: RoundSpec, v: Float32Array): Promise<RoundResult> {
    const robust = spec.robust;
    if (robust === undefined || robust.method === 'none' || !robust.verifyReducers || spec.members.length < 2) return this.#d.averager.run(spec, v);
    try {
      const { result, outvoted } = await averageVerified(this.#d.averager, spec, v);
      this.#reportOutvoted(spec.roundId, outvoted);
      return result;
    } catch (e) {
      if (e instanceof ReducersDisagreeError) {
        this.#reportOutvoted(spec.roundId, e.outvoted);
        this.#m.unverifiedRounds.inc();
        this.#log.warn('round not applied: no two reducers agreed on some shard', { roundId: spec.roundId, shards: e.shards });
      }
      throw e;
    }
  }

  #reportOutvoted(roundId: string, outvoted: readonly { shard: number; peerId: string }[]): void {
    for (const o of outvoted) {
      this.#m.outvotedReducers.inc();
      this.#log.warn('outvoted a reducer: its shard result differed from the one two other peers agreed on', { roundId, shard: o.shard, reducer: o.peerId });
    }
  }

  /** What a Byzantine peer (fault injection) does to the vector it sends in a round of `kind`. */
  #byzantineTamper(epoch: number, kind: 'gradient' | 'state'): ((v: Float32Array) => void) | undefined {
    const byzantine = this.#d.faults?.byzantine;
    if (!byzantine) return undefined;
    return (v) => {
      this.#log.warn(`fault injection: sending a Byzantine ${kind}`, { epoch, fault: byzantine });
      applyByzantineFault(byzantine, v, epoch);
    };
  }

  /**
   * Every stateAveragingEvery epochs (gradient mode), the group also averages its parameters,
   * and with averageOptimizerState the optimizer's moments (uncompressed, equal weights). The
   * swarm's robust rule applies here too: one peer's parameters could otherwise overwrite
   * everyone's.
   */
  async #maybeAverageState(epoch: number, index: number, members: AssignmentMember[]): Promise<'diverged' | undefined> {
    const every = this.#t.averaging.stateAveragingEvery;
    if (this.#opt.mode !== 'gradient' || every <= 0 || (epoch + 1) % every !== 0 || members.length < 2) return undefined;
    const spec: RoundSpec = {
      roundId: `${roundIdOf(epoch, index)}s`,
      members: members.map((m) => ({ peerId: m.peerId, weight: 1 })),
      compression: 'none',
      timeoutMs: this.#d.config.training.averaging.timeoutSeconds * 1000,
      robust: this.#d.config.training.averaging.robust,
    };
    const mine = this.#opt.averagingVector(this.#t.averaging.averageOptimizerState);
    this.#byzantineTamper(epoch, 'state')?.(mine);
    try {
      const r = await this.#average(spec, mine);
      this.#m.bytesSent.inc({ kind: 'state' }, r.bytesSent);
      const agreement = await this.#confirm(spec.roundId, r.vector);
      if (!agreement.agreed) return 'diverged';
      this.#opt.adoptAveraged(r.vector, this.#t.averaging.averageOptimizerState);
      await this.#model.setFlat(this.#opt.params);
      this.#log.info('parameters averaged', { epoch, roundId: spec.roundId, optimizerState: this.#t.averaging.averageOptimizerState, fractionAveraged: r.fractionAveraged, bytesSent: r.bytesSent });
    } catch (e) {
      // Others may have finished it: our unaveraged parameters would then differ from theirs.
      this.#log.warn('parameter averaging failed; will load the state from a peer', { epoch, error: errorMessage(e) });
      return 'diverged';
    }
    return undefined;
  }

  /** After the state changed (step, download, checkpoint, relabel): checksum, eval, logs, telemetry. */
  #afterStateChange(via: 'init' | 'step' | 'download' | 'checkpoint' | 'relabel', report?: StepReport): void {
    this.#stateVersion++;
    this.#everHadState = true;
    this.#withheld = false;
    this.#snapshot = undefined;
    this.#checksum = sha256Of(this.#opt.globalParams);
    this.#resetEpochStats();
    this.#m.epoch.set(this.#epoch);
    if (this.#lastLoss !== undefined) this.#m.loss.set(this.#lastLoss);
    this.#log.info('epoch finished', {
      epoch: this.#epoch,
      via,
      checksum: this.#checksum,
      loss: via === 'step' ? this.#lastLoss : undefined,
      outcome: report?.outcome,
      learningRate: report?.learningRate,
      samplesPerSecond: +this.#rate.value.toFixed(2),
    });
    this.#publishLocal(true);
    this.#publishTelemetry();
  }

  /** Held-out loss of the global parameters (the model holds them right after a step or a sync). */
  async #logEval(): Promise<void> {
    if (this.#evalSet.length === 0) return;
    let sum = 0;
    for (const b of this.#evalSet) sum += await this.#model.evaluate(b);
    this.#log.info('evaluated', { epoch: this.#epoch, evalLoss: sum / this.#evalSet.length, checksum: this.#checksum });
  }

  // ---------------------------------------------------------------- state sync

  /** The state this peer holds, even while stale (its META then says its older epoch; joiners skip it). */
  #currentSnapshot(): Snapshot | undefined {
    if (!this.#everHadState || this.#withheld) return undefined;
    if (this.#snapshot?.version !== this.#stateVersion) {
      const blob = encodeState(this.#opt.shared(), this.#fingerprint);
      this.#snapshot = { version: this.#stateVersion, snap: makeSnapshot(blob, { epoch: this.#opt.epoch, mode: this.#opt.mode, fingerprint: this.#fingerprint }) };
    }
    return this.#snapshot.snap;
  }

  /**
   * Gets state(#epoch): after a skipped round, waits until that round's
   * members moved on (bounded by the round timeout) so that their decision
   * is known; then asks every live peer. A newer state than ours is
   * downloaded; if nobody holds one, our unchanged state is the swarm's
   * (everyone skipped) and is relabelled; a peer with no state at all and no
   * donor falls back to the checkpoint.
   */
  async #sync(): Promise<void> {
    const swarm = this.#d.swarm;
    const round = this.#skippedRound;
    if (round) {
      const deadline = this.#now() + this.#d.config.training.averaging.timeoutSeconds * 1000;
      const members = new Set(round.groups.flat().map((m) => m.peerId));
      members.delete(swarm.peerId);
      while (!this.#stopping && this.#now() < deadline) {
        const waiting = swarm.liveRecords().filter((r) => members.has(r.peerId) && r.epoch <= round.epoch);
        if (waiting.length === 0) break;
        await sleep(IDLE_MS);
      }
      this.#skippedRound = undefined;
      const finished = await Promise.all(round.groups.map((_, g) => swarm.matchmaker.hasResult(roundIdOf(round.epoch, g))));
      if (finished.some(Boolean)) this.#steppedWithout = { epoch: round.epoch + 1, until: this.#now() + this.#d.config.training.averaging.timeoutSeconds * 1000 };
    }
    const others = swarm.liveRecords().filter((r) => r.peerId !== swarm.peerId);
    await swarm.prepareRound(others.map((r) => ({ peerId: r.peerId, weight: 0, multiaddrs: r.multiaddrs })));
    const client = { host: swarm.host, log: this.#log, metrics: this.#stateMetrics, signal: this.#abort.signal };
    const metas = others.length > 0 ? await queryDonors(client, others.map((r) => r.peerId)) : [];
    const best = chooseDonors(metas, this.#fingerprint, this.#epoch);
    if (best) {
      const t0 = this.#now();
      const dl = await downloadState({ ...client, donors: best.donors, fingerprint: this.#fingerprint, minEpoch: this.#epoch });
      const { state } = decodeState(dl.blob, this.#fingerprint);
      this.#opt.load(state);
      await this.#model.setFlat(this.#opt.params);
      const from = this.#epoch;
      this.#epoch = state.epoch;
      this.#hasState = true;
      this.#m.syncs.inc({ source: 'peers' });
      this.#log.info('state loaded from peers', { epoch: this.#epoch, from, donors: dl.donors, bytes: dl.blob.byteLength, chunks: dl.meta.chunks, attempts: dl.attempts, ms: this.#now() - t0 });
      this.#afterStateChange('download');
      await this.#logEval();
      return;
    }
    const newer = chooseDonors(metas, this.#fingerprint, this.#everHadState ? this.#opt.epoch + 1 : 0);
    const answered = metas.some((m) => m.meta !== undefined && m.meta.fingerprint === this.#fingerprint);
    // Wait while live peers hold a newer state than ours but not yet that of this epoch (they are
    // finishing a round), or while they are live but none could answer (syncing themselves).
    if (newer || (others.length > 0 && !answered)) {
      if (this.#waitLogged !== this.#epoch) {
        this.#waitLogged = this.#epoch;
        this.#log.info('waiting for a donor with the state of this epoch', { epoch: this.#epoch, peers: metas.map((m) => ({ peer: m.peerId, error: m.error, epoch: m.meta?.epoch })) });
      }
      await sleep(250);
      return;
    }
    if (this.#everHadState) {
      // No live peer holds a newer state than ours. With peers live and no round of ours
      // finished without us, the swarm skipped the step with us. Otherwise the newest state
      // left may be a checkpoint: the peers that stepped may have stopped right after, and
      // they write the checkpoint of their last epoch before they leave.
      const stepped = this.#steppedWithout !== undefined && this.#steppedWithout.epoch > this.#opt.epoch ? this.#steppedWithout : undefined;
      if (others.length === 0 || stepped) {
        const newest = (await this.#checkpoints!.list().catch(() => []))[0]?.epoch ?? -1;
        const awaited = stepped !== undefined && newest < stepped.epoch && this.#now() < stepped.until;
        if (awaited) {
          if (this.#waitLogged !== this.#epoch) {
            this.#waitLogged = this.#epoch;
            this.#log.info('peers that finished a round without this peer are gone; waiting for their checkpoint', { epoch: this.#epoch, steppedEpoch: stepped.epoch, newestCheckpoint: newest, livePeers: others.length });
          }
          await sleep(250);
          return;
        }
        if (newest > this.#opt.epoch) {
          this.#steppedWithout = undefined;
          await this.#resumeFromCheckpoint();
          return;
        }
      }
      this.#steppedWithout = undefined;
      const from = this.#opt.epoch;
      const lostEpochs = others.length === 0 || stepped ? this.#epoch - from : 0;
      this.#opt.relabel(this.#epoch);
      this.#hasState = true;
      this.#m.syncs.inc({ source: 'relabel' });
      const meta = { stateEpoch: from, epoch: this.#epoch, livePeers: others.length, lostEpochs };
      if (stepped) this.#log.warn('peers finished a round without this peer and left no newer state or checkpoint; continuing from ours', meta);
      else this.#log.info('no newer state among live peers; keeping ours', meta);
      this.#afterStateChange('relabel');
      return;
    }
    await this.#resumeFromCheckpoint();
  }

  // ---------------------------------------------------------------- checkpoints

  #maybeCheckpoint(): void {
    const e = this.#epoch;
    const stop = this.#d.config.stopAfterEpochs;
    if (e === 0 || (e % this.#t.checkpointEvery !== 0 && e !== stop) || this.#checkpointing) return;
    // Encode now (synchronously): the state must be exactly state(e).
    const blob = encodeState(this.#opt.shared(), this.#fingerprint);
    const me = this.#d.swarm.peerId;
    this.#checkpointing = (async () => {
      try {
        if (!(await this.#checkpoints!.elect(e, me))) return;
        const t0 = this.#now();
        const info = await this.#checkpoints!.write(e, blob, me);
        this.#checkpoint = info.name;
        this.#log.info('checkpoint written', { checkpoint: info.name, epoch: e, bytes: info.size, ms: this.#now() - t0 });
        this.#publishTelemetry();
      } catch (err) {
        this.#log.warn('could not write a checkpoint', { epoch: e, error: errorMessage(err) });
      }
    })().finally(() => (this.#checkpointing = undefined));
  }

  // ---------------------------------------------------------------- telemetry

  #publishTelemetry(): void {
    const l = this.#localProgress();
    const report: TelemetryReport = {
      v: TELEMETRY_VERSION,
      peerId: this.#d.swarm.peerId,
      pod: this.#d.config.pod.name,
      epoch: this.#epoch,
      samplesAccumulated: l.samples,
      samplesPerSecond: this.#rate.value,
      backend: this.#d.compute.backend.kind,
      time: this.#now(),
    };
    const loss = this.#lastLoss ?? (this.#lossSamples > 0 ? this.#lossSum / this.#lossSamples : undefined);
    if (loss !== undefined && Number.isFinite(loss)) report.loss = loss;
    if (this.#checksum !== '') report.paramChecksum = this.#checksum;
    if (this.#checkpoint !== undefined) report.checkpoint = this.#checkpoint;
    if (this.#d.config.pod.cluster !== undefined) report.cluster = this.#d.config.pod.cluster;
    this.#d.swarm.publishTelemetry(report);
  }
}

/** The all-reduce round id of group `group` in epoch `epoch` (also the key of its result digest). */
function roundIdOf(epoch: number, group: number): string {
  return `e${epoch}g${group}`;
}

/** Lets timers and I/O callbacks (NATS, libp2p) run before the loop goes on. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
