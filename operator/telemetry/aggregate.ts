/**
 * Turns the latest telemetry report of each peer into one swarm summary.
 * Pure: the caller keeps the reports and the clock.
 */
import { BACKEND_DEVICES, type PeerProblemReason, type TelemetryReport } from '../../api/index.ts';

/** A peer whose last report is older than this no longer counts as alive. */
export const PEER_TTL_MS = 30_000;

export interface ReceivedReport {
  report: TelemetryReport;
  /** Unix ms when the operator received it (peers' clocks may be off). */
  receivedAt: number;
}

export interface TelemetrySummary {
  /** Peers that reported within PEER_TTL_MS. */
  activePeers: number;
  /** The swarm's epoch: the highest epoch any live peer reports. */
  epoch: number;
  /** Sum of the live peers' throughput. */
  samplesPerSecond: number;
  /** Mean of the live peers' latest loss, if any reported one. */
  loss?: number;
  /** Samples accumulated toward the current epoch by peers at that epoch. */
  samplesAccumulated: number;
  /** Seconds until the swarm reaches targetBatchSize at the current rate. */
  etaSeconds?: number;
  /** Live peers per cluster. */
  activeByCluster: Record<string, number>;
  /** Latest checkpoint a peer reported writing, if any. */
  checkpoint?: string;
  /** Live peers by the device they compute on (only the devices of BACKEND_DEVICES, all of them listed). */
  backends: Record<string, number>;
  /** Live peers downloading the swarm's state. */
  syncing: number;
  /** Problems live peers report, one entry per reason with the count and the first peer's message. */
  problems: { reason: PeerProblemReason; peers: number; message: string }[];
  /** The swarm's pass over its corpus: the highest any live peer reports. */
  dataPass?: number;
  /** Percent of the corpus read in that pass (whole, rounded down): the most any peer at that pass saw. */
  dataDonePercent?: number;
}

/** Three significant digits: enough for a status column, and stable enough not to rewrite status on noise. */
export function roundSig(x: number, digits = 3): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const p = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * p) / p;
}

export function summarize(reports: Iterable<ReceivedReport>, now: number, targetBatchSize: number): TelemetrySummary | undefined {
  const live = [...reports].filter((r) => now - r.receivedAt <= PEER_TTL_MS).map((r) => r.report);
  if (live.length === 0) return undefined;
  const epoch = Math.max(...live.map((r) => r.epoch));
  const atEpoch = live.filter((r) => r.epoch === epoch);
  const samplesPerSecond = live.reduce((a, r) => a + r.samplesPerSecond, 0);
  const samplesAccumulated = atEpoch.reduce((a, r) => a + r.samplesAccumulated, 0);
  const losses = live.map((r) => r.loss).filter((l): l is number => l !== undefined);
  const activeByCluster: Record<string, number> = {};
  for (const r of live) activeByCluster[r.cluster ?? 'unknown'] = (activeByCluster[r.cluster ?? 'unknown'] ?? 0) + 1;
  const remaining = Math.max(0, targetBatchSize - samplesAccumulated);
  const backends: Record<string, number> = Object.fromEntries(BACKEND_DEVICES.map((d) => [d, 0]));
  for (const r of live) if (r.backend !== undefined && r.backend in backends) backends[r.backend]!++;
  const problems = new Map<PeerProblemReason, { reason: PeerProblemReason; peers: number; message: string }>();
  for (const r of [...live].sort((a, b) => a.pod.localeCompare(b.pod))) {
    if (!r.problem) continue;
    const p = problems.get(r.problem.reason);
    if (p) p.peers++;
    else problems.set(r.problem.reason, { reason: r.problem.reason, peers: 1, message: `${r.pod}: ${r.problem.message}` });
  }
  const checkpoints = live.map((r) => r.checkpoint).filter((c): c is string => Boolean(c)).sort();
  const passes = live.map((r) => r.dataPass).filter((p): p is number => p !== undefined);
  const dataPass = passes.length ? Math.max(...passes) : undefined;
  const dataDone = Math.max(0, ...live.filter((r) => r.dataPass === dataPass).map((r) => r.dataDone ?? 0));
  return {
    activePeers: live.length,
    epoch,
    samplesPerSecond: roundSig(samplesPerSecond),
    ...(losses.length ? { loss: roundSig(losses.reduce((a, b) => a + b, 0) / losses.length, 4) } : {}),
    samplesAccumulated,
    ...(samplesPerSecond > 0 ? { etaSeconds: roundSig(remaining / samplesPerSecond, 2) } : {}),
    activeByCluster,
    ...(checkpoints.length ? { checkpoint: checkpoints[checkpoints.length - 1]! } : {}),
    backends: Object.values(backends).some((n) => n > 0) ? backends : {},
    syncing: live.filter((r) => r.syncing === true).length,
    problems: [...problems.values()],
    ...(dataPass !== undefined ? { dataPass, dataDonePercent: Math.floor(dataDone * 100) } : {}),
  };
}
