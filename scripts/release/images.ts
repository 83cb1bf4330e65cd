/**
 * `npm run images -- [--registry R] [--push] [--builder docker|podman|buildah]`:
 * builds the operator and trainer images from operator/Dockerfile and
 * trainer-image/Dockerfile with the first OCI builder on PATH that can build
 * (docker needs its daemon; podman and buildah need none), tagged
 * `<registry>/operator:<version>` and `<registry>/trainer:<version>` with
 * package.json's version (registry ghcr.io/spotswarm unless given), and with
 * --push pushes both. Without a usable builder it prints one line that says
 * so and exits 1; a bad argument exits 2; a failed build exits with its code.
 * The release workflow builds the multi-platform images with docker buildx
 * instead (.github/workflows/release.yml).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILDERS, chooseBuilder, imageCommands, imageRef, IMAGES, parseImagesArgs, USAGE, type Builder, type BuilderProbe } from './images-plan.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

function onPath(name: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** `<builder> info` succeeds when it can build (docker: its daemon answers). */
function probe(builder: Builder): BuilderProbe {
  if (!onPath(builder)) return { builder, onPath: false };
  const r = spawnSync(builder, ['info'], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status === 0) return { builder, onPath: true };
  const last = (r.stderr ?? '').split('\n').map((l) => l.trim()).filter(Boolean).pop();
  return { builder, onPath: true, problem: (last ?? (r.error ? r.error.message : `\`${builder} info\` exited ${r.status ?? r.signal}`)).slice(0, 300) };
}

const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
const opts = parseImagesArgs(process.argv.slice(2), version);
if ('error' in opts) {
  process.stderr.write(`npm run images: ${opts.error}\n${USAGE}\n`);
  process.exit(2);
}
const chosen = chooseBuilder(BUILDERS.map(probe), opts.builder);
if ('error' in chosen) {
  process.stderr.write(`${chosen.error}\n`);
  process.exit(1);
}
for (const argv of imageCommands(chosen.builder, opts)) {
  process.stderr.write(`+ ${argv.join(' ')}\n`);
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`npm run images: \`${argv.join(' ')}\` failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})\n`);
    process.exit(r.status || 1);
  }
}
process.stderr.write(`npm run images: ${opts.push ? 'built and pushed' : 'built'} ${IMAGES.map((i) => imageRef(opts, i.name)).join(' and ')} with ${chosen.builder}\n`);
