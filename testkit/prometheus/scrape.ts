import { sumOf } from './text-format.ts';

/** Fetches a trainer's /metrics and returns the value of one sample (summed over labels), or 0. */
export async function metricValue(port: number, name: string): Promise<number> {
  return sumOf(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), name);
}
