import { describe, expect, it } from 'vitest';
import { KeySet } from '../../src/checkpoint/key-set.js';

describe('KeySet', () => {
  const keys = ['0', '1', '01', '00', '42', '999999999', '1000000000', '4294967295', '-1', '1.5', '1e3', ' 1', '', 'abc', '0000000100000001', '1700000000.M1P2Q3.host'];

  it('answers and gives back exactly the strings added, numeric-looking or not', () => {
    const s = new KeySet();
    for (const k of keys) s.add(k);
    expect(s.size).toBe(keys.length);
    for (const k of keys) expect(s.has(k), k).toBe(true);
    for (const k of ['2', '001', '1 ', '42.0', '+42']) expect(s.has(k), k).toBe(false);
    expect([...s].sort()).toEqual([...keys].sort());
    expect([...s.values()].sort()).toEqual([...keys].sort());
    expect([...s.entries()].every(([a, b]) => a === b)).toBe(true);
    const seen: string[] = [];
    s.forEach((v) => seen.push(v));
    expect(seen.sort()).toEqual([...keys].sort());
  });

  it('deletes and clears', () => {
    const s = new KeySet();
    for (const k of keys) s.add(k);
    s.add('42');
    expect(s.size).toBe(keys.length);
    expect(s.delete('42')).toBe(true);
    expect(s.delete('42')).toBe(false);
    expect(s.delete('01')).toBe(true);
    expect(s.has('1')).toBe(true);
    expect(s.size).toBe(keys.length - 2);
    s.clear();
    expect(s.size).toBe(0);
    expect([...s]).toEqual([]);
  });
});
