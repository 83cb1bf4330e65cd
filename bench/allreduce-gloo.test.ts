import { describe, expect, it } from '@jest/globals';
import { glooColumns, parseGlooOutput } from './allreduce-gloo.ts';

const ok = { backend: 'gloo', torch: '2.5.1+cpu', peers: 2, sizeMiB: 64, rounds: 3, seconds: 0.1, roundSeconds: [0.12, 0.1, 0.09] };

describe('parseGlooOutput', () => {
  it('takes the last non-empty line, whatever the script printed before it', () => {
    const out = `some warning from torch\n${JSON.stringify({ ...ok, seconds: 0.5 })}\n${JSON.stringify(ok)}\n\n`;
    expect(parseGlooOutput(out)).toEqual({ torch: '2.5.1+cpu', peers: 2, sizeMiB: 64, rounds: 3, seconds: 0.1, roundSeconds: [0.12, 0.1, 0.09] });
  });

  it('rejects empty output and a last line that is not a JSON object', () => {
    expect(() => parseGlooOutput('\n \n')).toThrow('gloo baseline: no output');
    expect(() => parseGlooOutput('Traceback (most recent call last):')).toThrow('last line is not JSON: Traceback');
    expect(() => parseGlooOutput('[1,2]')).toThrow('not a JSON object');
  });

  it('names the field that is missing or wrong', () => {
    expect(() => parseGlooOutput(JSON.stringify({ ...ok, backend: 'nccl' }))).toThrow('backend is "nccl", not "gloo"');
    expect(() => parseGlooOutput(JSON.stringify({ ...ok, seconds: 0 }))).toThrow('seconds is 0, not a positive number');
    expect(() => parseGlooOutput(JSON.stringify({ ...ok, peers: undefined }))).toThrow('peers is undefined, not a positive number');
    expect(() => parseGlooOutput(JSON.stringify({ ...ok, roundSeconds: [] }))).toThrow('roundSeconds');
    expect(() => parseGlooOutput(JSON.stringify({ ...ok, roundSeconds: [0.1, 'x'] }))).toThrow('roundSeconds');
    expect(() => parseGlooOutput(JSON.stringify({ ...ok, torch: 2 }))).toThrow('torch is not a version string');
  });
});

describe('glooColumns', () => {
  it("is gloo's median round and the project's time over it", () => {
    const gloo = parseGlooOutput(JSON.stringify({ ...ok, seconds: 0.25 }));
    expect(glooColumns(1, gloo)).toEqual({ glooSeconds: 0.25, ratioGloo: 4 });
    expect(glooColumns(0.125, gloo)).toEqual({ glooSeconds: 0.25, ratioGloo: 0.5 });
  });

  it('is nothing without a gloo run (BENCH_GLOO unset)', () => {
    expect(glooColumns(1, undefined)).toBeUndefined();
  });
});
