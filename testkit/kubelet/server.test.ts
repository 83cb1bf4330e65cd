import { describe, expect, it } from '@jest/globals';
import { tailLines } from './server.ts';

describe('tailLines', () => {
  it('keeps the last n lines, with or without a final newline', () => {
    expect(tailLines('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(tailLines('a\nb\nc', 2)).toBe('b\nc');
    expect(tailLines('a\n', 5)).toBe('a\n');
    expect(tailLines('a\nb\n', 0)).toBe('');
    expect(tailLines('a\nb\n', -1)).toBe('a\nb\n');
  });
});
