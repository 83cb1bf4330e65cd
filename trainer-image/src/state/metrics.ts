/** prom-client metrics of state transfer and checkpoints, registered on an injected registry. */
import { Counter, Registry } from 'prom-client';

export interface StateMetrics {
  /** Frames rejected by the strict codec, by side (server | client) and reason. */
  badFrames: Counter<'side' | 'reason'>;
  /** Requests this peer served, by frame type answered (meta | chunk | error). */
  served: Counter<'reply'>;
  servedBytes: Counter;
  downloadedBytes: Counter;
  /** Chunk requests that failed and were retried or given up, by reason. */
  chunkFailures: Counter<'reason'>;
  /** Whole downloads, by outcome (ok | failed | no_donor). */
  downloads: Counter<'outcome'>;
  /** Checkpoint writes and loads, by outcome. */
  checkpoints: Counter<'op' | 'outcome'>;
}

/** The outcomes of a whole download; each starts at 0 so that a dashboard sees the series before the first download. */
export const DOWNLOAD_OUTCOMES = ['ok', 'failed', 'no_donor'] as const;

export function createStateMetrics(registry: Registry = new Registry()): StateMetrics {
  const downloads = new Counter({ name: 'spotswarm_state_downloads_total', help: 'State downloads, by outcome', labelNames: ['outcome'], registers: [registry] });
  for (const outcome of DOWNLOAD_OUTCOMES) downloads.inc({ outcome }, 0);
  return {
    badFrames: new Counter({ name: 'spotswarm_state_bad_frames_total', help: 'State-protocol frames rejected by the codec', labelNames: ['side', 'reason'], registers: [registry] }),
    served: new Counter({ name: 'spotswarm_state_served_total', help: 'State requests this peer answered, by reply', labelNames: ['reply'], registers: [registry] }),
    servedBytes: new Counter({ name: 'spotswarm_state_served_bytes_total', help: 'State bytes this peer sent to joining or lagging peers', registers: [registry] }),
    downloadedBytes: new Counter({ name: 'spotswarm_state_downloaded_bytes_total', help: 'State bytes this peer downloaded from donors', registers: [registry] }),
    chunkFailures: new Counter({ name: 'spotswarm_state_chunk_failures_total', help: 'State chunk requests that failed', labelNames: ['reason'], registers: [registry] }),
    downloads,
    checkpoints: new Counter({ name: 'spotswarm_checkpoints_total', help: 'Checkpoint writes and loads, by outcome', labelNames: ['op', 'outcome'], registers: [registry] }),
  };
}
