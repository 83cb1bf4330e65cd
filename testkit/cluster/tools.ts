/**
 * Locates the control-plane tools that build-tools.sh builds into the cache
 * outside the repo. Building is a no-op when the cache already holds them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Tool = 'etcd' | 'kube-apiserver' | 'kube-scheduler' | 'kube-controller-manager' | 'kubectl' | 'helm' | 'nats-server' | 'actionlint' | 'prometheus';

const script = join(dirname(fileURLToPath(import.meta.url)), 'build-tools.sh');
const componentOf: Record<Tool, string> = {
  etcd: 'etcd',
  'kube-apiserver': 'kubernetes',
  'kube-scheduler': 'kubernetes',
  'kube-controller-manager': 'kubernetes',
  kubectl: 'kubernetes',
  helm: 'helm',
  'nats-server': 'nats-server',
  actionlint: 'actionlint',
  prometheus: 'prometheus',
};
const built = new Map<string, string>();

/** The directory of tool symlinks, building the components given (all when none) first. Progress goes to stderr. */
export function toolsDir(components: string[] = []): string {
  const key = components.join(',');
  let dir = built.get(key);
  if (dir === undefined) {
    const out = execFileSync('bash', [script, ...components], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    dir = out.trim().split('\n').pop() ?? '';
    built.set(key, dir);
  }
  return dir;
}

/** Absolute path of one tool, building only its own component if missing. */
export function toolPath(tool: Tool): string {
  const p = join(toolsDir([componentOf[tool]]), tool);
  if (!existsSync(p)) throw new Error(`tool ${tool} missing from ${dirname(p)}; run testkit/cluster/build-tools.sh`);
  return p;
}
