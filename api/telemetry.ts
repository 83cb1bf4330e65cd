/**
 * The report every trainer publishes on its swarm's telemetry subject; the
 * operator turns the reports into TrainingSwarm status.
 */
export const TELEMETRY_VERSION = 1;
/** Reports larger than this are dropped unread. */
export const TELEMETRY_MAX_BYTES = 16 * 1024;

export interface TelemetryReport {
  v: typeof TELEMETRY_VERSION;
  peerId: string;
  pod: string;
  cluster?: string;
  epoch: number;
  samplesAccumulated: number;
  samplesPerSecond: number;
  loss?: number;
  backend?: string;
  paramChecksum?: string;
  /** Name of the latest checkpoint this peer wrote, if it writes them. */
  checkpoint?: string;
  /** Unix milliseconds when the report was made. */
  time: number;
  /** The swarm's pass over its corpus (0: the first), as this peer last saw its data pool. */
  dataPass?: number;
  /** Share of the corpus read in that pass, 0..1. */
  dataDone?: number;
  /** The peer is downloading the swarm's state. */
  syncing?: boolean;
  /** Why this peer cannot train right now, e.g. { reason: 'DataUnreadable', message: '<source>: <error>' }. */
  problem?: PeerProblem;
}

/** Problems a trainer reports (telemetry) or exits with (its termination message, `Reason: message`). */
export const PeerProblems = {
  DataUnreadable: 'DataUnreadable',
  NatsUnreachable: 'NatsUnreachable',
  BackendUnavailable: 'BackendUnavailable',
} as const;
export type PeerProblemReason = (typeof PeerProblems)[keyof typeof PeerProblems];

export interface PeerProblem {
  reason: PeerProblemReason;
  /** At most 1024 characters. */
  message: string;
}

/** `Reason: message` of a termination message whose first word is a PeerProblems reason, else undefined. */
export function parsePeerProblem(text: string | undefined): PeerProblem | undefined {
  const m = /^(\w+): ([\s\S]*)$/.exec(text?.trim() ?? '');
  if (!m || !Object.values<string>(PeerProblems).includes(m[1]!)) return undefined;
  return { reason: m[1] as PeerProblemReason, message: m[2]!.slice(0, 1024) };
}

/** reason is a small closed set (for metric labels): too-large, not-json, not-object, or the field name. */
export type TelemetryParse = { ok: true; report: TelemetryReport } | { ok: false; reason: string; error: string };

function finiteNonNegative(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** Strict decoder: names the first bad field. Never throws. */
export function parseTelemetry(bytes: Uint8Array): TelemetryParse {
  if (bytes.byteLength > TELEMETRY_MAX_BYTES) return { ok: false, reason: 'too-large', error: `report is ${bytes.byteLength} bytes, limit ${TELEMETRY_MAX_BYTES}` };
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    return { ok: false, reason: 'not-json', error: `not JSON: ${(e as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not-object', error: 'report must be an object' };
  const r = raw as Record<string, unknown>;
  if (r['v'] !== TELEMETRY_VERSION) return { ok: false, reason: 'v', error: `field v: unsupported version ${String(r['v'])}` };
  for (const f of ['peerId', 'pod'] as const) {
    if (typeof r[f] !== 'string' || (r[f] as string).length === 0 || (r[f] as string).length > 256) return { ok: false, reason: f, error: `field ${f}: must be a non-empty string` };
  }
  for (const f of ['epoch', 'samplesAccumulated', 'samplesPerSecond', 'time'] as const) {
    if (!finiteNonNegative(r[f])) return { ok: false, reason: f, error: `field ${f}: must be a finite number >= 0` };
  }
  if (!Number.isInteger(r['epoch'])) return { ok: false, reason: 'epoch', error: 'field epoch: must be an integer' };
  if (r['loss'] !== undefined && (typeof r['loss'] !== 'number' || !Number.isFinite(r['loss']))) return { ok: false, reason: 'loss', error: 'field loss: must be a finite number' };
  for (const f of ['cluster', 'backend', 'paramChecksum', 'checkpoint'] as const) {
    if (r[f] !== undefined && (typeof r[f] !== 'string' || (r[f] as string).length > 256)) return { ok: false, reason: f, error: `field ${f}: must be a string` };
  }
  if (r['syncing'] !== undefined && typeof r['syncing'] !== 'boolean') return { ok: false, reason: 'syncing', error: 'field syncing: must be a boolean' };
  const pr = r['problem'] as Record<string, unknown> | undefined;
  if (pr !== undefined && (typeof pr !== 'object' || pr === null || !Object.values<unknown>(PeerProblems).includes(pr['reason']) || typeof pr['message'] !== 'string' || pr['message'].length > 1024)) {
    return { ok: false, reason: 'problem', error: `field problem: must be {reason: one of ${Object.values(PeerProblems).join(', ')}, message: string of at most 1024}` };
  }
  if (r['dataPass'] !== undefined && !(finiteNonNegative(r['dataPass']) && Number.isInteger(r['dataPass']))) return { ok: false, reason: 'dataPass', error: 'field dataPass: must be an integer >= 0' };
  if (r['dataDone'] !== undefined && !(finiteNonNegative(r['dataDone']) && r['dataDone'] <= 1)) return { ok: false, reason: 'dataDone', error: 'field dataDone: must be a number in [0, 1]' };
  return { ok: true, report: r as unknown as TelemetryReport };
}
