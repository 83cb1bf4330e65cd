/**
 * What process a container runs. There is no container runtime here: images
 * of this repo map to its source files (run with Node's type stripping, as the
 * Dockerfiles do), and any other image runs its command as a plain local
 * command, or an idle process that waits for SIGTERM (like a pause container).
 */
import type { V1Container } from '@kubernetes/client-node';

/** The ENTRYPOINT/CMD pair our images would have. */
interface ImageDefaults {
  entrypoint: string[];
  cmd: string[];
}

/** Where the repo is mounted in our images (Dockerfile WORKDIR). */
export const IMAGE_APP_DIR = '/app';

/** An idle process that exits 0 on SIGTERM, like registry.k8s.io/pause. */
export const IDLE_COMMAND = ['/bin/sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'];

/** The image's repository without registry-independent suffixes: "ghcr.io/a/spotswarm/trainer:1.0@sha256:..." -> "ghcr.io/a/spotswarm/trainer". */
export function imageRepository(image: string): string {
  let repo = image.split('@')[0] ?? image;
  const colon = repo.lastIndexOf(':');
  if (colon > repo.lastIndexOf('/')) repo = repo.slice(0, colon);
  return repo;
}

/** Entrypoint and cmd for an image: ours by repository suffix, and the official `nats` image; any other image has none. */
export function imageDefaults(image: string): ImageDefaults {
  const repo = imageRepository(image);
  if (/(^|\/)spotswarm\/trainer$/.test(repo)) return { entrypoint: ['node', '/app/trainer-image/src/main.ts'], cmd: [] };
  if (/(^|\/)spotswarm\/operator$/.test(repo)) return { entrypoint: ['node', '/app/operator/main.ts'], cmd: [] };
  // The official image: its entrypoint runs nats-server with the given flags.
  if (/^(docker\.io\/)?(library\/)?nats$/.test(repo)) return { entrypoint: ['nats-server'], cmd: ['--config', '/etc/nats/nats-server.conf'] };
  return { entrypoint: [], cmd: [] };
}

/**
 * Rewrites one argument or env value: paths under /app (the image's copy of
 * the repo) point into the repo, and paths under a volume's mountPath point
 * into the pod's local copy of that volume. Longest prefix wins.
 */
export function rewritePath(value: string, mounts: ReadonlyArray<readonly [from: string, to: string]>): string {
  // --flag=/path is as common as a bare path
  const flag = /^(--?[\w.-]+=)(\/.*)$/.exec(value);
  if (flag) return flag[1] + rewritePath(flag[2] ?? '', mounts);
  let best: readonly [string, string] | undefined;
  for (const m of mounts) {
    const from = m[0].replace(/\/+$/, '');
    if ((value === from || value.startsWith(`${from}/`)) && (best === undefined || from.length > best[0].length)) best = [from, m[1]];
  }
  return best ? best[1] + value.slice(best[0].length) : value;
}

export interface ProcessSpec {
  argv: [string, ...string[]];
  cwd: string;
}

/**
 * The local command for a container, with Docker's rules: `command` replaces
 * the ENTRYPOINT (and drops the CMD), `args` replace the CMD. `node` becomes
 * this repo's Node 22, `nats-server` the built one; /app and mount paths are rewritten.
 */
export function processFor(
  container: Pick<V1Container, 'image' | 'command' | 'args' | 'workingDir'>,
  o: { repoRoot: string; nodeBin: string; natsServerBin?: string; mounts?: ReadonlyArray<readonly [string, string]> },
): ProcessSpec {
  const image = imageDefaults(container.image ?? '');
  const head = container.command ?? image.entrypoint;
  const tail = container.args ?? (container.command ? [] : image.cmd);
  const mounts: Array<readonly [string, string]> = [[IMAGE_APP_DIR, o.repoRoot], ...(o.mounts ?? [])];
  let argv = [...head, ...tail].map((a) => rewritePath(a, mounts));
  if (argv.length === 0) argv = [...IDLE_COMMAND];
  const [cmd, ...rest] = argv as [string, ...string[]];
  const bin = cmd === 'node' || /\/node$/.test(cmd) ? o.nodeBin : cmd === 'nats-server' && o.natsServerBin ? o.natsServerBin : cmd;
  const cwd = container.workingDir ? rewritePath(container.workingDir, mounts) : o.repoRoot;
  return { argv: [bin, ...rest], cwd };
}
