import { PLOT_WIDTH, renderPlot, sampleOf, type StatusSample } from './plot.ts';

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  const b = Buffer.from(png);
  expect(b.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  expect(b.subarray(12, 16).toString('latin1')).toBe('IHDR');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

const run: StatusSample[] = [
  sampleOf(0, { peers: { desired: 3, scheduled: 0, running: 0, summary: '0/3' } }),
  sampleOf(10, { peers: { desired: 3, scheduled: 3, running: 3, summary: '3/3' }, epoch: 0 }),
  sampleOf(40, { peers: { desired: 3, scheduled: 3, running: 3, summary: '3/3' }, epoch: 1, loss: 6.2 }),
  sampleOf(70, { peers: { desired: 3, scheduled: 3, running: 2, summary: '2/3' }, epoch: 2, loss: 5.7 }),
  sampleOf(100, { peers: { desired: 3, scheduled: 3, running: 3, summary: '3/3' }, epoch: 3, loss: 5.1 }),
];

describe('renderPlot', () => {
  it('renders a PNG of the fixed width, taller than one chart, from the samples', async () => {
    const { width, height } = pngSize(await renderPlot(run, 'tiny'));
    expect(width).toBe(PLOT_WIDTH);
    expect(height).toBeGreaterThan(300);
    expect(height).toBeLessThan(2 * PLOT_WIDTH);
  }, 60_000);

  it('gives a different picture for a different run', async () => {
    const a = Buffer.from(await renderPlot(run, 'tiny'));
    const b = Buffer.from(await renderPlot(run.map((s) => ({ ...s, ...(s.loss !== undefined ? { loss: s.loss * 2 } : {}) })), 'tiny'));
    expect(a.equals(b)).toBe(false);
  }, 60_000);

  it('refuses samples without any loss, saying why', async () => {
    await expect(renderPlot(run.slice(0, 2), 'tiny')).rejects.toThrow('no sample has a loss');
  });
});

describe('sampleOf', () => {
  it('keeps running peers, epoch and loss, and leaves out what the status lacks', () => {
    expect(sampleOf(5, {})).toEqual({ seconds: 5, running: 0 });
    expect(sampleOf(5, { epoch: 2, loss: 4.5, peers: { desired: 3, scheduled: 3, running: 3, summary: '3/3' } })).toEqual({ seconds: 5, running: 3, epoch: 2, loss: 4.5 });
  });
});
