/**
 * The GitHub workflows are valid: actionlint (built from the Go module proxy
 * by testkit/cluster/build-tools.sh) finds nothing in .github/workflows/*.yml.
 * It checks syntax, expressions, job needs and outputs, the inputs of
 * well-known actions, and reusable-workflow calls; shell scripts in `run:`
 * too when shellcheck is on PATH.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolPath } from '../../testkit/cluster/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');

function actionlint(cwd: string, files: string[]): { code: number | null; out: string } {
  const r = spawnSync(toolPath('actionlint'), ['-no-color', ...files], { cwd, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('.github/workflows', () => {
  it('has the CI and release workflows, and actionlint finds nothing in any of them', () => {
    const files = readdirSync(join(root, '.github/workflows')).filter((f) => /\.ya?ml$/.test(f)).map((f) => `.github/workflows/${f}`);
    expect(files).toEqual(expect.arrayContaining(['.github/workflows/ci.yml', '.github/workflows/release.yml']));
    const r = actionlint(root, files);
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);

  it('fails on a finding (a job that needs a job that does not exist), so the check above can fail', () => {
    const dir = mkdtempSync(join(tmpdir(), 'actionlint-'));
    try {
      mkdirSync(join(dir, '.github/workflows'), { recursive: true });
      writeFileSync(join(dir, '.github/workflows/bad.yml'), 'on: push\njobs:\n  a:\n    needs: [nothere]\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n');
      const r = actionlint(dir, ['.github/workflows/bad.yml']);
      expect(r.code).toBe(1);
      expect(r.out).toContain('nothere');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
