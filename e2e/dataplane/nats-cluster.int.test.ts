/**
 * A swarm on a 3-server JetStream cluster (the chart's nats.replicas=3) with
 * spec.nats.replicas 3: the swarm's buckets are replicated, and rounds go on
 * when the NATS server some peers were connected to dies.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Buckets, Env } from '../../api/index.ts';
import { freePort } from '../../testkit/cluster/index.ts';
import { allLogged, Fleet, startNats, type NatsServer, type Trainer } from '../../testkit/harness/index.ts';

jest.setTimeout(300_000);

const servers: NatsServer[] = [];
const fleet = new Fleet();

afterAll(async () => {
  await fleet.stopAll();
  for (const s of servers) await s.stop();
});

async function startCluster(n: number): Promise<NatsServer[]> {
  const routes = await Promise.all(Array.from({ length: n }, () => freePort()));
  const urls = routes.map((p) => `nats://127.0.0.1:${p}`).join(',');
  // Servers start concurrently: JetStream needs a quorum of them to become ready.
  return Promise.all(routes.map((p) => startNats({ readyTimeoutMs: 60_000, args: ['--cluster_name', 'spotswarm', '--cluster', `nats://127.0.0.1:${p}`, '--routes', urls] })));
}

describe('a JetStream cluster of 3', () => {
  it('replicates the swarm buckets 3 times, and rounds go on when a NATS server dies', async () => {
    servers.push(...await startCluster(3));
    const swarm = { namespace: 'int', name: 'replicated' };
    const ts: Trainer[] = servers.map((s, i) => fleet.spawn({
      name: `peer-${i}`,
      natsUrl: s.url,
      swarm,
      training: { targetBatchSize: 150, averaging: { maxGroupSize: 8, compression: 'none', matchmakingWindowSeconds: 0, timeoutSeconds: 60 } },
      env: { [Env.NatsReplicas]: '3', [Env.SyntheticVectorMb]: '1', [Env.SyntheticSeed]: `peer-${i}`, [Env.SyntheticSamplesPerSecond]: '100' },
    }));
    await allLogged(ts, 'round finished', (l) => l['epoch'] === 0);

    const nc = await connect({ servers: servers[1]!.url });
    const jsm = await jetstreamManager(nc);
    for (const bucket of [Buckets.membership(swarm), Buckets.rounds(swarm)]) {
      const info = await jsm.streams.info(`KV_${bucket}`);
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas ?? []).toHaveLength(2);
    }
    await nc.close();

    // peer-0's server dies: it reconnects to another server of the cluster, and every peer keeps averaging.
    await servers[0]!.kill(0);
    const after = await allLogged(ts, 'round finished', (l) => (l['epoch'] as number) >= 3);
    for (const l of after) expect(l['fractionAveraged']).toBe(1);
  });
});
