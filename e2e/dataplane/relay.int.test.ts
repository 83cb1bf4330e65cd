/**
 * Relay network mode with real processes on 127.0.0.1: a circuit relay (the
 * trainer image's relay workload), peers "behind NAT" that have no TCP
 * listener at all and are reachable only through the relay, and peers on the
 * pod network. They average together exactly; a process not registered in
 * the swarm cannot reach a relayed peer through the relay; a relay restart
 * costs a few rounds, not the peers.
 *
 * Sample caps sum to a power of two, so with compression none the weighted
 * mean is exact in float32 and compared bit for bit (see averaging.int.test.ts).
 */
import { describe, expect, it, jest } from '@jest/globals';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { multiaddr } from '@multiformats/multiaddr';
import { Protocols } from '../../api/index.ts';
import { createHost } from '../../trainer-image/src/swarm/index.ts';
import { freePort } from '../../testkit/cluster/index.ts';
import { dataplaneSuite, initialVector, maxAbsDiff, peerIdOf, readDump, roundAt, spawnTrainer, weightedMean } from '../../testkit/dataplane/index.ts';
import { relayIdentity, relayModeEnv, sleep, spawnRelay, type Trainer } from '../../testkit/harness/index.ts';
import { metricValue } from '../../testkit/prometheus/index.ts';

jest.setTimeout(300_000);
const suite = dataplaneSuite();

/** Polls until `ok` holds; the test's timeout bounds it. */
async function until(ok: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await ok())) await sleep(200);
}

const joinedAddrs = async (t: Trainer): Promise<string[]> => (await t.waitFor('joined swarm'))['multiaddrs'] as string[];

describe('Relay mode', () => {
  it('two peers behind NAT and two on the pod network average together through the relay (exact mean)', async () => {
    const dir = suite.dumpDir();
    const relay = await relayIdentity();
    const swarm = { namespace: 'int', name: 'relay-mean' };
    const relayProc = await spawnRelay(suite.fleet, relay, { natsUrl: suite.nats().url, swarm });
    const MB = 4;
    const names = ['nat-0', 'nat-1', 'pod-0', 'pod-1'];
    const caps = [16, 32, 48, 32]; // Σ = 128
    const ts = names.map((name, i) =>
      spawnTrainer(suite, name, {
        swarm, targetBatchSize: 128, maxGroupSize: 4, compression: 'none', vectorMb: MB, samplesPerSecond: 200, samplesPerEpoch: caps[i]!, stopAfterEpochs: 1, dumpDir: dir, timeoutSeconds: 120,
        ...(name.startsWith('nat') ? { env: relayModeEnv(relay) } : {}),
      }),
    );
    const ids = await Promise.all(ts.map(peerIdOf));

    // Peers behind NAT announce only their circuit address; the others only direct ones.
    for (let i = 0; i < 2; i++) expect(await joinedAddrs(ts[i]!)).toEqual([`${relay.multiaddr}/p2p-circuit/p2p/${ids[i]}`]);
    for (let i = 2; i < 4; i++) {
      const addrs = await joinedAddrs(ts[i]!);
      expect(addrs.length).toBeGreaterThan(0);
      for (const a of addrs) expect(a).not.toContain('p2p-circuit');
    }
    // Both NAT peers hold a reservation on the relay.
    const reserved = (): string[] => relayProc.find('reservations changed').flatMap((l) => l['added'] as string[]);
    await until(() => ids.slice(0, 2).every((id) => reserved().includes(id)));

    const rounds = await Promise.all(ts.map((t) => roundAt(t, 0)));
    expect((await Promise.all(ts.map((t) => t.exited))).map((e) => e.code)).toEqual([0, 0, 0, 0]);
    for (const r of rounds) {
      expect(r['groups']).toBe(1);
      expect([...(r['members'] as string[])].sort()).toEqual([...ids].sort());
      expect(r['fractionAveraged']).toBe(1);
      expect(r['droppedPeers']).toEqual([]);
    }
    expect(new Set(rounds.map((r) => r['checksum'])).size).toBe(1);
    const exact = Float32Array.from(weightedMean(names.map((n) => initialVector(n, MB)), caps));
    for (const name of names) expect(maxAbsDiff(readDump(dir, name, 0), exact)).toEqual({ index: -1, diff: 0 });
  });

  it('a process not registered in the swarm can neither use the relay nor reach a peer behind NAT, and nothing of it gets in', async () => {
    const dir = suite.dumpDir();
    const relay = await relayIdentity();
    const swarm = { namespace: 'int', name: 'relay-iso' };
    const relayMetrics = await freePort();
    const relayProc = await spawnRelay(suite.fleet, relay, { natsUrl: suite.nats().url, swarm, metricsPort: relayMetrics });
    const MB = 0.25;
    const names = ['iso-nat-0', 'iso-nat-1', 'iso-pod-0'];
    const caps = [32, 64, 32]; // Σ = 128
    const ports = [await freePort(), await freePort(), await freePort()];
    const ts = names.map((name, i) =>
      spawnTrainer(suite, name, {
        swarm, targetBatchSize: 128, maxGroupSize: 8, vectorMb: MB, samplesPerSecond: 200, samplesPerEpoch: caps[i]!, dumpDir: dir, metricsPort: ports[i]!,
        ...(name.includes('nat') ? { env: relayModeEnv(relay) } : {}),
      }),
    );
    const ids = await Promise.all(ts.map(peerIdOf));
    await Promise.all(ts.map((t) => roundAt(t, 0)));
    const refusedBefore = await Promise.all(ports.slice(0, 2).map((p) => metricValue(p, 'spotswarm_p2p_refused_connections_total')));

    // A stranger with the same stack (it can dial circuit addresses) and no gater of its own.
    const stranger = await createHost({ ip: '127.0.0.1', port: 0, connectionGater: {} });
    try {
      for (let i = 0; i < 2; i++) {
        const circuit = `${relay.multiaddr}/p2p-circuit/p2p/${ids[i]}`;
        const opened = await stranger.dialProtocol(multiaddr(circuit), Protocols.allReduce, { signal: AbortSignal.timeout(10_000) }).then(
          async (s) => {
            await s.close().catch(() => undefined);
            return true;
          },
          () => false,
        );
        expect(opened).toBe(false);
      }
      // The relay admits only the swarm's registered members: it refused the stranger itself,
      // counted it, and named it; no circuit reached the NAT peers, whose gaters saw nothing of it.
      expect(stranger.getConnections().some((c) => c.remotePeer.toString() === relay.peerId)).toBe(false);
      expect(await metricValue(relayMetrics, 'spotswarm_p2p_refused_connections_total')).toBeGreaterThanOrEqual(2);
      expect(relayProc.find('refused connection from a peer not registered in this swarm', (l) => l['peerId'] === stranger.peerId.toString()).length).toBeGreaterThan(0);
      for (let i = 0; i < 2; i++) expect(await metricValue(ports[i]!, 'spotswarm_p2p_refused_connections_total')).toBe(refusedBefore[i]!);
      // Nor can it ask for a reservation, which would use up the relay's slots: no HOP stream opens
      // (the final check below shows no reservation of it either).
      const hop = await stranger.dialProtocol(multiaddr(relay.multiaddr), '/libp2p/circuit/relay/0.2.0/hop', { signal: AbortSignal.timeout(10_000) }).then(
        async (st) => {
          await st.close().catch(() => undefined);
          return true;
        },
        () => false,
      );
      expect(hop).toBe(false);
    } finally {
      await stranger.stop();
    }

    // Rounds after the attempts: exactly the three members, and exactly their weighted mean.
    const attemptsDone = Math.max(...ts.flatMap((t) => t.find('round started').map((l) => l['epoch'] as number)));
    const r = await Promise.all(ts.map((t) => t.waitFor('round finished', (l) => (l['epoch'] as number) > attemptsDone)));
    const mean = Float32Array.from(weightedMean(names.map((n) => initialVector(n, MB)), caps));
    for (let i = 0; i < ts.length; i++) {
      expect([...(r[i]!['members'] as string[])].sort()).toEqual([...ids].sort());
      // The trainer writes the dump (atomically) just after logging the round.
      await until(() => existsSync(join(dir, `${names[i]}.e${r[i]!['epoch'] as number}.f32`)));
      expect(maxAbsDiff(readDump(dir, names[i]!, r[i]!['epoch'] as number), mean)).toEqual({ index: -1, diff: 0 });
    }
    // The relay served the two NAT peers' reservations, and nothing else reserved a slot.
    expect(relayProc.find('reservations changed').flatMap((l) => l['added'] as string[]).sort()).toEqual(ids.slice(0, 2).sort());
  });

  it('after a relay restart the peers behind NAT reserve again and average with everyone', async () => {
    const relay = await relayIdentity();
    const swarm = { namespace: 'int', name: 'relay-restart' };
    const first = await spawnRelay(suite.fleet, relay, { name: 'relay-a', natsUrl: suite.nats().url, swarm });
    const names = ['rr-nat-0', 'rr-nat-1', 'rr-pod-0'];
    const ts = names.map((name) =>
      spawnTrainer(suite, name, {
        swarm, targetBatchSize: 60, maxGroupSize: 8, vectorMb: 0.25, samplesPerSecond: 100, timeoutSeconds: 10,
        ...(name.includes('nat') ? { env: relayModeEnv(relay) } : {}),
      }),
    );
    const ids = await Promise.all(ts.map(peerIdOf));
    await Promise.all(ts.map((t) => t.waitFor('round finished', (l) => (l['members'] as string[]).length === 3)));

    first.kill('SIGKILL');
    await first.exited;
    await Promise.all(ts.slice(0, 2).map((t) => t.waitFor('no reservation on relay; reserving a slot again')));
    await spawnRelay(suite.fleet, relay, { name: 'relay-b', natsUrl: suite.nats().url, swarm });
    const restored = await Promise.all(ts.slice(0, 2).map((t) => t.waitFor('relay reservation restored')));
    for (const l of restored) expect(l['relay']).toBe(relay.multiaddr);

    // A later round has everyone, complete: the circuits through the new relay process carry the all-reduce.
    const from = ts.map((t) => t.lines.length);
    const after = await Promise.all(ts.map((t, i) => t.waitFor('round finished', (l) => (l['members'] as string[]).length === 3 && l['fractionAveraged'] === 1 && (l['droppedPeers'] as string[]).length === 0, from[i])));
    for (const l of after) expect([...(l['members'] as string[])].sort()).toEqual([...ids].sort());
  });
});
