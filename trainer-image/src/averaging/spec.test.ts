import { resolveOptions } from './averager.ts';
import { InvalidRoundSpecError } from './errors.ts';
import type { RoundSpec } from './types.ts';
import { validateSpec } from './spec.ts';

const spec = (over: Partial<RoundSpec> = {}): RoundSpec => ({
  roundId: 'r', members: [{ peerId: 'a', weight: 1 }, { peerId: 'b', weight: 0, bandwidth: 5 }], compression: 'none', timeoutMs: 1000, ...over,
});

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof InvalidRoundSpecError) return e.field;
    throw e;
  }
  return undefined;
}

const ROBUST = { method: 'centered-clip', trimFraction: 0.2, clipTau: 1, clipIterations: 3, maxSamplesRatio: 4, verifyReducers: false } as const;

describe('RoundSpec validation', () => {
  it('accepts a good spec and finds the local member', () => {
    expect(validateSpec(spec(), 'b', 10)).toBe(1);
    expect(validateSpec(spec({ robust: ROBUST }), 'b', 10)).toBe(1);
  });

  it.each<[string, RoundSpec, string]>([
    ['empty round id', spec({ roundId: '' }), 'roundId'],
    ['long round id', spec({ roundId: 'x'.repeat(129) }), 'roundId'],
    ['no members', spec({ members: [] }), 'members'],
    ['duplicate peer', spec({ members: [{ peerId: 'a', weight: 1 }, { peerId: 'a', weight: 1 }] }), 'members[1].peerId'],
    ['negative weight', spec({ members: [{ peerId: 'a', weight: -1 }] }), 'members[0].weight'],
    ['NaN weight', spec({ members: [{ peerId: 'a', weight: NaN }] }), 'members[0].weight'],
    ['infinite bandwidth', spec({ members: [{ peerId: 'a', weight: 1, bandwidth: Infinity }] }), 'members[0].bandwidth'],
    ['bad compression', spec({ compression: 'zstd' as never }), 'compression'],
    ['zero timeout', spec({ timeoutMs: 0 }), 'timeoutMs'],
    ['unknown robust method', spec({ robust: { ...ROBUST, method: 'krum' as never } }), 'robust.method'],
    ['trimming half', spec({ robust: { ...ROBUST, trimFraction: 0.5 } }), 'robust.trimFraction'],
    ['zero clip radius', spec({ robust: { ...ROBUST, clipTau: 0 } }), 'robust.clipTau'],
    ['fractional clip iterations', spec({ robust: { ...ROBUST, clipIterations: 2.5 } }), 'robust.clipIterations'],
    ['sample cap below 1', spec({ robust: { ...ROBUST, maxSamplesRatio: 0.9 } }), 'robust.maxSamplesRatio'],
  ])('rejects %s, naming the field', (_what, s, field) => {
    expect(fieldOf(() => validateSpec(s, 'a', 10))).toBe(field);
  });

  it('rejects a group without the local peer', () => {
    expect(fieldOf(() => validateSpec(spec(), 'zzz', 10))).toBe('members');
  });
});

describe('averager options', () => {
  it('has documented defaults', () => {
    const o = resolveOptions({});
    expect(o.chunkElements).toBe(262144);
    expect(o.int8BlockSize).toBe(256);
    expect(o.auto).toEqual({ fp16MinElements: 65536, int8MinElements: Infinity });
    expect(o.policy).toEqual({ quorum: 0.5, slackRatio: 1, slackMs: 1000, stallMs: 2000 });
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('rejects bad values, naming the field', () => {
    expect(fieldOf(() => resolveOptions({ int8BlockSize: 3 }))).toBe('options.int8BlockSize');
    expect(fieldOf(() => resolveOptions({ chunkBytes: 1 << 30 }))).toBe('options.chunkBytes');
    expect(fieldOf(() => resolveOptions({ deadlines: { quorum: 2 } }))).toBe('options.deadlines.quorum');
  });
});
