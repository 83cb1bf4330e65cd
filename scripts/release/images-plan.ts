/**
 * What `npm run images` runs, as pure functions: its arguments, which OCI
 * builder to use from what was found on the machine, and the argv of every
 * build and push. images.ts is the thin shell that probes and runs them.
 */

/** Builders tried in this order when none is named. */
export const BUILDERS = ['docker', 'podman', 'buildah'] as const;
export type Builder = (typeof BUILDERS)[number];

export const DEFAULT_REGISTRY = 'ghcr.io/spotswarm';

/** The repo's images: name under the registry, Dockerfile (from the repo root), and a fixed platform if any. */
export const IMAGES: readonly { name: string; dockerfile: string; platform?: string }[] = [
  { name: 'operator', dockerfile: 'operator/Dockerfile' },
  // tfjs-node-gpu's libtensorflow and the CUDA base exist for linux/amd64 only.
  { name: 'trainer', dockerfile: 'trainer-image/Dockerfile', platform: 'linux/amd64' },
];

export interface ImagesOptions {
  registry: string;
  version: string;
  push: boolean;
  /** A builder named with --builder; otherwise the first usable one of BUILDERS. */
  builder?: Builder;
}

export const USAGE = 'usage: npm run images -- [--registry REGISTRY] [--push] [--builder docker|podman|buildah]';

/** A registry path such as ghcr.io/org or localhost:5000/team: no scheme, no tag, lower case. */
const REGISTRY = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$/;

/** Parses the script's arguments; `version` is package.json's. An error names the flag. */
export function parseImagesArgs(argv: readonly string[], version: string): ImagesOptions | { error: string } {
  const o: ImagesOptions = { registry: DEFAULT_REGISTRY, version, push: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--push') {
      o.push = true;
    } else if (a === '--registry' || a === '--builder') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) return { error: `${a} needs a value` };
      if (a === '--registry') {
        const r = v.replace(/\/+$/, '');
        if (!REGISTRY.test(r)) return { error: `--registry ${JSON.stringify(v)}: not a registry path such as ghcr.io/org (no scheme, no tag, lower case)` };
        o.registry = r;
      } else {
        if (!(BUILDERS as readonly string[]).includes(v)) return { error: `--builder ${JSON.stringify(v)}: must be one of ${BUILDERS.join(', ')}` };
        o.builder = v as Builder;
      }
    } else {
      return { error: `unknown argument ${JSON.stringify(a)}` };
    }
  }
  if (!/^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$/.test(version)) return { error: `package.json version ${JSON.stringify(version)} is not a semantic version` };
  return o;
}

/** What the shell found out about one builder. */
export interface BuilderProbe {
  builder: Builder;
  onPath: boolean;
  /** Why it cannot build though it is on PATH (for docker: no daemon); undefined when it can. */
  problem?: string;
}

/**
 * The builder to use, or the one line that says why there is none. Probes
 * come in BUILDERS order; a named builder must itself be usable.
 */
export function chooseBuilder(probes: readonly BuilderProbe[], wanted?: Builder): { builder: Builder } | { error: string } {
  const considered = wanted ? probes.filter((p) => p.builder === wanted) : probes;
  const usable = considered.find((p) => p.onPath && p.problem === undefined);
  if (usable) return { builder: usable.builder };
  const why = considered.map((p) => (p.onPath ? `${p.builder} is on PATH but cannot build (${p.problem})` : `${p.builder} is not on PATH`));
  const fix = wanted ? `Install and start ${wanted}, or name another with --builder` : `Install and start one of ${BUILDERS.join(', ')}`;
  return { error: `npm run images: no usable OCI image builder: ${why.join('; ')}. ${fix}.` };
}

/** The full reference of one image, e.g. ghcr.io/spotswarm/trainer:0.1.0. */
export function imageRef(o: Pick<ImagesOptions, 'registry' | 'version'>, name: string): string {
  return `${o.registry}/${name}:${o.version}`;
}

/**
 * Every command to run, in order, as argv lists run from the repo root: a
 * build per image (docker/podman/buildah take the same build flags), then
 * with --push a push per image.
 */
export function imageCommands(builder: Builder, o: ImagesOptions): string[][] {
  const build = builder === 'buildah' ? ['buildah', 'build'] : [builder, 'build'];
  const cmds: string[][] = IMAGES.map((img) => [
    ...build,
    ...(img.platform ? ['--platform', img.platform] : []),
    '-f', img.dockerfile,
    '-t', imageRef(o, img.name),
    '.',
  ]);
  if (o.push) for (const img of IMAGES) cmds.push([builder, 'push', imageRef(o, img.name)]);
  return cmds;
}
