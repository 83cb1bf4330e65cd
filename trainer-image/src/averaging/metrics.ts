/** prom-client metrics of the averaging layer, on an injected registry. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { FrameTooLargeError, NonFiniteContributionError, UnknownFrameTypeError, UnsupportedVersionError } from './errors.ts';

export const RejectReasons = [
  'bad_frame', 'unknown_type', 'version', 'too_large', 'non_finite', 'wrong_size', 'wrong_round', 'wrong_peer',
  'unexpected', 'duplicate', 'unknown_round', 'pending_overflow', 'bad_signature',
] as const;
export type RejectReason = (typeof RejectReasons)[number];

/** The reject reason a thrown frame error is counted under. */
export function rejectReasonOf(e: unknown): RejectReason {
  if (e instanceof NonFiniteContributionError) return 'non_finite';
  if (e instanceof UnsupportedVersionError) return 'version';
  if (e instanceof FrameTooLargeError) return 'too_large';
  if (e instanceof UnknownFrameTypeError) return 'unknown_type';
  return 'bad_frame';
}

export interface AveragingMetrics {
  rounds: Counter<'outcome'>;
  roundSeconds: Histogram;
  fractionAveraged: Gauge;
  bytesSent: Counter;
  bytesReceived: Counter;
  rejectedFrames: Counter<'reason'>;
  droppedPeers: Counter<'reason' | 'role'>;
  backupReductions: Counter;
  cappedWeights: Counter;
  fewContributorSegments: Counter;
}

function get<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

/** Create (or reuse, when several averagers share a registry) the metrics. */
export function createMetrics(registry: Registry = new Registry()): AveragingMetrics {
  const registers = [registry];
  return {
    rounds: get(registry, 'spotswarm_allreduce_rounds_total', () => new Counter({
      name: 'spotswarm_allreduce_rounds_total',
      help: 'All-reduce rounds by outcome: complete (fraction 1), partial, left, aborted, failed.',
      labelNames: ['outcome'] as const, registers,
    })),
    roundSeconds: get(registry, 'spotswarm_allreduce_round_seconds', () => new Histogram({
      name: 'spotswarm_allreduce_round_seconds',
      help: 'Duration of all-reduce rounds.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300], registers,
    })),
    fractionAveraged: get(registry, 'spotswarm_allreduce_fraction_averaged', () => new Gauge({
      name: 'spotswarm_allreduce_fraction_averaged',
      help: 'Fraction of the vector averaged over every weighted member in the last round.',
      registers,
    })),
    bytesSent: get(registry, 'spotswarm_allreduce_bytes_sent_total', () => new Counter({
      name: 'spotswarm_allreduce_bytes_sent_total', help: 'Bytes written to all-reduce streams (frames).', registers,
    })),
    bytesReceived: get(registry, 'spotswarm_allreduce_bytes_received_total', () => new Counter({
      name: 'spotswarm_allreduce_bytes_received_total', help: 'Bytes read from all-reduce streams (frames).', registers,
    })),
    rejectedFrames: get(registry, 'spotswarm_allreduce_rejected_frames_total', () => new Counter({
      name: 'spotswarm_allreduce_rejected_frames_total',
      help: 'All-reduce frames or streams rejected, by reason; the round continues without them.',
      labelNames: ['reason'] as const, registers,
    })),
    droppedPeers: get(registry, 'spotswarm_allreduce_dropped_peers_total', () => new Counter({
      name: 'spotswarm_allreduce_dropped_peers_total',
      help: 'Peers dropped from a round, by reason (deadline, disconnected, left, rejected) and role (sender, reducer).',
      labelNames: ['reason', 'role'] as const, registers,
    })),
    backupReductions: get(registry, 'spotswarm_allreduce_backup_reductions_total', () => new Counter({
      name: 'spotswarm_allreduce_backup_reductions_total',
      help: 'Shards this peer re-reduced as the backup of a failed or leaving reducer.',
      registers,
    })),
    cappedWeights: get(registry, 'spotswarm_allreduce_capped_weights_total', () => new Counter({
      name: 'spotswarm_allreduce_capped_weights_total',
      help: 'Round members whose self-reported samples this peer capped at robust.maxSamplesRatio times the median of their group (robust aggregation only).',
      registers,
    })),
    fewContributorSegments: get(registry, 'spotswarm_allreduce_few_contributor_segments_total', () => new Counter({
      name: 'spotswarm_allreduce_few_contributor_segments_total',
      help: 'Segments of shards this peer reduced under a robust rule with only 1 or 2 contributors: no majority, so the parts were norm-clipped to the smallest and averaged unweighted instead.',
      registers,
    })),
  };
}
