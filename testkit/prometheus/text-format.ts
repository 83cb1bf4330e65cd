/**
 * The Prometheus text exposition format, read as far as tests and benches
 * need: one sample per line (name, labels, value), comments and blank lines
 * skipped, a trailing timestamp ignored. Histograms come out as their
 * `_bucket` (label `le`), `_sum` and `_count` series, like any other sample.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The samples of `text`, in order. With `only`, just the samples of that
 * metric name; other lines are skipped before they are parsed, which keeps
 * reading one series out of an apiserver's megabytes of metrics cheap.
 * Label values are returned as written (escapes not undone).
 */
export function parseSamples(text: string, only?: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    if (only !== undefined && !(line.startsWith(only) && (line[only.length] === '{' || line[only.length] === ' ' || line[only.length] === '\t'))) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every sample of metric `name` (over all label sets), or 0 when it has none. */
export function sumOf(text: string, name: string): number {
  return parseSamples(text, name).reduce((a, s) => a + s.value, 0);
}
