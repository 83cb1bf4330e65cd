import { describe, expect, it } from '@jest/globals';
import { Listeners } from './listeners.ts';
import type { SwarmLogger } from './log.ts';

function recordingLogger(): { log: SwarmLogger; errors: { message: string; meta?: Record<string, unknown> }[] } {
  const errors: { message: string; meta?: Record<string, unknown> }[] = [];
  const ignore = (): undefined => undefined;
  return { log: { debug: ignore, info: ignore, warn: ignore, error: (message, meta) => errors.push({ message, meta }) }, errors };
}

describe('Listeners', () => {
  it('calls every listener with the emitted arguments, in the order they were added', () => {
    const { log } = recordingLogger();
    const l = new Listeners<[string, number]>(log, 'listener failed');
    const calls: string[] = [];
    l.add((a, b) => calls.push(`first ${a} ${b}`));
    l.add((a, b) => calls.push(`second ${a} ${b}`));
    l.emit('x', 1);
    expect(calls).toEqual(['first x 1', 'second x 1']);
  });

  it('logs a listener that throws, under the given message, and still calls the others', () => {
    const { log, errors } = recordingLogger();
    const l = new Listeners<[number]>(log, 'round listener failed');
    const seen: number[] = [];
    l.add(() => {
      throw new Error('boom');
    });
    l.add((n) => seen.push(n));
    expect(() => l.emit(7)).not.toThrow();
    expect(seen).toEqual([7]);
    expect(errors).toEqual([{ message: 'round listener failed', meta: { error: 'boom' } }]);
  });

  it('stops calling a listener once its unsubscribe function ran', () => {
    const { log } = recordingLogger();
    const l = new Listeners<[number]>(log, 'listener failed');
    const a: number[] = [];
    const b: number[] = [];
    const offA = l.add((n) => a.push(n));
    l.add((n) => b.push(n));
    l.emit(1);
    offA();
    l.emit(2);
    expect(a).toEqual([1]);
    expect(b).toEqual([1, 2]);
  });

  it('calls nobody after clear', () => {
    const { log } = recordingLogger();
    const l = new Listeners<[number]>(log, 'listener failed');
    const seen: number[] = [];
    l.add((n) => seen.push(n));
    l.clear();
    l.emit(1);
    expect(seen).toEqual([]);
  });
});
