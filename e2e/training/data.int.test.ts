/**
 * Real trainer processes on a real corpus: README files that npm installed
 * under node_modules (English prose no one here wrote), one file per data
 * unit, read through the swarm's data pool in a real nats-server.
 *
 * What is counted is what the trainers log per unit (`data unit claimed`,
 * `done`, `released`, with the unit's index and the pass), so every
 * assertion is about units, never about seconds.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Buckets } from '../../api/index.ts';
import { peerIdOf, spawnPeer, tinyTraining, trainingSuite, watchTelemetry } from '../../testkit/dataplane/index.ts';
import type { LogLine, Trainer } from '../../testkit/harness/index.ts';

jest.setTimeout(900_000);
const suite = trainingSuite();

/** N README.md files of 2-6 KB from node_modules, in path order (the same on every run of one checkout). */
function readmeCorpus(n: number): string[] {
  const root = join(import.meta.dirname, '..', '..', 'node_modules');
  const out: string[] = [];
  for (const pkg of readdirSync(root).sort()) {
    const path = join(root, pkg, 'README.md');
    try {
      const size = statSync(path).size;
      if (size >= 2_048 && size <= 6_144) out.push(path);
    } catch {
      continue;
    }
    if (out.length === n) return out;
  }
  throw new Error(`only ${out.length} README files of 2-6 KB under node_modules`);
}

const unitsOf = (ts: readonly Trainer[], message: string, pass: number): LogLine[] => ts.flatMap((t) => t.find(message, (l) => l['pass'] === pass));
const indices = (ls: readonly LogLine[]): number[] => ls.map((l) => l['index'] as number).sort((a, b) => a - b);

/** Waits until the trainers together logged `n` units done in `pass`. */
async function unitsDone(ts: readonly Trainer[], pass: number, n: number): Promise<void> {
  while (unitsOf(ts, 'data unit done', pass).length < n) {
    if (ts.every((t) => !t.running)) throw new Error('every trainer exited');
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('training on a real corpus through the data pool', () => {
  it('3 peers, one preempted and replaced mid-pass, then every peer gone and the swarm resumed: every file is read once per pass, the joiner takes only unread files, the pass goes on where it was', async () => {
    const N = 24;
    const urls = readmeCorpus(N);
    const swarm = { namespace: 'int', name: 'data' };
    const tele = await watchTelemetry(suite, swarm);
    const training = { ...tinyTraining({ checkpointEvery: 1 }), data: { urls, microBatchSize: 8 } };
    const opts = { swarm, training, stopAfterEpochs: 10_000, membershipTtlSeconds: 4 };
    const [a, b, c] = ['d-a', 'd-b', 'd-c'].map((n) => spawnPeer(suite, n, opts)) as [Trainer, Trainer, Trainer];
    const first = [a, b, c];
    expect((await a.waitFor('data units'))['units']).toBe(N);

    // Preemption: c gets SIGTERM while it reads a unit; it gives the unit back.
    await unitsDone(first, 0, 3);
    await c.waitFor('data unit claimed', (l) => l['pass'] === 0, c.lines.length);
    c.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
    const released = c.find('data unit released');
    expect(released).toHaveLength(1);
    const releasedIndex = released[0]!['index'] as number;
    const releasedAt = released[0]!['timestamp'] as string;

    // A joiner takes only units nobody has read in this pass (log timestamps: one machine, one clock).
    const d = spawnPeer(suite, 'd-d', opts);
    await peerIdOf(d);
    await d.waitFor('data unit done', (l) => l['pass'] === 0);
    for (const l of d.find('data unit claimed', (x) => x['pass'] === 0)) {
      const doneBefore = unitsOf(first, 'data unit done', 0).filter((x) => x['index'] === l['index'] && (x['timestamp'] as string) < (l['timestamp'] as string));
      expect({ joinerClaimed: l['index'], doneBefore: doneBefore.length }).toEqual({ joinerClaimed: l['index'], doneBefore: 0 });
    }

    // Every peer gone at once (SIGKILL: the node was lost), mid-pass, after a checkpoint that records the data
    // position. Their leases are not released: the resumed swarm takes those units over once they expire.
    const second = [a, b, d];
    await unitsDone([...first, d], 0, N / 2 + 2);
    const ckpt = await Promise.race(second.map((t) => t.waitFor('checkpoint written', () => true, t.lines.length)));
    for (const t of second) t.kill('SIGKILL');
    await Promise.all(second.map((t) => t.exited));
    const gone = [a, b, c, d];
    const doneBeforeStop = new Set(indices(unitsOf(gone, 'data unit done', 0)));
    expect(doneBeforeStop.size).toBeLessThan(N);
    expect(gone.flatMap((t) => t.find('data pass started', (l) => l['pass'] === 1))).toEqual([]);
    const nc = await connect({ servers: suite.nats().url });
    try {
      const os = await new Objm(nc).open(Buckets.checkpoints(swarm));
      const info = await os.info(ckpt['checkpoint'] as string);
      const recorded = JSON.parse(info!.metadata!['data']!) as { pass: number; done: number[] };
      expect(recorded.pass).toBe(0);
      for (const u of recorded.done) expect(doneBeforeStop.has(u)).toBe(true);
    } finally {
      await nc.close();
    }

    // The swarm resumes from its checkpoint, and pass 0 goes on: only the units not read yet, then pass 1.
    const [e, f] = ['d-e', 'd-f'].map((n) => spawnPeer(suite, n, opts)) as [Trainer, Trainer];
    const all = [...gone, e, f];
    await Promise.race([e, f].map((t) => t.waitFor('data pass started', (l) => l['pass'] === 1)));
    expect([e, f].some((t) => t.find('resumed from checkpoint').length > 0)).toBe(true);
    for (const l of unitsOf([e, f], 'data unit claimed', 0)) expect({ resumedClaimed: l['index'], doneBefore: doneBeforeStop.has(l['index'] as number) }).toEqual({ resumedClaimed: l['index'], doneBefore: false });
    // Pass 0, over all six processes: each of the N files done exactly once.
    expect(indices(unitsOf(all, 'data unit done', 0))).toEqual([...Array(N).keys()]);
    expect(unitsOf(all, 'data unit unreadable', 0)).toEqual([]);
    // The released unit was read to its end by another peer, after c gave it back.
    const releasedDone = unitsOf(all, 'data unit done', 0).find((l) => l['index'] === releasedIndex)!;
    expect(releasedDone['pod']).not.toBe('d-c');
    expect((releasedDone['timestamp'] as string) > releasedAt).toBe(true);
    // Telemetry reports every few seconds: wait for one from the new pass before stopping.
    while (!tele.reports.some((r) => r.dataPass === 1) && [e, f].some((t) => t.running)) await new Promise((r) => setTimeout(r, 200));
    await Promise.all([e, f].map((t) => t.stop()));
    await tele.close();

    // Telemetry: the pass and the share done, as the operator reads them.
    expect(tele.bad).toEqual([]);
    const withData = tele.reports.filter((r) => r.dataPass !== undefined);
    expect(withData.some((r) => r.dataPass === 0 && (r.dataDone ?? 0) > 0 && (r.dataDone ?? 1) < 1)).toBe(true);
    expect(withData.some((r) => r.dataPass === 1)).toBe(true);
  });
});
