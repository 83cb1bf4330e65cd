/**
 * Semantic checks of a TrainingSwarm: what the CRD schema cannot know (does
 * the named Secret exist, does the kubeconfig load, does this operator know
 * the model), as pure functions of the swarm and facts the controller looked
 * up. A problem becomes the Degraded condition's reason with a message that
 * names the field, a Warning Event when it appears, and a metric; it never
 * throws and never crash-loops anything.
 *
 * Blocking problems (missing credentials, unknown model) stop new pods: they
 * would only fail at start. A placement's bad kubeconfig blocks that
 * placement alone (the reconciler already treats it as unreachable).
 */
import { CONDITION_DEGRADED, MODEL_ARCHITECTURES, MODEL_SIZES, Reasons, type Condition, type Reason, type TrainingSwarmStatus } from '../../api/index.ts';
import { setConditions } from '../reconcile/conditions.ts';
import type { ReconcileResult } from '../reconcile/reconcile.ts';

export type ProblemReason = typeof Reasons.CredentialsSecretMissing | typeof Reasons.KubeconfigSecretInvalid | typeof Reasons.UnknownModel | typeof Reasons.NatsCredentialsUnavailable
  | typeof Reasons.TrainerImageMissing;
export const PROBLEM_REASONS: readonly ProblemReason[] = [Reasons.CredentialsSecretMissing, Reasons.KubeconfigSecretInvalid, Reasons.UnknownModel, Reasons.NatsCredentialsUnavailable,
  Reasons.TrainerImageMissing];

export interface SpecProblem {
  reason: ProblemReason;
  /** The field at fault, e.g. spec.nats.credentialsSecretRef. */
  field: string;
  message: string;
  /** True when no new pod can work until it is fixed. */
  blocking: boolean;
}

/** What the controller looked up for the checks; a missing entry means "not checked". */
export interface SpecFacts {
  /** The Secret named by spec.nats.credentialsSecretRef, in the swarm's namespace. */
  credentialsSecret?: { found: false } | { found: true; keys: string[] };
  /** Placements whose cluster cannot be used, by placement name: why (a missing Secret, an unreadable kubeconfig). */
  placementProblems?: Record<string, string>;
  /** Why the operator could not issue the swarm's NATS credentials. */
  credentialsIssue?: string;
  /** Why the swarm's NATS account could not be pushed to its server (trainers cannot connect until it is). */
  accountPush?: string;
  /** The operator's default trainer image, for swarms without spec.trainer.image ('' when it has none). */
  defaultTrainerImage?: string;
}

/** While a problem lasts, look again this often: fixing it (creating a Secret) sends no event the operator watches. */
export const PROBLEM_RECHECK_MS = 15_000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown, max = 256): string => JSON.stringify(typeof v === 'string' ? v.slice(0, max) : v === undefined ? null : typeof v === 'object' ? typeof v : v) ?? 'null';

/** The problems of `swarm` (any JSON value: this never throws), given what the controller looked up. */
export function semanticProblems(swarm: unknown, facts: SpecFacts): SpecProblem[] {
  const out: SpecProblem[] = [];
  const meta = isObject(swarm) && isObject(swarm['metadata']) ? swarm['metadata'] : {};
  const ns = typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default';
  const spec = isObject(swarm) && isObject(swarm['spec']) ? swarm['spec'] : {};

  const training = isObject(spec['training']) ? spec['training'] : {};
  const model = isObject(training['model']) ? training['model'] : {};
  const size = model['size'];
  if (size !== undefined && !(MODEL_SIZES as readonly unknown[]).includes(size)) {
    out.push({ reason: Reasons.UnknownModel, field: 'spec.training.model.size', blocking: true, message: `spec.training.model.size: unknown size ${str(size)} (this operator knows ${MODEL_SIZES.join(', ')})` });
  }
  const arch = model['architecture'];
  if (arch !== undefined && !(MODEL_ARCHITECTURES as readonly unknown[]).includes(arch)) {
    out.push({ reason: Reasons.UnknownModel, field: 'spec.training.model.architecture', blocking: true, message: `spec.training.model.architecture: unknown architecture ${str(arch)} (this operator knows ${MODEL_ARCHITECTURES.join(', ')})` });
  }

  const trainer = isObject(spec['trainer']) ? spec['trainer'] : {};
  if (facts.defaultTrainerImage === '' && (typeof trainer['image'] !== 'string' || trainer['image'] === '')) {
    out.push({ reason: Reasons.TrainerImageMissing, field: 'spec.trainer.image', blocking: true, message: 'spec.trainer.image: not set, and the operator has no default trainer image (the Helm chart\'s trainer.image, SPOTSWARM_TRAINER_IMAGE)' });
  }

  const nats = isObject(spec['nats']) ? spec['nats'] : {};
  const ref = isObject(nats['credentialsSecretRef']) ? nats['credentialsSecretRef'] : undefined;
  const cs = facts.credentialsSecret;
  if (ref && cs) {
    const name = str(ref['name']).replace(/^"|"$/g, '');
    const key = typeof ref['key'] === 'string' ? ref['key'] : 'nats.creds';
    if (!cs.found) {
      out.push({ reason: Reasons.CredentialsSecretMissing, field: 'spec.nats.credentialsSecretRef', blocking: true, message: `spec.nats.credentialsSecretRef: Secret ${ns}/${name} not found` });
    } else if (!cs.keys.includes(key)) {
      out.push({ reason: Reasons.CredentialsSecretMissing, field: 'spec.nats.credentialsSecretRef.key', blocking: true, message: `spec.nats.credentialsSecretRef: Secret ${ns}/${name} has no key ${JSON.stringify(key.slice(0, 253))}` });
    }
  }
  if (facts.credentialsIssue !== undefined) {
    out.push({ reason: Reasons.NatsCredentialsUnavailable, field: 'spec.nats', blocking: true, message: `spec.nats: cannot issue the swarm's NATS credentials: ${facts.credentialsIssue}` });
  }

  if (facts.accountPush !== undefined) {
    out.push({ reason: Reasons.NatsCredentialsUnavailable, field: 'spec.nats.url', blocking: false, message: `spec.nats.url: the swarm's NATS account is not on the server yet: ${facts.accountPush}` });
  }

  const placements = Array.isArray(spec['placements']) ? spec['placements'] : [];
  for (const [name, problem] of Object.entries(facts.placementProblems ?? {})) {
    const i = placements.findIndex((p) => isObject(p) && p['name'] === name);
    const field = i >= 0 ? `spec.placements[${i}].kubeconfigSecretRef` : 'spec.placements';
    out.push({ reason: Reasons.KubeconfigSecretInvalid, field, blocking: false, message: `${field} (placement ${name}): ${problem}` });
  }
  return out;
}

export interface SpecEvent {
  type: 'Warning' | 'Normal';
  reason: Reason | 'SpecProblemsResolved';
  message: string;
}

/**
 * Folds problems into a reconcile result: the Degraded condition names the
 * first problem's reason and every message; phase Degraded (unless done);
 * blocking problems cancel pod creation. Events only when the problem set
 * changes (the old status tells), so a stuck swarm does not spam them.
 */
export function applySpecProblems(result: ReconcileResult, oldStatus: TrainingSwarmStatus | undefined, problems: SpecProblem[], generation: number, now: Date): { result: ReconcileResult; events: SpecEvent[] } {
  const oldDegraded = oldStatus?.conditions?.find((c) => c.type === CONDITION_DEGRADED);
  const wasProblem = oldDegraded !== undefined && (PROBLEM_REASONS as readonly string[]).includes(oldDegraded.reason);
  if (problems.length === 0) {
    return { result, events: wasProblem ? [{ type: 'Normal', reason: 'SpecProblemsResolved', message: `Resolved: ${oldDegraded!.message}` }] : [] };
  }
  const message = problems.map((p) => p.message).join('; ');
  const reason = problems[0]!.reason;
  const blocking = problems.some((p) => p.blocking);
  const status: TrainingSwarmStatus = { ...result.status };
  const wanted = (status.conditions ?? []).map(({ lastTransitionTime: _t, observedGeneration: _g, ...c }) =>
    c.type === CONDITION_DEGRADED ? { type: CONDITION_DEGRADED, status: 'True' as const, reason, message } : c);
  if (!wanted.some((c) => c.type === CONDITION_DEGRADED)) wanted.push({ type: CONDITION_DEGRADED, status: 'True', reason, message });
  status.conditions = setConditions(oldStatus?.conditions, wanted as Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>[], generation, now);
  if (status.phase !== 'Succeeded') status.phase = 'Degraded';
  const actions = blocking
    ? Object.fromEntries(Object.entries(result.actions).map(([k, a]) => [k, { ...a, create: 0 }]))
    : result.actions;
  const events = blocking ? result.events.filter((e) => e.reason !== 'ScaledUp') : result.events;
  const changed = !wasProblem || oldDegraded!.message !== message;
  return {
    result: { ...result, status, actions, events, requeueAfterMs: Math.min(result.requeueAfterMs ?? PROBLEM_RECHECK_MS, PROBLEM_RECHECK_MS) },
    events: changed ? problems.map((p) => ({ type: 'Warning' as const, reason: p.reason, message: p.message })) : [],
  };
}
