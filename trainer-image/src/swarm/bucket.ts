/**
 * Opens a swarm KV bucket and waits until it answers. On a JetStream cluster
 * a freshly created replicated stream can answer "no responders" to direct
 * gets for a moment while its replicas come up; a trainer must wait that out,
 * not die of it.
 */
import { Kvm, type KV, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorMessage, type SwarmLogger } from './log.ts';

/** Longest wait for a new bucket's replicas before giving up. */
export const BUCKET_READY_TIMEOUT_MS = 30_000;
const PROBE_KEY = 'ready-probe';

export async function openBucket(nc: NatsConnection, bucket: string, opts: Partial<KvOptions>, log: SwarmLogger): Promise<KV> {
  const deadline = Date.now() + BUCKET_READY_TIMEOUT_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      const kv = await new Kvm(nc).create(bucket, opts);
      await kv.get(PROBE_KEY);
      return kv;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      const wait = Math.min(100 * 2 ** (attempt - 1), 2_000);
      log.info('waiting for the swarm bucket to be ready', { bucket, attempt, retryInMs: wait, error: errorMessage(e) });
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}
