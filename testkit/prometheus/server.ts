/**
 * A real Prometheus (built by build-tools.sh) for tests and tools: listens on
 * a free 127.0.0.1 port, scrapes a static list of targets, keeps its TSDB in
 * a temporary directory, and is stopped by PID. The HTTP API's instant
 * queries and label values are wrapped for assertions.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, pollUntil, startProcess, tailFile, toolPath } from '../cluster/index.ts';

/** One scrape job: `host:port` targets, labels added to every series, and whether the targets' own labels win. */
export interface ScrapeJob {
  job: string;
  targets: { address: string; labels?: Record<string, string> }[];
  /** Keep labels the target exports when they clash with target labels (a ServiceMonitor's honorLabels). */
  honorLabels?: boolean;
}

/** One series of an instant query's result: its labels and value. */
export interface Series {
  metric: Record<string, string>;
  value: number;
}

export interface PrometheusServer {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly pid: number;
  readonly logFile: string;
  /** An instant query; throws with Prometheus's error (a PromQL syntax error, say) when it answers one. */
  query(expr: string): Promise<Series[]>;
  /** The values of `label` on series matching `match` (a selector), as a Grafana label_values() variable lists them. */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Scrape health per target address, from /api/v1/targets. */
  targetHealth(): Promise<Map<string, { health: string; lastError: string }>>;
  /** SIGTERM (SIGKILL after 10 s), then removes the TSDB directory. */
  stop(): Promise<void>;
}

interface ApiAnswer<T> {
  status: 'success' | 'error';
  data: T;
  error?: string;
}

async function api<T>(base: string, path: string, params: Record<string, string>): Promise<T> {
  const res = await fetch(`${base}${path}?${new URLSearchParams(params)}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as ApiAnswer<T>;
  if (body.status !== 'success') throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error ?? res.status}`);
  return body.data;
}

/** The prometheus.yml for `jobs`, scraping every `scrapeIntervalSeconds`. */
export function scrapeConfig(jobs: ScrapeJob[], scrapeIntervalSeconds: number): string {
  return stringify({
    global: { scrape_interval: `${scrapeIntervalSeconds}s`, scrape_timeout: `${scrapeIntervalSeconds}s`, evaluation_interval: `${scrapeIntervalSeconds}s` },
    scrape_configs: jobs.map((j) => ({
      job_name: j.job,
      honor_labels: j.honorLabels ?? false,
      static_configs: j.targets.map((t) => ({ targets: [t.address], ...(t.labels ? { labels: t.labels } : {}) })),
    })),
  });
}

/** Starts Prometheus scraping `jobs`; resolves once /-/ready answers. The caller must stop() it. */
export async function startPrometheus(o: { jobs: ScrapeJob[]; logDir: string; scrapeIntervalSeconds?: number }): Promise<PrometheusServer> {
  const bin = toolPath('prometheus');
  const dir = mkdtempSync(join(tmpdir(), 'spotswarm-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  writeFileSync(configFile, scrapeConfig(o.jobs, o.scrapeIntervalSeconds ?? 2));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logFile = join(o.logDir, 'prometheus.log');
  const proc = startProcess('prometheus', bin, [
    `--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1d', '--log.level=warn',
  ], logFile, { cwd: dir });
  const stop = async (): Promise<void> => {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pollUntil(async () => (await fetch(`${url}/-/ready`)).ok, {
      timeoutMs: 30_000,
      gone: () => !proc.alive(),
      describe: (why, last) => new Error(`prometheus ${why} (${last}); log:\n${tailFile(logFile)}`),
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    pid: proc.pid,
    logFile,
    async query(expr) {
      const data = await api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>(url, '/api/v1/query', { query: expr });
      if (data.resultType !== 'vector') throw new Error(`prometheus query ${expr}: a ${data.resultType}, not an instant vector`);
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    labelValues: (label, match) => api<string[]>(url, `/api/v1/label/${encodeURIComponent(label)}/values`, { 'match[]': match }),
    async targetHealth() {
      const data = await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>(url, '/api/v1/targets', {});
      return new Map(data.activeTargets.map((t) => [new URL(t.scrapeUrl).host, { health: t.health, lastError: t.lastError }]));
    },
    stop,
  };
}
