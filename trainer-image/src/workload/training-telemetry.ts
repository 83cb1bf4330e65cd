/**
 * What the training workload tells the outside: its Prometheus metrics, the
 * loss and throughput of the epoch under way, and the TelemetryReport it
 * publishes on the swarm's telemetry subject (every few seconds and after
 * every state change) for the operator's status.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { TELEMETRY_VERSION, type PeerProblem, type TelemetryReport } from '../../../api/index.ts';
import type { DataProgress } from '../data/index.ts';
import type { Swarm } from '../swarm/index.ts';

export interface TrainingMetrics {
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
  dataErrors: Counter;
}

export function createTrainingMetrics(r: Registry): TrainingMetrics {
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
    dataErrors: new Counter({ name: 'spotswarm_trainer_data_errors_total', help: 'Attempts to read spec.training.data that failed (the peer reports DataUnreadable and retries)', registers: [r] }),
    syncs: new Counter({ name: 'spotswarm_trainer_state_syncs_total', help: 'How a peer got the state of its epoch without stepping', labelNames: ['source'], registers: [r] }),
  };
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

export interface TrainingTelemetryOptions {
  swarm: Swarm;
  registry: Registry;
  pod: { name: string; cluster: string | undefined };
  /** The device the model computes on (gpu, cpu-fallback, cpu, wasm). */
  backend: string;
  now: () => number;
  /** The swarm's pass over its data units and the share done, when it reads a data pool. */
  data?: () => DataProgress | undefined;
}

export class TrainingTelemetry {
  readonly metrics: TrainingMetrics;
  readonly #o: TrainingTelemetryOptions;
  readonly #rate = new Rate();
  #lossSum = 0;
  #lossSamples = 0;
  #lastLoss: number | undefined;
  /** sha256 of the global parameters of the state last held ('' before the first). */
  #checksum = '';
  /** The newest checkpoint this peer wrote or resumed from. */
  #checkpoint: string | undefined;
  /** Why this peer cannot train right now, reported until cleared. */
  problem: PeerProblem | undefined;

  constructor(o: TrainingTelemetryOptions) {
    this.#o = o;
    this.metrics = createTrainingMetrics(o.registry);
  }

  /** Local throughput (samples/s), averaged over recent micro-batches. */
  get samplesPerSecond(): number {
    return this.#rate.value;
  }

  /** Mean loss of the last finished epoch (undefined before one finished with a finite loss). */
  get lastLoss(): number | undefined {
    return this.#lastLoss;
  }

  get checksum(): string {
    return this.#checksum;
  }

  set checksum(c: string) {
    this.#checksum = c;
  }

  set checkpoint(name: string) {
    this.#checkpoint = name;
  }

  /** One accepted micro-batch of `samples` sequences that took `ms`. */
  microBatch(samples: number, ms: number, loss: number): void {
    this.#rate.add(samples, ms);
    this.metrics.samples.inc(samples);
    this.metrics.samplesPerSecond.set(this.#rate.value);
    if (Number.isFinite(loss)) {
      this.#lossSum += loss * samples;
      this.#lossSamples += samples;
    }
  }

  /** The epoch's loss sums start over (the mean so far becomes the last loss). */
  newEpoch(epoch: number): void {
    if (this.#lossSamples > 0) this.#lastLoss = this.#lossSum / this.#lossSamples;
    this.#lossSum = 0;
    this.#lossSamples = 0;
    this.metrics.epoch.set(epoch);
  }

  /** `syncing`: the peer is downloading the swarm's state. */
  publish(epoch: number, samplesAccumulated: number, syncing = false): void {
    const report: TelemetryReport = {
      v: TELEMETRY_VERSION,
      peerId: this.#o.swarm.peerId,
      pod: this.#o.pod.name,
      epoch,
      samplesAccumulated,
      samplesPerSecond: this.#rate.value,
      backend: this.#o.backend,
      time: this.#o.now(),
    };
    const loss = this.#lastLoss ?? (this.#lossSamples > 0 ? this.#lossSum / this.#lossSamples : undefined);
    if (loss !== undefined && Number.isFinite(loss)) report.loss = loss;
    if (this.#checksum !== '') report.paramChecksum = this.#checksum;
    if (this.#checkpoint !== undefined) report.checkpoint = this.#checkpoint;
    if (this.#o.pod.cluster !== undefined) report.cluster = this.#o.pod.cluster;
    if (syncing) report.syncing = true;
    if (this.problem !== undefined) report.problem = this.problem;
    const data = this.#o.data?.();
    if (data !== undefined) {
      report.dataPass = data.pass;
      report.dataDone = data.done;
    }
    this.#o.swarm.publishTelemetry(report);
  }
}
