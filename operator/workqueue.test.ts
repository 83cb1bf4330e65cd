import { WorkQueue } from './workqueue.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('WorkQueue', () => {
  it('collapses duplicate adds and never runs one key twice at once', async () => {
    const seen: string[] = [];
    let concurrentA = 0;
    let maxConcurrentA = 0;
    const gate = deferred();
    const q = new WorkQueue(async (k) => {
      seen.push(k);
      if (k === 'a') {
        concurrentA++;
        maxConcurrentA = Math.max(maxConcurrentA, concurrentA);
        await gate.promise;
        concurrentA--;
      }
    }, { concurrency: 4, baseRetryMs: 1, maxRetryMs: 10, onError: () => {} });
    q.add('a');
    q.add('a'); // while active: marks dirty, runs once more afterwards
    q.add('a');
    q.add('b');
    gate.resolve();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.filter((k) => k === 'a')).toHaveLength(2);
    expect(seen.filter((k) => k === 'b')).toHaveLength(1);
    expect(maxConcurrentA).toBe(1);
    q.stop();
  });

  it('retries failed keys with backoff and reports each error', async () => {
    const errors: number[] = [];
    let calls = 0;
    const done = deferred();
    const q = new WorkQueue(async () => {
      calls++;
      if (calls < 3) throw new Error('boom');
      done.resolve();
    }, { concurrency: 1, baseRetryMs: 1, maxRetryMs: 5, onError: (_k, _e, attempt) => errors.push(attempt) });
    q.add('x');
    await done.promise;
    expect(errors).toEqual([1, 2]);
    q.stop();
  });

  it('fails a handler that hangs, so the key is retried instead of wedged', async () => {
    const errors: string[] = [];
    let calls = 0;
    const done = deferred();
    const q = new WorkQueue(async () => {
      calls++;
      if (calls === 1) await new Promise(() => {}); // never settles
      done.resolve();
    }, { concurrency: 1, baseRetryMs: 1, maxRetryMs: 5, handlerTimeoutMs: 20, onError: (_k, e) => errors.push((e as Error).name) });
    q.add('x');
    await done.promise;
    expect(errors).toEqual(['HandlerTimeoutError']);
    expect(calls).toBe(2);
    q.stop();
  });
});
