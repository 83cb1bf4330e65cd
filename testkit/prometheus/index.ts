/**
 * Reading Prometheus metrics in tests and benches: the text format's
 * samples, and one value from a local /metrics endpoint. This file is the
 * public face.
 */
export { metricValue } from './scrape.ts';
export { parseSamples, sumOf, type Sample } from './text-format.ts';
