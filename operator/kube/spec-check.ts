/**
 * The I/O half of operator/validate/semantic.ts: looks up what the checks
 * need (the credentials Secret, or issues operator-managed NATS credentials),
 * and keeps the spotswarm_swarm_spec_problems gauge. The controller calls
 * check() once per reconcile and folds the problems into its result.
 */
import { ApiException, type CoreV1Api } from '@kubernetes/client-node';
import { Gauge, type Registry } from 'prom-client';
import type { TrainingSwarm } from '../../api/index.ts';
import type { Logger } from '../log.ts';
import type { NatsCredentialIssuer } from '../natsauth/issuer.ts';
import { withDefaultImage } from '../reconcile/pod-template.ts';
import type { PlacementInput } from '../reconcile/reconcile.ts';
import { PROBLEM_REASONS, semanticProblems, type SpecFacts, type SpecProblem } from '../validate/semantic.ts';

export interface SpecCheckerDeps {
  core: CoreV1Api;
  registry: Registry;
  log: Logger;
  /** Set when the operator issues NATS credentials (SPOTSWARM_NATS_AUTH_SECRET). */
  issuer?: NatsCredentialIssuer;
  /** Trainer image of swarms that leave out spec.trainer.image; '' for none. */
  defaultTrainerImage: string;
  /** Wraps an API call for metrics (ClusterCache.request). */
  request: <T>(verb: string, resource: string, call: () => Promise<T>) => Promise<T>;
}

export interface Checked {
  problems: SpecProblem[];
  /** The swarm as pods should see it: with the issued credentials Secret, when the operator issues them, and the default trainer image. */
  podSwarm: TrainingSwarm;
  /** The operator's telemetry reader in the swarm's NATS account, when the operator issues credentials. */
  telemetryAuth?: { id: string; creds: string };
  /** True when podSwarm points at credentials the operator issued (remote clusters need a copy). */
  issuedCredentials: boolean;
}

export class SpecChecker {
  readonly #d: SpecCheckerDeps;
  readonly #gauge: Gauge<'namespace' | 'swarm' | 'reason'>;
  readonly #readers = new Map<string, Promise<string>>();

  constructor(d: SpecCheckerDeps) {
    this.#d = d;
    this.#gauge = new Gauge({ name: 'spotswarm_swarm_spec_problems', help: 'Problems with a swarm spec that the CRD schema cannot catch (1 while present), by reason.', labelNames: ['namespace', 'swarm', 'reason'], registers: [d.registry] });
  }

  async check(swarm: TrainingSwarm, placements: PlacementInput[]): Promise<Checked> {
    const namespace = swarm.metadata.namespace ?? 'default';
    const facts: SpecFacts = { defaultTrainerImage: this.#d.defaultTrainerImage };
    let podSwarm = swarm;
    let telemetryAuth: Checked['telemetryAuth'];
    let issuedCredentials = false;
    const ref = swarm.spec.nats.credentialsSecretRef;
    if (ref) {
      try {
        const s = await this.#d.request('get', 'secrets', () => this.#d.core.readNamespacedSecret({ namespace, name: ref.name }));
        facts.credentialsSecret = { found: true, keys: Object.keys({ ...s.data, ...s.stringData }) };
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 404)) throw err;
        facts.credentialsSecret = { found: false };
      }
    } else if (this.#d.issuer) {
      const issued = await this.#d.issuer.ensure(swarm, this.#d.core);
      if (issued.ok) {
        podSwarm = { ...swarm, spec: { ...swarm.spec, nats: { ...swarm.spec.nats, credentialsSecretRef: issued.ref } } };
        issuedCredentials = true;
        if (issued.pushProblem !== undefined) facts.accountPush = issued.pushProblem;
        const uid = swarm.metadata.uid ?? '';
        let reader = this.#readers.get(uid);
        if (!reader) {
          reader = this.#d.issuer.readerCredentials(swarm);
          this.#readers.set(uid, reader);
        }
        telemetryAuth = { id: this.#d.issuer.accountOf(swarm), creds: await reader };
      } else {
        facts.credentialsIssue = issued.problem;
      }
    }
    const bad = placements.filter((p) => p.problem !== undefined);
    if (bad.length) facts.placementProblems = Object.fromEntries(bad.map((p) => [p.name, p.problem!]));
    const problems = semanticProblems(swarm, facts);
    const labels = { namespace, swarm: swarm.metadata.name ?? '' };
    for (const reason of PROBLEM_REASONS) this.#gauge.set({ ...labels, reason }, problems.some((p) => p.reason === reason) ? 1 : 0);
    return { problems, podSwarm: withDefaultImage(podSwarm, this.#d.defaultTrainerImage), issuedCredentials, ...(telemetryAuth ? { telemetryAuth } : {}) };
  }

  /** The swarm is gone: drop its gauge series and cached reader. */
  forget(namespace: string, name: string, uid?: string): void {
    for (const reason of PROBLEM_REASONS) this.#gauge.remove({ namespace, swarm: name, reason });
    if (uid) this.#readers.delete(uid);
  }
}
