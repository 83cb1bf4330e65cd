/**
 * Pod status patches, as the kubelet writes them. They are strategic-merge
 * patches of the status subresource: conditions merge by type, so the
 * scheduler's PodScheduled and DisruptionTarget conditions survive.
 */
import { HOST_IP, POD_IP } from './env.ts';

/** metav1.Time: RFC 3339 in seconds. */
export function kubeTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface ContainerInfo {
  name: string;
  image: string;
  restartCount: number;
  /** Unique per process start, e.g. spotswarm://<pod uid>/<pid>. */
  containerID?: string;
  /** The previous run, after a restart. */
  lastTerminated?: Terminated;
}

export interface Terminated {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: Date;
  finishedAt: Date;
  containerID?: string;
}

type Cond = { type: string; status: 'True' | 'False'; reason?: string; message?: string; lastTransitionTime: string; lastProbeTime: null };

function conditions(now: Date, s: { ready: boolean; readyReason?: string; sandbox: boolean }): Cond[] {
  const t = kubeTime(now);
  const c = (type: string, ok: boolean, reason?: string): Cond => ({
    type,
    status: ok ? 'True' : 'False',
    ...(reason && !ok ? { reason } : {}),
    lastTransitionTime: t,
    lastProbeTime: null,
  });
  return [
    c('PodReadyToStartContainers', s.sandbox),
    c('Initialized', true),
    c('ContainersReady', s.ready, s.readyReason),
    c('Ready', s.ready, s.readyReason),
  ];
}

const ips = { hostIP: HOST_IP, hostIPs: [{ ip: HOST_IP }], podIP: POD_IP, podIPs: [{ ip: POD_IP }] };

function lastState(c: ContainerInfo): object {
  return c.lastTerminated ? { terminated: terminatedState(c.lastTerminated) } : {};
}

function terminatedState(t: Terminated): object {
  return {
    exitCode: t.exitCode,
    ...(t.signal !== undefined ? { signal: t.signal } : {}),
    reason: t.reason,
    ...(t.message ? { message: t.message } : {}),
    startedAt: kubeTime(t.startedAt),
    finishedAt: kubeTime(t.finishedAt),
    ...(t.containerID ? { containerID: t.containerID } : {}),
  };
}

/** Not started yet: ContainerCreating, or an error such as CreateContainerConfigError (phase stays as it was). */
export function waitingPatch(o: { now: Date; startTime: Date; container: ContainerInfo; reason: string; message?: string; phase: 'Pending' | 'Running' }): object {
  return {
    status: {
      phase: o.phase,
      ...ips,
      startTime: kubeTime(o.startTime),
      conditions: conditions(o.now, { ready: false, readyReason: 'ContainersNotReady', sandbox: true }),
      containerStatuses: [
        {
          name: o.container.name,
          image: o.container.image,
          imageID: '',
          ready: false,
          started: false,
          restartCount: o.container.restartCount,
          state: { waiting: { reason: o.reason, ...(o.message ? { message: o.message } : {}) } },
          lastState: lastState(o.container),
        },
      ],
    },
  };
}

/** The process runs: phase Running, ready (there are no probes). */
export function runningPatch(o: { now: Date; startTime: Date; startedAt: Date; container: ContainerInfo }): object {
  return {
    status: {
      phase: 'Running',
      ...ips,
      startTime: kubeTime(o.startTime),
      conditions: conditions(o.now, { ready: true, sandbox: true }),
      containerStatuses: [
        {
          name: o.container.name,
          image: o.container.image,
          imageID: o.container.image,
          containerID: o.container.containerID,
          ready: true,
          started: true,
          restartCount: o.container.restartCount,
          state: { running: { startedAt: kubeTime(o.startedAt) } },
          lastState: lastState(o.container),
        },
      ],
    },
  };
}

/** The process ended and will not be restarted: Succeeded on exit 0, otherwise Failed. */
export function terminalPatch(o: { now: Date; startTime: Date; container: ContainerInfo; terminated: Terminated }): object {
  const phase = o.terminated.exitCode === 0 ? 'Succeeded' : 'Failed';
  return {
    status: {
      phase,
      ...ips,
      startTime: kubeTime(o.startTime),
      conditions: conditions(o.now, { ready: false, readyReason: 'PodCompleted', sandbox: false }),
      containerStatuses: [
        {
          name: o.container.name,
          image: o.container.image,
          imageID: o.container.image,
          containerID: o.terminated.containerID,
          ready: false,
          started: false,
          restartCount: o.container.restartCount,
          state: { terminated: terminatedState(o.terminated) },
          lastState: lastState(o.container),
        },
      ],
    },
  };
}

/** Whether a container that exited with `exitCode` is restarted under the pod's restartPolicy. */
export function shouldRestart(restartPolicy: string | undefined, exitCode: number): boolean {
  const policy = restartPolicy ?? 'Always';
  return policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
}

/** Crash-loop back-off: 1 s doubling to 30 s (the real kubelet uses 10 s to 5 min; tests want it short). */
export function restartDelayMs(restarts: number): number {
  return Math.min(1000 * 2 ** Math.max(0, restarts), 30_000);
}
