/**
 * The demo's picture: the loss curve and the peer count over the run, from
 * the swarm statuses the demo read. Vega-Lite describes the chart, Vega
 * renders it to SVG (no canvas needed), resvg turns the SVG into a PNG.
 * Pure: samples in, PNG bytes out.
 */
import { Resvg } from '@resvg/resvg-js';
import { parse as parseVega, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { TrainingSwarmStatus } from '../../api/index.ts';

/** What the demo saw at one moment: seconds since it applied the swarm, and the status then. */
export interface StatusSample {
  seconds: number;
  epoch?: number;
  loss?: number;
  running: number;
}

/** One sample from a status read `seconds` after the start. */
export function sampleOf(seconds: number, st: TrainingSwarmStatus): StatusSample {
  return { seconds, running: st.peers?.running ?? 0, ...(st.epoch !== undefined ? { epoch: st.epoch } : {}), ...(st.loss !== undefined ? { loss: st.loss } : {}) };
}

/** Width of the PNG in pixels; its height follows from the two charts. */
export const PLOT_WIDTH = 800;
const CHART_WIDTH = 640;

function spec(samples: StatusSample[], title: string): TopLevelSpec {
  const time = { field: 'seconds', type: 'quantitative', title: 'seconds since the swarm was applied' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    background: 'white',
    config: { font: 'DejaVu Sans, sans-serif' },
    data: { values: samples },
    resolve: { scale: { x: 'shared' } },
    vconcat: [
      {
        width: CHART_WIDTH, height: 200,
        transform: [{ filter: 'isValid(datum.loss)' }],
        mark: { type: 'line', point: true, interpolate: 'step-after' },
        encoding: { x: time, y: { field: 'loss', type: 'quantitative', title: 'loss (status.loss)', scale: { zero: false } } },
      },
      {
        width: CHART_WIDTH, height: 120,
        mark: { type: 'line', interpolate: 'step-after', color: '#e45756' },
        encoding: { x: time, y: { field: 'running', type: 'quantitative', title: 'peers running', axis: { tickMinStep: 1 } } },
      },
    ],
  };
}

/** The PNG (PLOT_WIDTH pixels wide) of the loss and the running peers over time; throws when no sample has a loss. */
export async function renderPlot(samples: StatusSample[], title: string): Promise<Uint8Array> {
  if (!samples.some((s) => s.loss !== undefined)) throw new Error('no sample has a loss: the swarm reported none while the demo watched');
  const view = new View(parseVega(compile(spec(samples, title)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { fitTo: { mode: 'width', value: PLOT_WIDTH }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}
