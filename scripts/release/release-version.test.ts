import { readFileSync } from 'node:fs';
import { releaseVersion } from './release-version.ts';

const chart = (v: string, app: string): string => `apiVersion: v2\nname: spotswarm\nversion: ${v}\nappVersion: ${app}\nkubeVersion: ">=1.30.0-0"\n`;

describe('the release version', () => {
  it('is the tag without its v when package.json and the chart state the same', () => {
    expect(releaseVersion('v1.2.3', { packageJson: '{"version":"1.2.3"}', chartYaml: chart('1.2.3', '"1.2.3"') })).toEqual({ version: '1.2.3' });
    expect(releaseVersion('v1.2.3-rc.1', { packageJson: '{"version":"1.2.3-rc.1"}', chartYaml: chart('1.2.3-rc.1', "'1.2.3-rc.1'") })).toEqual({ version: '1.2.3-rc.1' });
  });
  it('names every file and field that states another version', () => {
    expect(releaseVersion('v1.2.3', { packageJson: '{"version":"1.2.2"}', chartYaml: 'version: 1.2.3\n' }))
      .toEqual({ error: 'tag v1.2.3 wants version 1.2.3, but package.json version is "1.2.2", helm/spotswarm/Chart.yaml appVersion is missing' });
  });
  it('refuses a tag that is no version', () => {
    expect(releaseVersion('1.2.3', { packageJson: '{"version":"1.2.3"}', chartYaml: chart('1.2.3', '1.2.3') })).toEqual({ error: 'tag "1.2.3" is not a version tag such as v1.2.3' });
  });
  it('holds for the repo as it is, tagged with its own package version', () => {
    const packageJson = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const chartYaml = readFileSync(new URL('../../helm/spotswarm/Chart.yaml', import.meta.url), 'utf8');
    const version = (JSON.parse(packageJson) as { version: string }).version;
    expect(releaseVersion(`v${version}`, { packageJson, chartYaml })).toEqual({ version });
  });
});
