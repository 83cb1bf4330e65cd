/**
 * `node scripts/release/check-version.ts TAG`: prints the version that the
 * release tag TAG (v1.2.3) stands for, or one line naming every file that
 * states another version, and exits 1. Used by .github/workflows/release.yml.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { releaseVersion } from './release-version.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const r = releaseVersion(process.argv[2] ?? '', {
  packageJson: readFileSync(join(root, 'package.json'), 'utf8'),
  chartYaml: readFileSync(join(root, 'helm/spotswarm/Chart.yaml'), 'utf8'),
});
if ('error' in r) {
  process.stderr.write(`release: ${r.error}\n`);
  process.exit(1);
}
process.stdout.write(`${r.version}\n`);
