/** The fake GPU nodes: registered from this process, Ready and untainted before any phase starts. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../testkit/cluster/index.ts';
import { FakeNode, NOT_READY_TAINT } from '../../testkit/kubelet/index.ts';
import { say, secs, t } from './clock.ts';
import type { Cluster } from './clusters.ts';
import { PROGRESS_MS } from './constants.ts';
import type { BenchOptions } from './options.ts';
import { pool } from './pool.ts';
import type { BenchProcesses } from './processes.ts';

/** Registers every cluster's fake nodes concurrently, then waits until each cluster sees all of them Ready and untainted. */
export async function registerNodes(o: BenchOptions, started: BenchProcesses, clusters: Cluster[], log: Logger): Promise<{ registerSeconds: number; readySeconds: number }> {
  const t0 = t();
  const registered = clusters.map(() => 0);
  const line = (): string => `${clusters.map((c, i) => `${c.name} ${registered[i]}/${c.nodes}`).join(', ')} registered (${Math.round(registered.reduce((a, b) => a + b, 0) / ((t() - t0) / 1000))}/s)`;
  const progress = setInterval(() => say(`nodes: ${line()}`), PROGRESS_MS);
  started.timers.push(progress);
  await Promise.all(clusters.map((c, ci) => {
    const width = String(c.nodes - 1).length;
    const specs = Array.from({ length: c.nodes }, (_, i) => ({
      name: `${o.fill ? `${c.name}-gpu-` : 'bench-gpu-'}${String(i).padStart(width, '0')}`,
      gpus: o.gpusPerNode,
      cpu: String(Math.max(8, 2 * o.gpusPerNode)),
      memory: `${Math.max(64, 16 * o.gpusPerNode)}Gi`,
    }));
    // FakeNode: registers, reports Ready, lifts the not-ready taint and renews its Lease every heartbeat.
    return pool(specs, o.registerConcurrency, async (spec) => {
      const n = new FakeNode(spec, c.core, c.coord, log);
      started.fakeNodes.push(n);
      await n.register(o.heartbeatMs);
      registered[ci]!++;
    });
  }));
  clearInterval(progress);
  const registerSeconds = secs(t() - t0);
  say(`nodes: ${line()} in ${registerSeconds}s`);
  // The schedulers must see every node schedulable before a phase starts.
  await Promise.all(clusters.map(async (c) => {
    for (;;) {
      const nodes = (await c.core.listNode({ labelSelector: 'spotswarm.dev/fake-node=true' })).items;
      const ready = nodes.filter((n) => n.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') &&
        !(n.spec?.taints ?? []).some((tn) => tn.key === NOT_READY_TAINT || tn.effect === 'NoSchedule' || tn.effect === 'NoExecute'));
      if (ready.length === c.nodes) return;
      if (t() - t0 > 180_000 + 30 * o.nodes) throw new Error(`${c.name}: only ${ready.length}/${c.nodes} nodes Ready and untainted`);
      await sleep(1_000);
    }
  }));
  return { registerSeconds, readySeconds: secs(t() - t0) };
}
