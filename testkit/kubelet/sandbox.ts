/**
 * What a container runtime gives a process besides its command, done with an
 * unprivileged user + mount namespace (`unshare --user --map-root-user
 * --mount`, util-linux): the pod's own /etc/hosts (Service names resolve, as
 * with cluster DNS), and `readOnlyRootFilesystem`: every host mount except
 * /proc, /sys and /dev is remounted read-only inside the namespace, while the
 * pod's volumes (bind-mounted onto themselves first, and onto their mountPath
 * where that directory exists on the host, such as /tmp) stay writable. A
 * write anywhere else fails with EROFS, as on a real node.
 *
 * Where the kernel refuses unprivileged user namespaces (Ubuntu 24.04 with
 * kernel.apparmor_restrict_unprivileged_userns=1), pods run without the
 * sandbox and the kubelet says so once at start.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';

export interface SandboxSpec {
  /** File to bind over /etc/hosts. */
  hostsFile: string;
  /** [mountPath, localDir] of the pod's volumes; these stay writable. */
  volumes: ReadonlyArray<readonly [string, string]>;
  readOnlyRoot: boolean;
  /**
   * Host paths the process must still see (the repo it runs from, the
   * kubelet's state directory): a volume is not mounted over a mountPath that
   * holds one of them, nor over one that holds another volume's directory.
   */
  keepVisible?: readonly string[];
}

/** Mount points of this machine with their per-mount options ("rw,nosuid,relatime"), from /proc/self/mountinfo. */
export function hostMounts(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): Array<{ path: string; options: string }> {
  const out: Array<{ path: string; options: string }> = [];
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 6) continue;
    // octal escapes: \040 is a space
    const path = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.push({ path, options: f[5] ?? '' });
  }
  return out;
}

/** Mounts a read-only root leaves alone: kernel filesystems, which are no part of a container image either. */
function keepsWritable(path: string): boolean {
  return /^\/(proc|sys|dev)(\/|$)/.test(path);
}

function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The shell script the namespace runs before it execs the container's command ("$@"). */
export function sandboxScript(spec: SandboxSpec, mounts: ReadonlyArray<{ path: string; options: string }>): string {
  const lines = ['set -e', `mount --bind ${quote(spec.hostsFile)} /etc/hosts`];
  if (spec.readOnlyRoot) {
    const dirs = new Set<string>();
    // Every volume is bound onto itself first, so that a volume bound over its mountPath (such as /tmp) cannot hide another.
    for (const [, local] of spec.volumes) {
      dirs.add(local);
      lines.push(`mount --bind ${quote(local)} ${quote(local)}`);
    }
    const visible = [...(spec.keepVisible ?? []), ...dirs];
    const hides = (mountPath: string): boolean => visible.some((p) => p === mountPath || p.startsWith(mountPath.endsWith('/') ? mountPath : `${mountPath}/`));
    for (const [mountPath, local] of spec.volumes) {
      if (existsSync(mountPath) && statSync(mountPath).isDirectory() && !hides(mountPath)) lines.push(`mount --bind ${quote(local)} ${quote(mountPath)}`);
    }
    for (const m of mounts) {
      if (keepsWritable(m.path) || dirs.has(m.path) || m.path === '/etc/hosts') continue;
      // keep flags such as nosuid/nodev: a user namespace may not clear them
      const opts = m.options.split(',').filter((o) => o !== 'rw' && o !== 'ro');
      lines.push(`mount -o ${['remount', 'bind', 'ro', ...opts].join(',')} ${quote(m.path)}`);
    }
  }
  lines.push('exec "$@"');
  return lines.join('\n');
}

/** argv that runs `argv` inside the sandbox; the PID stays the same (unshare and sh exec). */
export function sandboxed(argv: readonly [string, ...string[]], spec: SandboxSpec, mounts = hostMounts()): [string, ...string[]] {
  return ['unshare', '--user', '--map-root-user', '--mount', '--', '/bin/sh', '-c', sandboxScript(spec, mounts), 'sandbox', ...argv];
}

/** Whether this machine lets an unprivileged process make a user + mount namespace and mount in it. */
export function sandboxAvailable(): boolean {
  const r = spawnSync('unshare', ['--user', '--map-root-user', '--mount', '--', '/bin/sh', '-c', 'mount --bind /etc/hosts /etc/hosts'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0;
}

/** A Service as the pod's /etc/hosts names it. */
export interface ServiceName {
  name: string;
  namespace: string;
}

/**
 * The pod's /etc/hosts: localhost and its own name, and every Service by its
 * cluster-DNS names (`svc`, `svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`;
 * the short name only in the pod's namespace), all on 127.0.0.1 where every
 * pod listens. Services made after the pod started are not in it.
 */
export function hostsFile(podName: string, podNamespace: string, services: readonly ServiceName[]): string {
  const lines = ['127.0.0.1\tlocalhost', `127.0.0.1\t${podName}`, '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const s of services) {
    const names = [`${s.name}.${s.namespace}`, `${s.name}.${s.namespace}.svc`, `${s.name}.${s.namespace}.svc.cluster.local`];
    if (s.namespace === podNamespace) names.unshift(s.name);
    lines.push(`127.0.0.1\t${names.join(' ')}`);
  }
  return `${lines.join('\n')}\n`;
}
