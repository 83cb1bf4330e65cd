import { parseSamples, sumOf } from './text-format.ts';

const TEXT = [
  '# HELP spotswarm_api_requests_total API requests by verb.',
  '# TYPE spotswarm_api_requests_total counter',
  'spotswarm_api_requests_total{cluster="dc1",verb="create",resource="pods",code="2xx"} 12',
  'spotswarm_api_requests_total{cluster="dc2",verb="list",resource="pods",code="2xx"} 3',
  '',
  'spotswarm_leader 1',
  'spotswarm_reconcile_duration_seconds_bucket{le="0.005"} 4',
  'spotswarm_reconcile_duration_seconds_bucket{le="+Inf"} 9',
  'spotswarm_reconcile_duration_seconds_sum 0.25',
  'spotswarm_reconcile_duration_seconds_count 9',
  'with_timestamp{a="b"} 2.5 1700000000000',
  'escaped{path="a\\"b",msg="x}y"} 7',
  '9_not_a_metric_name 1',
].join('\n');

describe('parseSamples', () => {
  it('reads names, labels and values, and skips comments, blank lines and lines that are no sample', () => {
    const s = parseSamples(TEXT);
    expect(s[0]).toEqual({ name: 'spotswarm_api_requests_total', labels: { cluster: 'dc1', verb: 'create', resource: 'pods', code: '2xx' }, value: 12 });
    expect(s.map((x) => x.name)).toEqual([
      'spotswarm_api_requests_total', 'spotswarm_api_requests_total', 'spotswarm_leader',
      'spotswarm_reconcile_duration_seconds_bucket', 'spotswarm_reconcile_duration_seconds_bucket',
      'spotswarm_reconcile_duration_seconds_sum', 'spotswarm_reconcile_duration_seconds_count', 'with_timestamp', 'escaped',
    ]);
  });

  it('gives a sample without labels an empty label set, and +Inf buckets their le as written', () => {
    const s = parseSamples(TEXT);
    expect(s.find((x) => x.name === 'spotswarm_leader')).toEqual({ name: 'spotswarm_leader', labels: {}, value: 1 });
    expect(s.filter((x) => x.name.endsWith('_bucket')).map((x) => x.labels['le'])).toEqual(['0.005', '+Inf']);
  });

  it('takes the value before a timestamp, and keeps escaped quotes and braces inside label values', () => {
    const s = parseSamples(TEXT);
    expect(s.find((x) => x.name === 'with_timestamp')).toEqual({ name: 'with_timestamp', labels: { a: 'b' }, value: 2.5 });
    expect(s.find((x) => x.name === 'escaped')).toEqual({ name: 'escaped', labels: { path: 'a\\"b', msg: 'x}y' }, value: 7 });
  });

  it('with a name, keeps only that metric (not others it is a prefix of)', () => {
    expect(parseSamples(TEXT, 'spotswarm_api_requests_total').map((x) => x.value)).toEqual([12, 3]);
    expect(parseSamples(TEXT, 'spotswarm_reconcile_duration_seconds_sum')).toEqual([{ name: 'spotswarm_reconcile_duration_seconds_sum', labels: {}, value: 0.25 }]);
    expect(parseSamples(TEXT, 'spotswarm_reconcile_duration_seconds')).toEqual([]);
  });
});

describe('sumOf', () => {
  it('adds a metric over its label sets, and is 0 for a metric not there', () => {
    expect(sumOf(TEXT, 'spotswarm_api_requests_total')).toBe(15);
    expect(sumOf(TEXT, 'spotswarm_missing')).toBe(0);
  });
});
