import { describe, expect, it } from '@jest/globals';
import type { QueuedIterator } from '@nats-io/transport-node';
import { RestartingWatch } from './restarting-watch.ts';

/** A watch iterator that yields `entries`, then throws `failWith` if given, or else stays open until stopped. */
function fakeWatch(entries: number[], failWith?: Error): QueuedIterator<number> {
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((r) => (stop = r));
  async function* run(): AsyncGenerator<number> {
    yield* entries;
    if (failWith) throw failWith;
    await stopped;
  }
  return Object.assign(run(), { stop }) as unknown as QueuedIterator<number>;
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('RestartingWatch', () => {
  it('reads every entry, reports a failed iterator and opens a new watch a second later', async () => {
    const watches = [fakeWatch([1, 2], new Error('gone')), fakeWatch([3])];
    const seen: number[] = [];
    const events: string[] = [];
    let opened = 0;
    const w = await RestartingWatch.start<number>({
      open: () => Promise.resolve(watches[opened++]!),
      onEntry: (e) => seen.push(e),
      onFailure: (e) => events.push(`failure ${(e as Error).message}`),
      onEnd: () => events.push('end'),
      afterOpen: () => Promise.resolve(void events.push('open')),
      onRestartFailure: (e) => events.push(`restart failure ${String(e)}`),
    });
    await settle(100);
    expect(seen).toEqual([1, 2]);
    expect(events).toEqual(['open', 'failure gone', 'end']);
    expect(opened).toBe(1);
    await settle(1100);
    expect(opened).toBe(2);
    expect(seen).toEqual([1, 2, 3]);
    expect(events).toEqual(['open', 'failure gone', 'end', 'open']);
    w.close();
    await settle(50);
    expect(events).toEqual(['open', 'failure gone', 'end', 'open', 'end']);
  });

  it('does not open a new watch once closed', async () => {
    let opened = 0;
    const w = await RestartingWatch.start<number>({
      open: () => Promise.resolve((opened++, fakeWatch([]))),
      onEntry: () => undefined,
      onFailure: () => undefined,
      onRestartFailure: () => undefined,
    });
    w.close();
    await settle(1100);
    expect(opened).toBe(1);
  });

  it('reports a failed restart and does not retry it', async () => {
    let opened = 0;
    const restartFailures: string[] = [];
    await RestartingWatch.start<number>({
      open: () => (opened++ === 0 ? Promise.resolve(fakeWatch([], new Error('gone'))) : Promise.reject(new Error('no server'))),
      onEntry: () => undefined,
      onFailure: () => undefined,
      onRestartFailure: (e) => restartFailures.push((e as Error).message),
    });
    await settle(2300);
    expect(opened).toBe(2);
    expect(restartFailures).toEqual(['no server']);
  });
});
