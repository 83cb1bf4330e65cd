/** Everything the bench starts, so that it can stop all of it by PID, once, on any exit. */
import type { ControlPlane } from '../../testkit/cluster/index.ts';
import type { OperatorProcess } from '../../testkit/harness/index.ts';
import type { FakeNode } from '../../testkit/kubelet/index.ts';
import type { BindTracker } from './bind-tracker.ts';
import { cpuSeconds } from './proc.ts';

export class BenchProcesses {
  /** By cluster index. */
  readonly controlPlanes: ControlPlane[] = [];
  operator: OperatorProcess | undefined;
  readonly fakeNodes: FakeNode[] = [];
  readonly trackers: BindTracker[] = [];
  readonly timers: NodeJS.Timeout[] = [];
  #stopping: Promise<void> | undefined;

  /** Stops timers, heartbeats, watches, the operator and the control planes. Every call gets the first call's promise. */
  stopAll(): Promise<void> {
    this.#stopping ??= (async () => {
      for (const tm of this.timers) clearInterval(tm);
      for (const n of this.fakeNodes) n.stopHeartbeat();
      await Promise.all(this.trackers.map((tr) => tr.stop().catch(() => undefined)));
      await this.operator?.stop().catch(() => undefined);
      await Promise.all(this.controlPlanes.map((cp) => cp.stop().catch(() => undefined)));
    })();
    return this.#stopping;
  }

  /**
   * CPU seconds so far of every control-plane binary, the operator and the
   * bench itself; `clusterNames` (FILL) prefixes each binary with its cluster.
   */
  cpuSnapshot(clusterNames?: string[]): Record<string, number> {
    const pids: Record<string, number> = {};
    for (const [i, cp] of this.controlPlanes.entries()) {
      for (const [k, pid] of Object.entries(cp.pids)) pids[clusterNames ? `${clusterNames[i]}/${k}` : k] = pid;
    }
    if (this.operator) pids['operator'] = this.operator.pid;
    const out: Record<string, number> = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const u = process.cpuUsage();
    out['bench'] = (u.user + u.system) / 1e6;
    return out;
  }
}
