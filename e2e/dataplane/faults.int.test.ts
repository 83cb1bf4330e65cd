/**
 * Peers that die (kill -9) or leave (SIGTERM)
 * in the middle of a round, and a nats-server restart in the middle of a run.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { freePort } from '../../testkit/cluster/index.ts';
import { dataplaneSuite, peerIdOf, roundAt, spawnTrainer } from '../../testkit/dataplane/index.ts';
import { sleep, type Trainer, waitFor } from '../../testkit/harness/index.ts';
import { metricValue } from '../../testkit/prometheus/index.ts';

jest.setTimeout(300_000);
const suite = dataplaneSuite();

/** Four peers with a vector big enough that a round takes a while; samples accrue without a cap, so three peers alone still reach the target. */
async function fourPeers(name: string, timeoutSeconds: number): Promise<{ ts: Trainer[]; ids: string[]; victimPort: number }> {
  const swarm = { namespace: 'int', name };
  const victimPort = await freePort();
  const ts = [0, 1, 2, 3].map((i) =>
    spawnTrainer(suite, `${name}-${i}`, { swarm, targetBatchSize: 400, maxGroupSize: 8, vectorMb: 32, samplesPerSecond: 100, timeoutSeconds, ...(i === 3 ? { metricsPort: victimPort } : {}) }),
  );
  const ids = await Promise.all(ts.map(peerIdOf));
  return { ts, ids, victimPort };
}

const RECEIVED = 'spotswarm_allreduce_bytes_received_total';

/**
 * Waits until the victim is in the middle of round 1's reduce-scatter: it
 * started the round and all-reduce bytes of this round are arriving (its
 * byte counter, from /metrics, passed what round 0 left it at).
 */
async function midReduceScatter(victim: Trainer, port: number): Promise<void> {
  await Promise.all([victim.waitFor('round finished', (l) => l['epoch'] === 0)]);
  const before = await metricValue(port, RECEIVED);
  await victim.waitFor('round started', (l) => l['epoch'] === 1);
  await waitFor(async () => (await metricValue(port, RECEIVED)) > before, { what: 'round-1 bytes arriving at the victim', intervalMs: 10 });
}

describe('a peer that dies or leaves mid-round', () => {
  it('kill -9 during reduce-scatter: the others finish within the deadline, report the averaged fraction, and the next round runs without it', async () => {
    const timeoutSeconds = 60;
    const { ts, ids, victimPort } = await fourPeers('kill9', timeoutSeconds);
    const victim = ts[3]!;
    const others = ts.slice(0, 3);
    // One full round first, then kill the victim while round 1's parts are streaming.
    await midReduceScatter(victim, victimPort);
    victim.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');

    const r1 = await Promise.all(others.map((t) => roundAt(t, 1)));
    for (const r of r1) {
      expect(r['members']).toContain(ids[3]);
      expect(r['hardDeadlineHit']).toBe(false);
      const f = r['fractionAveraged'] as number;
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1); // the victim's contribution was lost for part of the vector, and the peers say so
      expect(r['droppedPeers']).toEqual([ids[3]]);
      // Its parts stopped arriving (sender) and its shard moved to a backup reducer.
      const drops = r['drops'] as { peerId: string; role: string; reason: string }[];
      expect(drops.filter((d) => d.role === 'sender').length).toBeGreaterThan(0);
      expect(drops.every((d) => d.peerId === ids[3] && d.reason === 'disconnected')).toBe(true);
    }
    // The survivors agree bit for bit on the result.
    expect(new Set(r1.map((r) => r['checksum'])).size).toBe(1);
    // The next round forms without the victim and is complete.
    const r2 = await Promise.all(others.map((t) => roundAt(t, 2)));
    for (const r of r2) {
      expect([...(r['members'] as string[])].sort()).toEqual(ids.slice(0, 3).sort());
      expect(r['fractionAveraged']).toBe(1);
    }
  });

  it('SIGTERM mid-round: the peer hands off and leaves; nobody waits for a deadline', async () => {
    // A hard bound far beyond the test's own timeout: if anyone waited for it, the test would fail.
    const { ts, ids, victimPort } = await fourPeers('sigterm', 3600);
    const leaver = ts[3]!;
    const others = ts.slice(0, 3);
    await midReduceScatter(leaver, victimPort);
    leaver.kill('SIGTERM');
    const exit = await leaver.exited;
    expect(exit.code).toBe(0);
    expect(leaver.find('trainer stopped')).toHaveLength(1);

    const r1 = await Promise.all(others.map((t) => roundAt(t, 1)));
    for (const r of r1) {
      expect(r['members']).toContain(ids[3]);
      expect(r['deadlineHit']).toBe(false);
      expect(r['hardDeadlineHit']).toBe(false);
      for (const d of r['drops'] as { reason: string }[]) expect(d.reason).toBe('left');
    }
    // It deregistered: the next round is the three others.
    const r2 = await Promise.all(others.map((t) => roundAt(t, 2)));
    for (const r of r2) expect([...(r['members'] as string[])].sort()).toEqual(ids.slice(0, 3).sort());
  });
});

describe('nats-server restart mid-run', () => {
  it('peers reconnect, re-register after their entries expired, and rounds resume', async () => {
    const swarm = { namespace: 'int', name: 'restart' };
    const ttl = 2;
    const ts = [0, 1, 2].map((i) => spawnTrainer(suite, `restart-${i}`, { swarm, targetBatchSize: 150, maxGroupSize: 8, vectorMb: 0.25, samplesPerSecond: 100, membershipTtlSeconds: ttl }));
    const ids = await Promise.all(ts.map(peerIdOf));
    await Promise.all(ts.map((t) => t.waitFor('round finished')));
    const nats = suite.nats();
    await nats.kill();
    const from = ts.map((t) => t.lines.length);
    // Stay down longer than the membership TTL: the entries expire on the server meanwhile.
    await sleep((ttl + 2) * 1000);
    await nats.start();
    await Promise.all(ts.map((t, i) => t.waitFor('NATS reconnected', () => true, from[i])));
    // Rounds resume with everyone: each peer finishes a complete round of all three, formed after the restart.
    const epochBefore = Math.max(...ts.flatMap((t, i) => t.lines.slice(0, from[i]).filter((l) => l.message === 'round started').map((l) => l['epoch'] as number)));
    for (const t of ts) {
      const r = await t.waitFor('round finished', (l) => (l['epoch'] as number) > epochBefore + 1 && (l['members'] as string[]).length === 3);
      expect([...(r['members'] as string[])].sort()).toEqual([...ids].sort());
      expect(r['fractionAveraged']).toBe(1);
    }
    expect(ts.every((t) => t.running)).toBe(true);
  });
});
