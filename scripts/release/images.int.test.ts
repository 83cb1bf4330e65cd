/**
 * `npm run images` as a process (node scripts/release/images.ts) with a PATH
 * the test controls: no builder at all; a docker whose daemon does not
 * answer; a podman that records what it is asked to do. The builders here
 * are small shell stand-ins: building the real images needs a builder and
 * the base images' registries, which tests do not have.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'images-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function fakeBuilder(name: string, script: string): void {
  writeFileSync(join(dir, name), `#!/bin/sh\n${script}\n`);
  chmodSync(join(dir, name), 0o755);
}

function images(...args: string[]): { code: number | null; stdout: string; lines: string[] } {
  const r = spawnSync(join(REPO_ROOT, 'node_modules/.bin/node'), [join(REPO_ROOT, 'scripts/release/images.ts'), ...args], {
    cwd: REPO_ROOT, encoding: 'utf8', env: { PATH: dir, LOG: join(dir, 'calls') },
  });
  return { code: r.status, stdout: r.stdout, lines: r.stderr.split('\n').filter(Boolean) };
}

describe('npm run images', () => {
  it('without any builder on PATH prints one line that says so and exits 1', () => {
    const r = images();
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.lines).toEqual(['npm run images: no usable OCI image builder: docker is not on PATH; podman is not on PATH; buildah is not on PATH. Install and start one of docker, podman, buildah.']);
  });

  it('with a docker whose daemon does not answer (as on this machine) says why in its one line and exits 1', () => {
    fakeBuilder('docker', 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
    const r = images();
    expect(r.code).toBe(1);
    expect(r.lines).toEqual(['npm run images: no usable OCI image builder: docker is on PATH but cannot build (Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?); podman is not on PATH; buildah is not on PATH. Install and start one of docker, podman, buildah.']);
  });

  it('builds both images with the usable builder, tagged with the package version, then pushes them', () => {
    fakeBuilder('docker', 'exit 1');
    fakeBuilder('podman', 'echo "$*" >> "$LOG"');
    const r = images('--registry', 'localhost:5000/team', '--push');
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean)).toEqual([
      'info',
      `build -f operator/Dockerfile -t localhost:5000/team/operator:${version} .`,
      `build --platform linux/amd64 -f trainer-image/Dockerfile -t localhost:5000/team/trainer:${version} .`,
      `push localhost:5000/team/operator:${version}`,
      `push localhost:5000/team/trainer:${version}`,
    ]);
    expect(r.lines.at(-1)).toBe(`npm run images: built and pushed localhost:5000/team/operator:${version} and localhost:5000/team/trainer:${version} with podman`);
  });

  it('stops at the first failing build with its exit code', () => {
    fakeBuilder('buildah', 'case "$1" in info) exit 0;; build) echo "$*" >> "$LOG"; exit 3;; esac');
    const r = images();
    expect(r.code).toBe(3);
    expect(readFileSync(join(dir, 'calls'), 'utf8').split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.lines.at(-1)).toBe(`npm run images: \`buildah build -f operator/Dockerfile -t ghcr.io/spotswarm/operator:${version} .\` failed (exit 3)`);
  });

  it('refuses a bad argument with exit 2, naming it', () => {
    const r = images('--registry', 'https://ghcr.io/x');
    expect(r.code).toBe(2);
    expect(r.lines[0]).toBe('npm run images: --registry "https://ghcr.io/x": not a registry path such as ghcr.io/org (no scheme, no tag, lower case)');
  });
});
