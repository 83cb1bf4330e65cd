import { Buckets, Subjects, swarmPrefix } from './subjects.ts';

describe('subjects', () => {
  it('scopes every subject by namespace and swarm', () => {
    const s = { namespace: 'team-a', name: 'bert' };
    expect(swarmPrefix(s)).toBe('spotswarm.team-a.bert');
    expect(Subjects.telemetry(s)).toBe('spotswarm.team-a.bert.telemetry');
    expect(Subjects.all(s)).toBe('spotswarm.team-a.bert.>');
  });
  it('escapes characters that NATS and JetStream reserve', () => {
    const s = { namespace: 'a.b', name: 'x*y' };
    expect(swarmPrefix(s)).toBe('spotswarm.a_b.x_y');
    expect(Buckets.membership(s)).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});
