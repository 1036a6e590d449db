// UID sets a command names: compact ("1:3,7"), and split so no command line outgrows a server's
// limit (a destination with imap_max_line_length = 2000 had refused the scan of a folder whose
// UIDs alternated between this run's and another client's, on every run).
import { describe, expect, it } from 'vitest';
import { compactUidSet, uidSetChunks } from '../../src/drivers/imap/mailboxes.js';

const expand = (set: string): number[] =>
  set.split(',').flatMap((p) => {
    const [a, b] = p.split(':').map(Number);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  });

describe('UID sets', () => {
  it('compact ranges, whatever the order', () => {
    expect(compactUidSet([9, 1, 2, 3, 7, 10])).toBe('1:3,7,9:10');
    expect(compactUidSet([5])).toBe('5');
  });

  it('split into sets of at most N characters that together name every UID once, in order', () => {
    const holes = Array.from({ length: 5000 }, (_, i) => 100_000 + 2 * i);
    const chunks = uidSetChunks(holes, 1000);
    expect(chunks.length).toBeGreaterThan(30);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(1000);
    expect(chunks.flatMap(expand)).toEqual(holes);
    expect(uidSetChunks([1, 2, 3, 4], 1000)).toEqual(['1:4']);
    expect(uidSetChunks([], 1000)).toEqual([]);
  });
});
