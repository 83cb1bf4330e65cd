/**
 * A peer joining a running swarm is in the next
 * round; peers not registered in the swarm (or registered in another one)
 * can neither connect nor contribute.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { multiaddr } from '@multiformats/multiaddr';
import { connect } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { Buckets, parseTelemetry, Protocols, Subjects, type TelemetryReport } from '../../api/index.ts';
import { freePort } from '../../testkit/cluster/index.ts';
import { dataplaneSuite, initialVector, maxAbsDiff, peerIdOf, readDump, roundAt, spawnTrainer, weightedMean } from '../../testkit/dataplane/index.ts';
import { waitFor } from '../../testkit/harness/index.ts';
import { metricValue } from '../../testkit/prometheus/index.ts';
import { createHost, createSwarmMetrics, hostMultiaddrs, Membership, silentLogger, SwarmConstants, type MembershipRecord } from '../../trainer-image/src/swarm/index.ts';

jest.setTimeout(300_000);
const suite = dataplaneSuite();

describe('a 5th process joins while rounds are running', () => {
  it('appears in the next round’s group (and every peer reports telemetry)', async () => {
    const swarm = { namespace: 'int', name: 'join' };
    const nc = await connect({ servers: suite.nats().url });
    const reports: TelemetryReport[] = [];
    let badReports = 0;
    const sub = nc.subscribe(Subjects.telemetry(swarm), {
      callback: (_err, msg) => {
        const p = parseTelemetry(msg.data);
        if (p.ok) reports.push(p.report);
        else badReports++;
      },
    });
    const opts = { swarm, targetBatchSize: 200, maxGroupSize: 8, vectorMb: 0.25, samplesPerSecond: 100 };
    const ts = [0, 1, 2, 3].map((i) => spawnTrainer(suite, `join-${i}`, opts));
    await Promise.all(ts.map((t) => t.waitFor('round finished')));
    const fifth = spawnTrainer(suite, 'join-4', opts);
    const joined = await fifth.waitFor('joined swarm');
    const id = joined['peerId'] as string;
    const e = joined['epoch'] as number;
    // The round of the epoch it joined at, if its assignment was not written yet, else the one after.
    const first = await fifth.waitFor('round finished');
    expect(first['epoch'] as number).toBeLessThanOrEqual(e + 1);
    const members = first['members'] as string[];
    expect(members).toContain(id);
    expect(members.length).toBeGreaterThan(1);
    // The old peers in that round saw the same group, the newcomer included.
    const oldIds = await Promise.all(ts.map(peerIdOf));
    for (let i = 0; i < ts.length; i++) {
      if (!members.includes(oldIds[i]!)) continue;
      expect((await roundAt(ts[i]!, first['epoch'] as number))['members']).toEqual(members);
    }
    // Telemetry: each of the five published valid reports on the swarm's subject, checksums matching their rounds.
    const fifthRound = first;
    await waitFor(() => reports.some((r) => r.peerId === id && r.paramChecksum === fifthRound['checksum']), { what: 'the newcomer’s telemetry after its round' });
    const allIds = [...(await Promise.all(ts.map(peerIdOf))), id];
    for (const p of allIds) expect(reports.some((r) => r.peerId === p && r.backend === 'synthetic')).toBe(true);
    expect(badReports).toBe(0);
    sub.unsubscribe();
    await nc.close();
  });
});

describe('swarm isolation', () => {
  it('a process not registered in the swarm, or registered in another swarm, cannot connect or contribute', async () => {
    const dir = suite.dumpDir();
    const swarmA = { namespace: 'int', name: 'iso-a' };
    const swarmB = { namespace: 'int', name: 'iso-b' };
    const MB = 0.25;
    const caps = [32, 64, 32]; // Σ = 128: exact means
    const ports = [await freePort(), await freePort(), await freePort()];
    const as = caps.map((cap, i) =>
      spawnTrainer(suite, `iso-a${i}`, { swarm: swarmA, targetBatchSize: 128, maxGroupSize: 8, vectorMb: MB, samplesPerSecond: 200, samplesPerEpoch: cap, dumpDir: dir, metricsPort: ports[i]! }),
    );
    // A real trainer of another swarm on the same NATS.
    const b = spawnTrainer(suite, 'iso-b0', { swarm: swarmB, targetBatchSize: 10, vectorMb: MB, samplesPerSecond: 100 });
    const ids = await Promise.all(as.map(peerIdOf));
    const bId = await peerIdOf(b);
    await Promise.all(as.map((t) => roundAt(t, 0)));

    // Intruders: one registered nowhere, one registered in swarm B. Neither runs a gater of its own.
    const stranger = await createHost({ ip: '127.0.0.1', port: 0, connectionGater: {} });
    const foreign = await createHost({ ip: '127.0.0.1', port: 0, connectionGater: {} });
    const nc = await connect({ servers: suite.nats().url });
    const mB = await Membership.open(nc, { bucket: Buckets.membership(swarmB), log: silentLogger, metrics: createSwarmMetrics(new Registry()) });
    try {
      const rec: MembershipRecord = { v: SwarmConstants.RECORD_VERSION, peerId: foreign.peerId.toString(), multiaddrs: hostMultiaddrs(foreign), epoch: 0, samples: 1000, samplesPerSecond: 0, updatedAt: Date.now(), pod: 'intruder' };
      await mB.publish(rec);
      const joinedA = await Promise.all(as.map((t) => t.waitFor('joined swarm')));
      const addrs = joinedA.map((l) => (l['multiaddrs'] as string[])[0]!);
      for (const host of [stranger, foreign]) {
        for (const a of addrs) {
          const opened = await host.dialProtocol(multiaddr(a), Protocols.allReduce, { signal: AbortSignal.timeout(10_000) }).then(
            async (s) => {
              await s.close().catch(() => undefined);
              return true;
            },
            () => false,
          );
          expect(opened).toBe(false);
        }
      }
      // Every A peer refused both intruders, and counted them.
      for (const p of ports) expect(await metricValue(p, 'spotswarm_p2p_refused_connections_total')).toBeGreaterThanOrEqual(2);
    } finally {
      mB.close();
      await nc.close();
      await stranger.stop();
      await foreign.stop();
    }

    // Rounds after the attempts: only A's peers, and the vectors are exactly A's weighted mean (nothing else got in).
    const attemptsDone = Math.max(...as.flatMap((t) => t.find('round started').map((l) => l['epoch'] as number)));
    const r = await Promise.all(as.map((t) => t.waitFor('round finished', (l) => (l['epoch'] as number) > attemptsDone)));
    const mean = Float32Array.from(weightedMean(as.map((_, i) => initialVector(`iso-a${i}`, MB)), caps));
    for (let i = 0; i < as.length; i++) {
      const line = r[i]!;
      expect([...(line['members'] as string[])].sort()).toEqual([...ids].sort());
      expect(maxAbsDiff(readDump(dir, `iso-a${i}`, line['epoch'] as number), mean)).toEqual({ index: -1, diff: 0 });
    }
    // And swarm B's trainer never grouped with A's peers.
    for (const l of b.find('round started')) for (const m of l['members'] as string[]) expect(m).toBe(bId);
  });
});
