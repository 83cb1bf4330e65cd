/**
 * The demo's `--chaos`: every interval it evicts a random Running trainer pod
 * of the swarm, as a spot reclaim or a higher-priority job would. It goes
 * through the eviction API, which marks the pod DisruptionTarget, so the
 * operator counts a preemption and replaces the peer (a plain
 * `kubectl delete pod` would count as PodDeleted, not as a preemption).
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { podSelector } from '../../api/index.ts';
import type { Logger } from '../../testkit/cluster/index.ts';
import { sleep, waitFor } from '../../testkit/harness/index.ts';
import type { ReadStatus } from './watch.ts';

export interface Evicted {
  pod: string;
  node: string;
  /** Running trainer pods before this eviction. */
  running: number;
}

/** Evicts one Running, not terminating trainer pod of `swarm` picked at random; undefined if none runs. */
export async function evictRandomPeer(core: CoreV1Api, swarm: string, namespace = 'default', random: () => number = Math.random): Promise<Evicted | undefined> {
  const pods = (await core.listNamespacedPod({ namespace, labelSelector: podSelector(swarm) })).items
    .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  if (pods.length === 0) return undefined;
  const victim = pods[Math.floor(random() * pods.length)]!;
  const name = victim.metadata?.name ?? '';
  await core.createNamespacedPodEviction({ name, namespace, body: { metadata: { name, namespace } } });
  return { pod: name, node: victim.spec?.nodeName ?? 'no node', running: pods.length };
}

export interface ChaosOptions {
  evict: () => Promise<Evicted | undefined>;
  intervalMs: number;
  log: Logger;
  /** Aborted when the demo stops: no eviction after that. */
  signal?: AbortSignal;
}

/**
 * Waits an interval, evicts, and again, logging each pod it takes; with
 * `until`, stops after that many successful evictions or fails at its
 * deadline. A failed or impossible eviction is logged and tried again at the
 * next interval.
 */
export async function runChaos(o: ChaosOptions & { until?: { evictions: number; timeoutMs: number } }): Promise<void> {
  const deadline = Date.now() + (o.until?.timeoutMs ?? Infinity);
  let done = 0;
  while (o.until === undefined || done < o.until.evictions) {
    if (Date.now() >= deadline) throw new Error(`chaos: only ${done} of ${o.until!.evictions} evictions succeeded in ${o.until!.timeoutMs / 1000}s`);
    await sleep(o.intervalMs);
    if (o.signal?.aborted) return;
    try {
      const e = await o.evict();
      if (e === undefined) {
        o.log.info('chaos: no running trainer pod to evict; trying again at the next interval');
        continue;
      }
      done++;
      o.log.info(`chaos: evicted trainer pod ${e.pod} on ${e.node} (${e.running} were running); the operator should count a preemption and replace it`);
    } catch (err) {
      o.log.warn(`chaos: eviction failed: ${(err as Error).message}`);
    }
  }
}

/**
 * `--exit --chaos`: `evictions` evictions, then waits until the operator
 * counted them as preemptions, replaced the peers, and the epoch advanced
 * past where it was at the last eviction.
 */
export async function chaosUntilRecovered(o: ChaosOptions & { read: ReadStatus; evictions: number; timeoutMs: number }): Promise<void> {
  const before = (await o.read()).preemptions ?? 0;
  await runChaos({ ...o, until: { evictions: o.evictions, timeoutMs: o.timeoutMs } });
  const epochAtLast = (await o.read()).epoch ?? 0;
  await waitFor(async () => {
    const st = await o.read();
    const missing: string[] = [];
    if ((st.preemptions ?? 0) < before + o.evictions) missing.push(`status.preemptions is ${st.preemptions ?? 0} (want ${before + o.evictions})`);
    if ((st.epoch ?? 0) <= epochAtLast) missing.push(`status.epoch is ${st.epoch ?? 'not set'} (want more than ${epochAtLast})`);
    if ((st.peers?.running ?? 0) < (st.peers?.desired ?? 1)) missing.push(`peers running ${st.peers?.summary ?? 'not set'}`);
    if (missing.length === 0) return true;
    throw new Error(missing.join('; '));
  }, { what: `the swarm to recover from ${o.evictions} evictions and keep training`, timeoutMs: o.timeoutMs, intervalMs: 2_000 });
  o.log.info(`chaos: ${o.evictions} peers evicted, all replaced, and the epoch advanced past ${epochAtLast}`);
}
