import { Registry } from 'prom-client';
import { createStateMetrics, DOWNLOAD_OUTCOMES } from './metrics.ts';

describe('createStateMetrics', () => {
  it('exports every download outcome at 0 before the first download, so the series exist for dashboards', async () => {
    const registry = new Registry();
    const m = createStateMetrics(registry);
    const text = await registry.metrics();
    for (const outcome of DOWNLOAD_OUTCOMES) expect(text).toContain(`spotswarm_state_downloads_total{outcome="${outcome}"} 0`);
    m.downloads.inc({ outcome: 'ok' });
    expect(await registry.metrics()).toContain('spotswarm_state_downloads_total{outcome="ok"} 1');
  });
});
