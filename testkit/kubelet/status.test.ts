import { describe, expect, it } from '@jest/globals';
import { kubeTime, microTime, restartDelayMs, shouldRestart, terminalPatch } from './status.ts';

describe('time formats', () => {
  const d = new Date('2026-11-29T15:16:31.123Z');
  it('formats metav1.Time in seconds and MicroTime with six fractional digits', () => {
    expect(kubeTime(d)).toBe('2026-11-29T15:16:31Z');
    expect(microTime(d)).toBe('2026-11-29T15:16:31.123000Z');
  });
});

describe('restart policy', () => {
  it.each([
    ['Always', 0, true],
    ['Always', 1, true],
    [undefined, 0, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 0, false],
    ['Never', 3, false],
  ] as const)('%s with exit %d restarts: %s', (policy, code, want) => {
    expect(shouldRestart(policy, code)).toBe(want);
  });
  it('backs off from 1 s doubling to a 30 s cap', () => {
    expect([0, 1, 2, 5, 10].map(restartDelayMs)).toEqual([1000, 2000, 4000, 30_000, 30_000]);
  });
});

describe('terminalPatch', () => {
  const base = { now: new Date(), startTime: new Date(), container: { name: 'c', image: 'i', restartCount: 0 } };
  const t = (exitCode: number) => ({ exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: new Date(), finishedAt: new Date() });
  it('is Succeeded on exit 0 and Failed otherwise, with the exit code', () => {
    expect(terminalPatch({ ...base, terminated: t(0) })).toMatchObject({ status: { phase: 'Succeeded' } });
    expect(terminalPatch({ ...base, terminated: t(3) })).toMatchObject({
      status: { phase: 'Failed', containerStatuses: [{ state: { terminated: { exitCode: 3, reason: 'Error' } } }] },
    });
  });
});
