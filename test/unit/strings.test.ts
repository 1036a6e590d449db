import { describe, expect, it } from 'vitest';
import { flat, shared } from '../../src/strings.js';

describe('shared()', () => {
  it('gives one frozen copy per distinct list, equal to what it was given', () => {
    const a = shared(new Set(['\\Seen', '\\Flagged']));
    const b = shared(['\\Seen', '\\Flagged']);
    expect(b).toBe(a);
    expect(a).toEqual(['\\Seen', '\\Flagged']);
    expect(Object.isFrozen(a)).toBe(true);
    expect(() => (a as string[]).push('x')).toThrow(TypeError);
    expect(shared([])).toBe(shared(new Set()));
    // Order and content are kept as given: a different list is a different copy.
    expect(shared(['\\Flagged', '\\Seen'])).not.toBe(a);
    expect(shared(['\\Seen\n\\Flagged'])).not.toBe(a);
  });

  it('past its bound, still gives back equal lists (no longer shared)', () => {
    for (let i = 0; i < 5000; i++) expect(shared([`$kw${i}`])).toEqual([`$kw${i}`]);
    const late = shared(['$never-seen-before']);
    expect(late).toEqual(['$never-seen-before']);
    expect(Object.isFrozen(late)).toBe(true);
  });
});

describe('flat()', () => {
  it('returns the same value', () => {
    const s = 'mid:' + '<a@b>';
    expect(flat(s)).toBe('mid:<a@b>');
    expect(flat('')).toBe('');
  });
});
