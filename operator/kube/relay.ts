/**
 * Runs the circuit relay of swarms whose Relay placements list no relays, in
 * the operator's own cluster (templates: operator/reconcile/relay.ts):
 *
 * 1. the key Secret: created once with a fresh Ed25519 key, then only read
 *    (the key, and so the relay's peer id, never changes while it exists);
 * 2. the Service: created, or replaced when its spec hash differs;
 * 3. the relay's address, from the settings and the Service;
 * 4. the Deployment (announcing that address): created or replaced likewise.
 *
 * Objects of that name not owned by the swarm are left alone and reported.
 * A swarm whose relay was checked within RECHECK_MS with the same settings is
 * not looked at again, so a reconcile costs no API calls for it.
 */
import { ApiException, type AppsV1Api, type CoreV1Api, type V1Deployment, type V1Service } from '@kubernetes/client-node';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { OperatorRelaySpec, TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import {
  ownedBy, relayDeployment, relayEndpoint, relayKeyOf, relayMultiaddr, relayName, relayPeerId, relaySecret, relayService, specHashOf,
} from '../reconcile/relay.ts';
import { describeError } from './errors.ts';
import type { EventRecorder } from './events.ts';

/** A relay found in order is checked again after this long (someone may have deleted its Service). */
const RECHECK_MS = 60_000;
/** A relay not ready yet (say, a load balancer without an address) is looked at again after this long. */
export const RELAY_RETRY_MS = 5_000;

export type RelayState = { addr: string } | { problem: string; retryMs: number };

export interface RelayManagerDeps {
  core: CoreV1Api;
  apps: AppsV1Api;
  /** Wraps an API call with the operator's request metrics (ClusterCache.request of the local cluster). */
  request: <T>(verb: string, resource: string, call: () => Promise<T>) => Promise<T>;
  events: EventRecorder;
  log: Logger;
  now?: () => number;
}

interface Known {
  uid: string;
  settings: string;
  state: RelayState;
  at: number;
}

const is404 = (e: unknown): boolean => e instanceof ApiException && e.code === 404;
const is409 = (e: unknown): boolean => e instanceof ApiException && e.code === 409;

export class RelayManager {
  readonly #d: RelayManagerDeps;
  readonly #known = new Map<string, Known>();

  constructor(d: RelayManagerDeps) {
    this.#d = d;
  }

  /** Forgets a swarm that is gone. */
  forget(namespace: string, name: string): void {
    this.#known.delete(`${namespace}/${name}`);
  }

  /** Makes sure the swarm's relay exists as `settings` say; its multiaddr, or why not (yet). */
  async ensure(swarm: TrainingSwarm, settings: OperatorRelaySpec): Promise<RelayState> {
    const k = `${swarm.metadata.namespace ?? 'default'}/${swarm.metadata.name ?? ''}`;
    const now = (this.#d.now ?? Date.now)();
    const wanted = JSON.stringify(settings);
    const known = this.#known.get(k);
    if (known && known.uid === swarm.metadata.uid && known.settings === wanted) {
      if ('addr' in known.state ? now - known.at < RECHECK_MS : now - known.at < known.state.retryMs) return known.state;
    }
    let state: RelayState;
    try {
      state = await this.#ensure(swarm, settings);
    } catch (err) {
      state = { problem: `cannot run the relay: ${describeError(err)}`, retryMs: RELAY_RETRY_MS };
    }
    const before = known?.state;
    const changed = !before || JSON.stringify(before) !== JSON.stringify(state);
    if (changed) {
      if ('addr' in state) {
        this.#d.log.info('relay ready', { swarm: k, relay: state.addr });
        await this.#d.events.record(swarm, 'Normal', 'RelayReady', `Trainers in Relay placements reach the swarm through ${state.addr}`);
      } else {
        this.#d.log.warn('relay not ready', { swarm: k, problem: state.problem });
        await this.#d.events.record(swarm, 'Warning', 'RelayNotReady', `No trainer pods in Relay placements yet: ${state.problem}`);
      }
    }
    this.#known.set(k, { uid: swarm.metadata.uid ?? '', settings: wanted, state, at: now });
    return state;
  }

  async #ensure(swarm: TrainingSwarm, s: OperatorRelaySpec): Promise<RelayState> {
    const { core, apps, request } = this.#d;
    const namespace = swarm.metadata.namespace ?? 'default';
    const name = relayName(swarm);
    const retry = (problem: string): RelayState => ({ problem, retryMs: RELAY_RETRY_MS });

    // 1. The key Secret.
    let secret = await request('get', 'secrets', () => core.readNamespacedSecret({ namespace, name })).catch((e: unknown) => {
      if (is404(e)) return undefined;
      throw e;
    });
    if (!secret) {
      const key = Buffer.from(privateKeyToProtobuf(await generateKeyPair('Ed25519'))).toString('base64');
      try {
        secret = await request('create', 'secrets', () => core.createNamespacedSecret({ namespace, body: relaySecret(swarm, key) }));
        this.#d.log.info('relay key created', { swarm: `${namespace}/${swarm.metadata.name}`, secret: name, peerId: relayPeerId(key) });
      } catch (e) {
        if (!is409(e)) throw e;
        secret = await request('get', 'secrets', () => core.readNamespacedSecret({ namespace, name }));
      }
    }
    if (!ownedBy(secret, swarm)) return retry(`Secret ${namespace}/${name} exists and does not belong to this swarm`);
    const key = relayKeyOf(secret);
    let peerId: string;
    try {
      peerId = relayPeerId(key ?? '');
    } catch {
      return retry(`Secret ${namespace}/${name} holds no libp2p private key`);
    }

    // 2. The Service.
    const svc = await this.#apply<V1Service>('services', relayService(swarm, s), swarm,
      () => core.readNamespacedService({ namespace, name }),
      (body) => core.createNamespacedService({ namespace, body }),
      (current, body) => core.replaceNamespacedService({ namespace, name, body: keepServiceAllocations(current, body) }));
    if ('problem' in svc) return retry(svc.problem);

    // 3. Where trainers dial it.
    const endpoint = relayEndpoint(s, svc.obj);
    if ('problem' in endpoint) return retry(endpoint.problem);

    // 4. The Deployment.
    const dep = await this.#apply<V1Deployment>('deployments', relayDeployment(swarm, s, endpoint), swarm,
      () => apps.readNamespacedDeployment({ namespace, name }),
      (body) => apps.createNamespacedDeployment({ namespace, body }),
      (current, body) => apps.replaceNamespacedDeployment({ namespace, name, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } } }));
    if ('problem' in dep) return retry(dep.problem);
    return { addr: relayMultiaddr(endpoint, peerId) };
  }

  /** Creates `desired`, or replaces the existing object when its spec hash differs; never touches objects of others. */
  async #apply<T extends V1Service | V1Deployment>(
    resource: string, desired: T, swarm: TrainingSwarm,
    read: () => Promise<T>, create: (body: T) => Promise<T>, replace: (current: T, body: T) => Promise<T>,
  ): Promise<{ obj: T } | { problem: string }> {
    const { request } = this.#d;
    const where = `${resource.replace(/s$/, '')} ${desired.metadata?.namespace}/${desired.metadata?.name}`;
    let current = await request('get', resource, read).catch((e: unknown) => {
      if (is404(e)) return undefined;
      throw e;
    });
    if (!current) {
      try {
        return { obj: await request('create', resource, () => create(desired)) };
      } catch (e) {
        if (!is409(e)) throw e;
        current = await request('get', resource, read);
      }
    }
    if (!ownedBy(current, swarm)) return { problem: `${where} exists and does not belong to this swarm` };
    if (specHashOf(current) === specHashOf(desired)) return { obj: current };
    this.#d.log.info('updating relay object', { object: where });
    return { obj: await request('update', resource, () => replace(current, desired)) };
  }
}

/** A replaced Service keeps what the API server allocated (cluster IPs; node ports we did not choose) and its resourceVersion. */
function keepServiceAllocations(current: V1Service, body: V1Service): V1Service {
  const curPorts = current.spec?.ports ?? [];
  const keepNodePort = body.spec?.type !== 'ClusterIP';
  return {
    ...body,
    metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion },
    spec: {
      ...body.spec,
      ...(current.spec?.clusterIP ? { clusterIP: current.spec.clusterIP } : {}),
      ...(current.spec?.clusterIPs ? { clusterIPs: current.spec.clusterIPs } : {}),
      ports: (body.spec?.ports ?? []).map((p) => {
        const cur = curPorts.find((c) => c.name === p.name);
        return p.nodePort === undefined && keepNodePort && cur?.nodePort !== undefined ? { ...p, nodePort: cur.nodePort } : p;
      }),
    },
  };
}
