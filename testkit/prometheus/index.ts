/**
 * Reading Prometheus metrics in tests and benches: the text format's
 * samples, one value from a local /metrics endpoint, and a real Prometheus
 * server scraping static targets. This file is the public face.
 */
export { metricValue } from './scrape.ts';
export { scrapeConfig, startPrometheus, type PrometheusServer, type ScrapeJob, type Series } from './server.ts';
export { parseSamples, sumOf, type Sample } from './text-format.ts';
export { labelVariables, panelQueries, substitute, type LabelVariable, type PanelQuery } from './dashboard.ts';
