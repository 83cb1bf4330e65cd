/** One timed phase: creates something, then watches binds until its goal holds or it times out. */
import { setTimeout as sleep } from 'node:timers/promises';
import { sumCounts, type BindTracker, type TrackerCounts } from './bind-tracker.ts';
import { say, secs, t } from './clock.ts';
import { PROGRESS_MS } from './constants.ts';
import { percentile, round } from './stats.ts';

export interface PhaseResult {
  name: string;
  complete: boolean;
  /** The bench clock (ms), and the wall clock, at the phase's first create. */
  startedAt: number;
  startedWall: number;
  /** How late the pod watches delivered pods (ms, see BindTracker.watchLagMs). */
  watchLagMs: { p50: number | null; p99: number | null; max: number | null };
  applySeconds: number;
  /** BIND: until the watches had seen every expected pod exist. */
  allCreatedSeconds: number | null;
  /** Until the goal held, by the watches' timestamps (BIND: every pod bound; FILL: every GPU used). */
  doneSeconds: number | null;
  /** The same by the apiserver's clock (PodScheduled transitions, whole seconds), when the phase says how. */
  doneSecondsApiserver: number | null;
  bound: number;
  created: number;
  /** Per pod, from the watch seeing it created to seeing it bound: the scheduler's share. */
  meanBindLatencyMs: number | null;
  maxBindLatencyMs: number | null;
  /** CPU seconds each process used during the phase (first create to goal). */
  cpu: Record<string, number>;
}

/** Called every 50 ms during a phase; throws to abort it. Returns extra words for the progress line. */
export type PhaseCheck = (elapsedMs: number, c: TrackerCounts) => string;

export interface PhaseSpec {
  name: string;
  /** What is created, for the first progress line. */
  what: string;
  trackers: BindTracker[];
  create: () => Promise<void>;
  /** The goal, checked every 50 ms once the creates have returned. */
  done: (per: TrackerCounts[]) => boolean;
  /** When the goal was reached, by the watches' timestamps. */
  doneAt: () => number;
  /** When the goal was reached by the apiserver's clock (wall ms). */
  doneAtWall?: () => number;
  /** BIND: pods expected, for allCreatedSeconds. */
  expected?: number;
  progress: (per: TrackerCounts[]) => string;
  check: PhaseCheck;
}

/** Runs `s` for at most `timeoutMs`; `cpuSnapshot` gives every measured process's CPU seconds so far. */
export async function runPhase(s: PhaseSpec, timeoutMs: number, cpuSnapshot: () => Record<string, number>): Promise<PhaseResult> {
  const cpu0 = cpuSnapshot();
  const t0 = t();
  const wall0 = Date.now();
  say(`${s.name}: creating ${s.what}`);
  let applySeconds: number | null = null;
  let applyError: unknown;
  const applied = s.create().then(() => void (applySeconds = secs(t() - t0)), (err: unknown) => void (applyError = err ?? new Error('create failed')));
  let nextReport = t0 + PROGRESS_MS;
  let complete = false;
  for (;;) {
    const per = s.trackers.map((tr) => tr.counts());
    if (applySeconds !== null && s.done(per)) {
      complete = true;
      break;
    }
    if (applyError !== undefined) throw applyError;
    if (t() - t0 > timeoutMs) {
      say(`${s.name}: timed out after ${timeoutMs / 1000}s: ${s.progress(per)}`);
      break;
    }
    const extra = s.check(t() - t0, sumCounts(per));
    if (t() >= nextReport) {
      say(`${s.name}: ${secs(t() - t0).toFixed(0)}s  ${s.progress(per)}${extra}`);
      nextReport += PROGRESS_MS;
    }
    await sleep(50);
  }
  const cpu1 = cpuSnapshot();
  await applied;
  const c = sumCounts(s.trackers.map((tr) => tr.counts()));
  const sums = s.trackers.map((tr) => tr.summary());
  const latencies = sums.flatMap((x) => x.bindLatencyMs);
  const lags = s.trackers.flatMap((tr) => tr.watchLagMs());
  const r: PhaseResult = {
    name: s.name,
    complete,
    startedAt: t0,
    startedWall: wall0,
    watchLagMs: { p50: percentile(lags, 0.5), p99: percentile(lags, 0.99), max: percentile(lags, 1) },
    applySeconds: applySeconds ?? secs(t() - t0),
    allCreatedSeconds: s.expected !== undefined && c.live >= s.expected ? secs(Math.max(...sums.map((x) => x.lastSeenAt)) - t0) : null,
    doneSeconds: complete ? secs(s.doneAt() - t0) : null,
    doneSecondsApiserver: complete && s.doneAtWall ? secs(s.doneAtWall() - wall0) : null,
    bound: c.bound,
    created: sums.reduce((a, x) => a + x.everCreated, 0),
    meanBindLatencyMs: latencies.length ? Math.round(latencies.reduce((a, b) => a + b, 0) / latencies.length) : null,
    maxBindLatencyMs: latencies.length ? Math.round(latencies.reduce((a, b) => Math.max(a, b), 0)) : null,
    cpu: Object.fromEntries(Object.entries(cpu1).map(([k, v]) => [k, round(v - (cpu0[k] ?? 0), 2)])),
  };
  say(`${s.name}: ${complete ? `goal reached in ${r.doneSeconds}s` : 'INCOMPLETE'}: ${s.progress(s.trackers.map((tr) => tr.counts()))} (apply took ${r.applySeconds}s, mean create-to-bind ${r.meanBindLatencyMs} ms)`);
  return r;
}
