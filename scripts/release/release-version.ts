/**
 * The version a release tag stands for, checked against every place the repo
 * states it: package.json's version (the images' tag, `npm run images`), and
 * the chart's version and appVersion (the chart's default operator and
 * trainer image tags). The release workflow runs check-version.ts first and
 * publishes nothing when they disagree.
 */

/** `v1.2.3` (or `v1.2.3-rc.1`) → `1.2.3`; the files' texts as read. An error names each file and field that disagrees. */
export function releaseVersion(tag: string, files: { packageJson: string; chartYaml: string }): { version: string } | { error: string } {
  const m = /^v([0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?)$/.exec(tag);
  if (!m) return { error: `tag ${JSON.stringify(tag)} is not a version tag such as v1.2.3` };
  const version = m[1]!;
  const stated: [string, string | undefined][] = [
    ['package.json version', (JSON.parse(files.packageJson) as { version?: string }).version],
    ['helm/spotswarm/Chart.yaml version', field(files.chartYaml, 'version')],
    ['helm/spotswarm/Chart.yaml appVersion', field(files.chartYaml, 'appVersion')],
  ];
  const wrong = stated.filter(([, v]) => v !== version).map(([where, v]) => `${where} is ${v === undefined ? 'missing' : JSON.stringify(v)}`);
  return wrong.length ? { error: `tag ${tag} wants version ${version}, but ${wrong.join(', ')}` } : { version };
}

/** A top-level scalar of a YAML file such as Chart.yaml, quoted or not. */
function field(yaml: string, key: string): string | undefined {
  const m = new RegExp(`^${key}:\\s*(?:"([^"]*)"|'([^']*)'|([^\\s#]+))`, 'm').exec(yaml);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}
