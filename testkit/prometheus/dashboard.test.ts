import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labelVariables, panelQueries, substitute } from './dashboard.ts';

const shipped = JSON.parse(readFileSync(join(import.meta.dirname, '../../helm/spotswarm/dashboards/spotswarm.json'), 'utf8'));
const values = { namespace: 'team-a', swarm: 'bert', __rate_interval: '1m', datasource: 'prom' };

describe('substitute', () => {
  it('puts in $x, ${x} and [[x]], and names a variable it has no value for', () => {
    expect(substitute('a{ns="$namespace",s="${swarm}",t="[[swarm]]"}[$__rate_interval]', values)).toBe('a{ns="team-a",s="bert",t="bert"}[1m]');
    expect(() => substitute('rate(x[$__range])', values)).toThrow('$__range');
  });
});

describe('panelQueries', () => {
  it('lists every target with its panel title, nested rows included, and refuses a panel without a query', () => {
    const d = { panels: [{ type: 'row', title: 'r', panels: [{ title: 'inner', targets: [{ refId: 'A', expr: 'up{x="$swarm"}' }] }] }, { title: 'outer', targets: [{ refId: 'B', expr: 'up' }] }] };
    expect(panelQueries(d, values)).toEqual([{ panel: 'inner', refId: 'A', expr: 'up{x="bert"}' }, { panel: 'outer', refId: 'B', expr: 'up' }]);
    expect(() => panelQueries({ panels: [{ title: 'Empty', targets: [] }] }, values)).toThrow('panel "Empty" has no PromQL target');
  });

  it('reads the shipped dashboard: every query is scoped to the chosen namespace and swarm', () => {
    const qs = panelQueries(shipped, values);
    expect(qs.length).toBeGreaterThanOrEqual(9);
    for (const q of qs) expect(q.expr).toContain('namespace="team-a", swarm="bert"');
  });
});

describe('labelVariables', () => {
  it('reads the namespace and swarm variables of the shipped dashboard', () => {
    expect(labelVariables(shipped, values)).toEqual([
      { name: 'namespace', label: 'namespace', match: 'spotswarm_swarm_peers' },
      { name: 'swarm', label: 'swarm', match: 'spotswarm_swarm_peers{namespace="team-a"}' },
    ]);
  });
});
