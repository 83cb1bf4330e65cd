import { trainingProgress } from './progress.ts';

describe('the demo reads training progress from the swarm status', () => {
  it('names every missing field while the swarm has not trained yet', () => {
    const p = trainingProgress({ peers: { desired: 3, scheduled: 3, running: 3, summary: '3/3' } }, 3);
    expect(p.line).toBe('epoch -/3, loss -, - samples/s, 3/3 peers');
    expect(p.missing).toEqual(['status.epoch is not set (want 3)', 'status.loss is not set', 'status.samplesPerSecond is not set']);
  });
  it('is still missing the epoch below the wanted one', () => {
    const p = trainingProgress({ epoch: 1, loss: 6.1, samplesPerSecond: 7.7, peers: { desired: 3, scheduled: 3, running: 2, summary: '2/3' } }, 3);
    expect(p.line).toBe('epoch 1/3, loss 6.1, 7.7 samples/s, 2/3 peers');
    expect(p.missing).toEqual(['status.epoch is 1 (want 3)']);
  });
  it('misses nothing once the epoch is reached and loss and samples/s are reported (0 samples/s counts as reported)', () => {
    expect(trainingProgress({ epoch: 4, loss: 5.6, samplesPerSecond: 0 }, 3).missing).toEqual([]);
  });
});
