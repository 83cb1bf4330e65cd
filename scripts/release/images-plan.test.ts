import { chooseBuilder, DEFAULT_REGISTRY, imageCommands, parseImagesArgs, type BuilderProbe } from './images-plan.ts';

const none: BuilderProbe[] = [{ builder: 'docker', onPath: false }, { builder: 'podman', onPath: false }, { builder: 'buildah', onPath: false }];

describe('npm run images: arguments', () => {
  it('defaults to ghcr.io/spotswarm, no push, the first usable builder', () => {
    expect(parseImagesArgs([], '0.1.0')).toEqual({ registry: DEFAULT_REGISTRY, version: '0.1.0', push: false });
  });
  it('takes --registry (a trailing slash dropped), --push and --builder', () => {
    expect(parseImagesArgs(['--registry', 'localhost:5000/team/', '--push', '--builder', 'podman'], '1.2.3-rc.1'))
      .toEqual({ registry: 'localhost:5000/team', version: '1.2.3-rc.1', push: true, builder: 'podman' });
  });
  it.each([
    [['--registry'], '--registry needs a value'],
    [['--registry', '--push'], '--registry needs a value'],
    [['--registry', 'https://ghcr.io/x'], '--registry "https://ghcr.io/x": not a registry path'],
    [['--registry', 'ghcr.io/Org'], '--registry "ghcr.io/Org": not a registry path'],
    [['--registry', 'ghcr.io/org:1.0'], '--registry "ghcr.io/org:1.0": not a registry path'],
    [['--builder', 'kaniko'], '--builder "kaniko": must be one of docker, podman, buildah'],
    [['--tag', 'x'], 'unknown argument "--tag"'],
  ])('refuses %j, naming the flag', (argv, error) => {
    const r = parseImagesArgs(argv, '0.1.0');
    expect('error' in r && r.error).toContain(error);
  });
  it('refuses a package.json version that is no semantic version', () => {
    expect(parseImagesArgs([], 'latest')).toEqual({ error: 'package.json version "latest" is not a semantic version' });
  });
});

describe('npm run images: the builder', () => {
  it('takes the first usable one in the order docker, podman, buildah', () => {
    expect(chooseBuilder([{ builder: 'docker', onPath: true, problem: 'no daemon' }, { builder: 'podman', onPath: true }, { builder: 'buildah', onPath: true }])).toEqual({ builder: 'podman' });
    expect(chooseBuilder([{ builder: 'docker', onPath: true }, { builder: 'podman', onPath: true }, { builder: 'buildah', onPath: false }])).toEqual({ builder: 'docker' });
  });
  it('says in one line that there is none, and why for each', () => {
    const r = chooseBuilder([{ builder: 'docker', onPath: true, problem: 'Cannot connect to the Docker daemon' }, none[1]!, none[2]!]);
    expect(r).toEqual({ error: 'npm run images: no usable OCI image builder: docker is on PATH but cannot build (Cannot connect to the Docker daemon); podman is not on PATH; buildah is not on PATH. Install and start one of docker, podman, buildah.' });
    expect('error' in r && r.error).not.toContain('\n');
  });
  it('uses a named builder only, even when another one would work', () => {
    expect(chooseBuilder([{ builder: 'docker', onPath: true }, { builder: 'podman', onPath: false }, none[2]!], 'podman'))
      .toEqual({ error: 'npm run images: no usable OCI image builder: podman is not on PATH. Install and start podman, or name another with --builder.' });
    expect(chooseBuilder([{ builder: 'docker', onPath: true }, { builder: 'podman', onPath: false }, { builder: 'buildah', onPath: true }], 'buildah')).toEqual({ builder: 'buildah' });
  });
});

describe('npm run images: the commands', () => {
  const o = { registry: 'ghcr.io/spotswarm', version: '0.1.0', push: false };
  it('builds both images from the repo root, the trainer for linux/amd64', () => {
    expect(imageCommands('docker', o)).toEqual([
      ['docker', 'build', '-f', 'operator/Dockerfile', '-t', 'ghcr.io/spotswarm/operator:0.1.0', '.'],
      ['docker', 'build', '--platform', 'linux/amd64', '-f', 'trainer-image/Dockerfile', '-t', 'ghcr.io/spotswarm/trainer:0.1.0', '.'],
    ]);
  });
  it('uses `buildah build` and `podman build` with the same flags, and pushes after both builds', () => {
    const cmds = imageCommands('buildah', { ...o, registry: 'localhost:5000/team', push: true });
    expect(cmds.map((c) => c.slice(0, 2).join(' '))).toEqual(['buildah build', 'buildah build', 'buildah push', 'buildah push']);
    expect(cmds.slice(2)).toEqual([['buildah', 'push', 'localhost:5000/team/operator:0.1.0'], ['buildah', 'push', 'localhost:5000/team/trainer:0.1.0']]);
    expect(imageCommands('podman', o)[1]).toEqual(['podman', 'build', '--platform', 'linux/amd64', '-f', 'trainer-image/Dockerfile', '-t', 'ghcr.io/spotswarm/trainer:0.1.0', '.']);
  });
});
