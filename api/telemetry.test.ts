import fc from 'fast-check';
import { parsePeerProblem, parseTelemetry, TELEMETRY_MAX_BYTES } from './telemetry.ts';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const good = { v: 1, peerId: '12D3KooW', pod: 'tiny-peer-x', epoch: 4, samplesAccumulated: 12, samplesPerSecond: 3.5, loss: 2.1, time: 1 };

describe('parseTelemetry', () => {
  it('accepts a valid report', () => {
    expect(parseTelemetry(enc(good))).toEqual({ ok: true, report: good });
    expect(parseTelemetry(enc({ ...good, dataPass: 2, dataDone: 0.25 }))).toEqual({ ok: true, report: { ...good, dataPass: 2, dataDone: 0.25 } });
  });
  it.each([
    [{ ...good, v: 2 }, 'v'],
    [{ ...good, epoch: -1 }, 'epoch'],
    [{ ...good, epoch: 1.5 }, 'epoch'],
    [{ ...good, samplesPerSecond: 'fast' }, 'samplesPerSecond'],
    [{ ...good, loss: null }, 'loss'],
    [{ ...good, peerId: '' }, 'peerId'],
    [{ ...good, checkpoint: 7 }, 'checkpoint'],
    [{ ...good, syncing: 'yes' }, 'syncing'],
    [{ ...good, problem: { reason: 'Bored', message: 'x' } }, 'problem'],
    [{ ...good, problem: { reason: 'DataUnreadable', message: 'x'.repeat(1025) } }, 'problem'],
    [{ ...good, problem: 'DataUnreadable' }, 'problem'],
    [{ ...good, dataPass: 1.5 }, 'dataPass'],
    [{ ...good, dataPass: -1 }, 'dataPass'],
    [{ ...good, dataDone: 1.01 }, 'dataDone'],
    [{ ...good, dataDone: '50%' }, 'dataDone'],
    [[1, 2], 'not-object'],
    ['{"v":', 'not-json'],
  ])('rejects %j with reason %s', (input, reason) => {
    const r = parseTelemetry(enc(input));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe(reason);
  });
  it('accepts a peer problem and the syncing flag', () => {
    const r = { ...good, syncing: true, problem: { reason: 'DataUnreadable', message: 'spec.training.data: /x: ENOENT' } };
    expect(parseTelemetry(enc(r))).toEqual({ ok: true, report: r });
  });
  it('rejects oversized reports before parsing', () => {
    const r = parseTelemetry(new Uint8Array(TELEMETRY_MAX_BYTES + 1));
    expect(r).toMatchObject({ ok: false, reason: 'too-large' });
  });
  it('never throws on arbitrary bytes or JSON', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), (b) => { parseTelemetry(b); }));
    fc.assert(fc.property(fc.jsonValue(), (v) => { const r = parseTelemetry(enc(v)); expect(typeof r.ok).toBe('boolean'); }));
  });
});

describe('parsePeerProblem (termination messages)', () => {
  it('reads `Reason: message` for the known reasons only', () => {
    expect(parsePeerProblem('NatsUnreachable: cannot connect\nsecond line')).toEqual({ reason: 'NatsUnreachable', message: 'cannot connect\nsecond line' });
    expect(parsePeerProblem('BackendUnavailable: spec.trainer.backend is gpu')).toEqual({ reason: 'BackendUnavailable', message: 'spec.trainer.backend is gpu' });
    expect(parsePeerProblem('Error: boom')).toBeUndefined();
    expect(parsePeerProblem('')).toBeUndefined();
    expect(parsePeerProblem(undefined)).toBeUndefined();
  });
});
