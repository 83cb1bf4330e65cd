/**
 * A pod informer that survives API errors. client-node's ListWatch reconnects
 * after normal watch ends and 410 Gone, but stops for good on any other error
 * (e.g. the API server restarting); this restarts it with a capped backoff.
 */
import { type CoreV1Api, type KubeConfig, ListWatch, type V1Pod, Watch } from '@kubernetes/client-node';
import type { Logger } from '../cluster/index.ts';

export interface PodHandlers {
  /** Added or changed. */
  upsert(pod: V1Pod): void;
  /** Gone from the API. */
  remove(pod: V1Pod): void;
}

export interface PodInformer {
  /** The cached pods. */
  list(): V1Pod[];
  stop(): Promise<void>;
}

/** Watches pods matching `fieldSelector` (e.g. bound pods: "spec.nodeName!="). Resolves after the first list. */
export async function startPodInformer(kc: KubeConfig, core: CoreV1Api, fieldSelector: string, h: PodHandlers, log: Logger): Promise<PodInformer> {
  const lw = new ListWatch<V1Pod>('/api/v1/pods', new Watch(kc), () => core.listPodForAllNamespaces({ fieldSelector }), false, undefined, fieldSelector);
  let stopped = false;
  let backoffMs = 500;
  let retry: NodeJS.Timeout | undefined;
  lw.on('add', (p) => h.upsert(p));
  lw.on('update', (p) => {
    backoffMs = 500; // events flow again: the connection is healthy
    h.upsert(p);
  });
  lw.on('delete', (p) => h.remove(p));
  lw.on('error', (err: unknown) => {
    if (stopped) return;
    log.warn(`pod watch failed (${(err as Error)?.message ?? String(err)}); restarting in ${backoffMs} ms`);
    retry = setTimeout(() => void lw.start(), backoffMs);
    backoffMs = Math.min(backoffMs * 2, 30_000);
  });
  await lw.start();
  return {
    list: () => [...lw.list()],
    async stop() {
      stopped = true;
      if (retry) clearTimeout(retry);
      await lw.stop();
    },
  };
}
