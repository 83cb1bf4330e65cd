/**
 * Shared setup of the data-plane integration tests: one real nats-server
 * per test file, a fleet of real trainer processes per test (stopped after
 * each test), a temporary directory for result dumps, and the arithmetic
 * tests need to check what the trainers computed.
 */
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Env } from '../../api/index.ts';
import { syntheticVector } from '../../trainer-image/src/workload/index.ts';
import { Fleet, startNats, type LogLine, type NatsServer, type Trainer, type TrainerSpec } from '../harness/index.ts';

export interface DataplaneSuite {
  nats(): NatsServer;
  fleet: Fleet;
  /** A fresh temp dir for this test's dumps (removed after the test). */
  dumpDir(): string;
}

/** Registers beforeAll/afterEach/afterAll for a data-plane or training test file. */
export function dataplaneSuite(): DataplaneSuite {
  let nats: NatsServer | undefined;
  const fleet = new Fleet();
  const dirs: string[] = [];
  beforeAll(async () => {
    nats = await startNats();
  });
  afterEach(async () => {
    // SPOTSWARM_TEST_LOG_DIR=<dir> keeps every trainer's log lines (debugging a failure).
    const dir = process.env['SPOTSWARM_TEST_LOG_DIR'];
    if (dir) for (const t of fleet.trainers) writeFileSync(join(dir, `${t.name}.jsonl`), t.lines.map((l) => JSON.stringify(l)).join('\n') + '\n' + t.stderr);
    await fleet.stopAll();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    if (nats && nats.pid() === undefined) await nats.start();
  });
  afterAll(async () => {
    await fleet.stopAll();
    await nats?.stop();
  });
  return {
    nats: () => {
      if (!nats) throw new Error('nats-server not started');
      return nats;
    },
    fleet,
    dumpDir: () => {
      const d = mkdtempSync(join(tmpdir(), 'spotswarm-dump-'));
      dirs.push(d);
      return d;
    },
  };
}

export interface SpawnOpts {
  swarm: { namespace: string; name: string };
  targetBatchSize: number;
  maxGroupSize?: number;
  compression?: 'auto' | 'none' | 'fp16' | 'int8';
  matchmakingWindowSeconds?: number;
  timeoutSeconds?: number;
  vectorMb: number;
  samplesPerSecond?: number;
  samplesPerEpoch?: number;
  stopAfterEpochs?: number;
  dumpDir?: string;
  metricsPort?: number;
  membershipTtlSeconds?: number;
  /** More env vars (e.g. SPOTSWARM_NETWORK_MODE and SPOTSWARM_RELAYS). */
  env?: Record<string, string>;
}

/** Spawns trainer `name`; its synthetic seed is its name, so tests can rebuild its vector. */
export function spawnTrainer(suite: DataplaneSuite, name: string, o: SpawnOpts): Trainer {
  const env: Record<string, string> = {
    [Env.SyntheticVectorMb]: String(o.vectorMb),
    [Env.SyntheticSeed]: name,
    [Env.SyntheticSamplesPerSecond]: String(o.samplesPerSecond ?? 100),
  };
  if (o.samplesPerEpoch !== undefined) env[Env.SyntheticSamplesPerEpoch] = String(o.samplesPerEpoch);
  if (o.stopAfterEpochs !== undefined) env[Env.StopAfterEpochs] = String(o.stopAfterEpochs);
  if (o.dumpDir !== undefined) env[Env.SyntheticDumpDir] = o.dumpDir;
  if (o.metricsPort !== undefined) env[Env.MetricsPort] = String(o.metricsPort);
  if (o.membershipTtlSeconds !== undefined) env[Env.MembershipTtlSeconds] = String(o.membershipTtlSeconds);
  Object.assign(env, o.env);
  const spec: TrainerSpec = {
    name,
    natsUrl: suite.nats().url,
    swarm: o.swarm,
    training: {
      targetBatchSize: o.targetBatchSize,
      averaging: {
        maxGroupSize: o.maxGroupSize ?? 16,
        compression: o.compression ?? 'none',
        matchmakingWindowSeconds: o.matchmakingWindowSeconds ?? 0,
        timeoutSeconds: o.timeoutSeconds ?? 60,
      },
    },
    env,
  };
  return suite.fleet.spawn(spec);
}

/** The peer id a trainer logged when it joined. */
export async function peerIdOf(t: Trainer): Promise<string> {
  const l = await t.waitFor('joined swarm');
  return l['peerId'] as string;
}

/** A trainer's 'round finished' line for `epoch`. */
export function roundAt(t: Trainer, epoch: number): Promise<LogLine> {
  return t.waitFor('round finished', (l) => l['epoch'] === epoch);
}

export function readDump(dir: string, pod: string, epoch: number): Float32Array {
  const b = readFileSync(join(dir, `${pod}.e${epoch}.f32`));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

/** The synthetic vector trainer `name` starts with. */
export function initialVector(name: string, vectorMb: number): Float32Array {
  return syntheticVector(name, Math.floor((vectorMb * 1024 * 1024) / 4));
}

/** Σ w_i v_i / Σ w_i, in float64. */
export function weightedMean(vectors: readonly Float32Array[], weights: readonly number[]): Float64Array {
  const n = vectors[0]?.length ?? 0;
  const out = new Float64Array(n);
  const total = weights.reduce((a, b) => a + b, 0);
  vectors.forEach((v, i) => {
    const w = (weights[i] as number) / total;
    if (w === 0) return;
    for (let j = 0; j < n; j++) out[j] = (out[j] as number) + w * (v[j] as number);
  });
  return out;
}

/** Index and size of the largest |a[j] − b[j]|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { index: number; diff: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let index = -1;
  let diff = 0;
  // No Math.* in the loop: under jest's VM context those calls are ~40× slower.
  for (let j = 0; j < a.length; j++) {
    let d = (a[j] as number) - (b[j] as number);
    if (d < 0) d = -d;
    if (d > diff || d !== d) {
      diff = d !== d ? Infinity : d;
      index = j;
    }
  }
  return { index, diff };
}
