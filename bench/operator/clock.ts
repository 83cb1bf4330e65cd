/** The bench's clock, and its time-stamped progress lines on stderr. */
import { performance } from 'node:perf_hooks';

/** Milliseconds on the bench's monotonic clock. */
export const t = (): number => performance.now();

/** Milliseconds as seconds, to the millisecond. */
export const secs = (ms: number): number => Math.round(ms) / 1000;

export const say = (line: string): void => void process.stderr.write(`${new Date().toISOString().slice(11, 19)} [bench] ${line}\n`);
