/**
 * Carries out state sync (state-sync-policy.ts decides): asks the live
 * peers for their META, downloads a state from them, waits, resumes from a
 * checkpoint, or relabels the peer's own state, and says what it loaded.
 * The workload applies the result to its peer state (peer-state.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Counter } from 'prom-client';
import { errorMessage, type Logger } from '../common/index.ts';
import type { ModelCompute } from '../model/index.ts';
import type { CollaborativeOptimizer } from '../optim/index.ts';
import { type CheckpointStore, decodeState, downloadState, queryDonors, type StateMetrics } from '../state/index.ts';
import type { RoundAssignment, Swarm } from '../swarm/index.ts';
import { everHeldState, type PeerState, type SteppedWithout } from './peer-state.ts';
import { roundIdOf } from './round-runner.ts';
import { decideSync, roundMembersMovedOn } from './state-sync-policy.ts';

/** Wait between looks at the skipped round's members. */
const MEMBERS_POLL_MS = 100;
/** Wait before asking again for a donor or a checkpoint. */
const RETRY_MS = 250;

/** The state the peer holds after a sync: how it got it, and its epoch. */
export interface Loaded {
  via: 'download' | 'checkpoint' | 'relabel' | 'init';
  epoch: number;
  /** The checkpoint it resumed from. */
  checkpoint?: string;
  /** The data position that checkpoint recorded. */
  data?: string;
}

export interface StateSyncOptions {
  swarm: Swarm;
  model: ModelCompute;
  opt: CollaborativeOptimizer;
  fingerprint: string;
  checkpoints: CheckpointStore;
  /** One round's timeout: how long the members of a skipped round, and the checkpoint of peers that stepped without us, are waited for. */
  timeoutMs: number;
  syncs: Counter<'source'>;
  stateMetrics: StateMetrics;
  log: Logger;
  now: () => number;
  /** Aborts downloads on stop (SIGTERM must not wait for retries). */
  signal: AbortSignal;
  stopping: () => boolean;
}

export class StateSync {
  readonly #o: StateSyncOptions;
  /** The epoch whose wait was last logged: a wait is logged once per epoch. */
  #waitLogged = -1;

  constructor(o: StateSyncOptions) {
    this.#o = o;
  }

  /** After a skipped round: waits, at most a round's timeout, until its other members moved on, so that their decision is known. */
  async waitForMembers(round: RoundAssignment): Promise<void> {
    const deadline = this.#o.now() + this.#o.timeoutMs;
    while (!this.#o.stopping() && this.#o.now() < deadline) {
      if (roundMembersMovedOn(round, this.#o.swarm.liveRecords(), this.#o.swarm.peerId)) break;
      await sleep(MEMBERS_POLL_MS);
    }
  }

  /** Whether a group of `round` finished it (its result digest exists): then the swarm stepped without this peer. */
  async finishedWithout(round: RoundAssignment): Promise<SteppedWithout | undefined> {
    const finished = await Promise.all(round.groups.map((_, g) => this.#o.swarm.matchmaker.hasResult(roundIdOf(round.epoch, g))));
    return finished.some(Boolean) ? { epoch: round.epoch + 1, until: this.#o.now() + this.#o.timeoutMs } : undefined;
  }

  /** One attempt at the state of `peer.epoch`; undefined: not yet, call again. */
  async sync(peer: PeerState): Promise<Loaded | undefined> {
    const { swarm, opt, fingerprint } = this.#o;
    const others = swarm.liveRecords().filter((r) => r.peerId !== swarm.peerId);
    await swarm.prepareRound(others.map((r) => ({ peerId: r.peerId, weight: 0, multiaddrs: r.multiaddrs })));
    const client = { host: swarm.host, log: this.#o.log, metrics: this.#o.stateMetrics, signal: this.#o.signal };
    const metas = others.length > 0 ? await queryDonors(client, others.map((r) => r.peerId)) : [];
    const view = {
      epoch: peer.epoch,
      stateEpoch: everHeldState(peer) ? opt.epoch : undefined,
      fingerprint,
      livePeers: others.length,
      metas,
      steppedWithout: peer.kind === 'stale' ? peer.steppedWithout : undefined,
      now: this.#o.now(),
      newestCheckpoint: undefined,
    };
    const first = decideSync(view);
    const d = first.kind === 'listCheckpoints'
      ? decideSync({ ...view, newestCheckpoint: (await this.#o.checkpoints.list().catch(() => []))[0]?.epoch ?? -1, now: this.#o.now() })
      : first;
    switch (d.kind) {
      case 'download': {
        const t0 = this.#o.now();
        const dl = await downloadState({ ...client, donors: d.donors, fingerprint, minEpoch: peer.epoch });
        const { state } = decodeState(dl.blob, fingerprint);
        opt.load(state);
        await this.#o.model.setFlat(opt.params);
        this.#o.syncs.inc({ source: 'peers' });
        this.#o.log.info('state loaded from peers', { epoch: state.epoch, from: peer.epoch, donors: dl.donors, bytes: dl.blob.byteLength, chunks: dl.meta.chunks, attempts: dl.attempts, ms: this.#o.now() - t0 });
        return { via: 'download', epoch: state.epoch };
      }
      case 'waitForDonor':
        this.#logWait(peer.epoch, 'waiting for a donor with the state of this epoch', { epoch: peer.epoch, peers: metas.map((m) => ({ peer: m.peerId, error: m.error, epoch: m.meta?.epoch })) });
        await sleep(RETRY_MS);
        return undefined;
      case 'waitForCheckpoint':
        this.#logWait(peer.epoch, 'peers that finished a round without this peer are gone; waiting for their checkpoint', { epoch: peer.epoch, steppedEpoch: d.stepped.epoch, newestCheckpoint: d.newestCheckpoint, livePeers: others.length });
        await sleep(RETRY_MS);
        return undefined;
      case 'resumeFromCheckpoint':
        return this.resume(peer.epoch);
      case 'relabel': {
        opt.relabel(peer.epoch);
        this.#o.syncs.inc({ source: 'relabel' });
        const meta = { stateEpoch: d.stateEpoch, epoch: peer.epoch, livePeers: others.length, lostEpochs: d.lostEpochs };
        if (d.steppedWithout) this.#o.log.warn('peers finished a round without this peer and left no newer state or checkpoint; continuing from ours', meta);
        else this.#o.log.info('no newer state among live peers; keeping ours', meta);
        return { via: 'relabel', epoch: peer.epoch };
      }
    }
  }

  /** No live peer: the newest checkpoint (the epoch is kept, never lowered), else the initial parameters at `epoch`. */
  async resume(epoch: number): Promise<Loaded> {
    const { opt, log } = this.#o;
    let loaded;
    try {
      loaded = await this.#o.checkpoints.latest(this.#o.fingerprint);
    } catch (e) {
      log.warn('could not read checkpoints', { error: errorMessage(e) });
    }
    if (loaded) {
      opt.load(loaded.state);
      await this.#o.model.setFlat(opt.params);
      this.#o.syncs.inc({ source: 'checkpoint' });
      const lost = epoch - loaded.state.epoch;
      const resumed = Math.max(epoch, loaded.state.epoch);
      if (loaded.state.epoch < epoch) opt.relabel(epoch);
      log.info('resumed from checkpoint', { checkpoint: loaded.info.name, checkpointEpoch: loaded.state.epoch, epoch: resumed, writer: loaded.info.writer, lostEpochs: Math.max(0, lost) });
      return { via: 'checkpoint', epoch: resumed, checkpoint: loaded.info.name, ...(loaded.info.data !== undefined ? { data: loaded.info.data } : {}) };
    }
    log.warn('no live peer and no checkpoint: starting from the initial parameters at the swarm epoch', { epoch });
    opt.relabel(epoch);
    this.#o.syncs.inc({ source: 'init' });
    return { via: 'init', epoch };
  }

  #logWait(epoch: number, message: string, meta: Record<string, unknown>): void {
    if (this.#waitLogged === epoch) return;
    this.#waitLogged = epoch;
    this.#o.log.info(message, meta);
  }
}
