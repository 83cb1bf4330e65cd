import { runSteps, type StepResult } from './steps.ts';

describe('runSteps', () => {
  it('runs every step in order with the same arguments', async () => {
    const seen: string[] = [];
    const first = async (x: string): Promise<StepResult> => { seen.push(`first ${x}`); };
    const second = async (x: string): Promise<StepResult> => { seen.push(`second ${x}`); };
    expect(await runSteps([first, second], ['a'], () => {})).toBeUndefined();
    expect(seen).toEqual(['first a', 'second a']);
  });

  it('asks for the soonest look-again any step asked for', async () => {
    const steps = [async () => ({ requeueAfterMs: 5_000 }), async () => ({}), async () => ({ requeueAfterMs: 200 }), async () => undefined];
    expect(await runSteps(steps, [], () => {})).toEqual({ requeueAfterMs: 200 });
  });

  it('counts a look-again of 0 ms', async () => {
    expect(await runSteps([async () => ({ requeueAfterMs: 0 }), async () => ({ requeueAfterMs: 10 })], [], () => {})).toEqual({ requeueAfterMs: 0 });
  });

  it('stops at the first step that throws, names it, and throws its error', async () => {
    const seen: string[] = [];
    const conflict = new Error('409');
    async function writeStatus(): Promise<StepResult> { seen.push('writeStatus'); throw conflict; }
    async function createPods(): Promise<StepResult> { seen.push('createPods'); }
    const failed: [string, unknown][] = [];
    await expect(runSteps([writeStatus, createPods], [], (step, err) => failed.push([step, err]))).rejects.toBe(conflict);
    expect(seen).toEqual(['writeStatus']);
    expect(failed).toEqual([['writeStatus', conflict]]);
  });
});
