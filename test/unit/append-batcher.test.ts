// APPEND group commit: puts issued together go out together, per folder, within the limits.
import { describe, expect, it } from 'vitest';
import { AppendBatcher, type Pending } from '../../src/drivers/imap/append-batcher.js';
import { expandUidSet } from '../../src/drivers/imap/multiappend.js';

describe('AppendBatcher', () => {
  it('groups puts issued together by folder, within the count and byte limits', async () => {
    const sent: string[][] = [];
    const b = new AppendBatcher<string>(
      async (mailbox, batch: Pending<string>[]) => {
        sent.push(batch.map((p) => `${mailbox}:${p.item}`));
        batch.forEach((p) => p.resolve(`k-${p.item}`));
      },
      { messages: 3, bytes: 100 },
    );
    const keys = await Promise.all([
      b.put('A', 'a1', 10), b.put('A', 'a2', 10), b.put('A', 'a3', 10), b.put('A', 'a4', 10),
      b.put('B', 'b1', 60), b.put('B', 'b2', 60), b.put('A', 'a5', 10),
    ]);
    expect(keys).toEqual(['k-a1', 'k-a2', 'k-a3', 'k-a4', 'k-b1', 'k-b2', 'k-a5']);
    expect(sent).toEqual([['A:a1', 'A:a2', 'A:a3'], ['A:a4'], ['B:b1'], ['B:b2'], ['A:a5']]);
  });

  it('puts arriving while a batch is on the wire form the next batch; a throwing sender rejects its batch', async () => {
    const sizes: number[] = [];
    let first = true;
    const b = new AppendBatcher<number>(async (_m, batch) => {
      sizes.push(batch.length);
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 20));
        throw new Error('link down');
      }
      batch.forEach((p) => p.resolve(String(p.item)));
    });
    const p1 = b.put('A', 1, 1);
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4, 5].map((i) => b.put('A', i, 1));
    await expect(p1).rejects.toThrow('link down');
    expect(await Promise.all(later)).toEqual(['2', '3', '4', '5']);
    expect(sizes).toEqual([1, 4]);
  });
});

describe('expandUidSet (APPENDUID of a MULTIAPPEND)', () => {
  it('expands ranges and lists in order, refuses junk and oversized sets', () => {
    expect(expandUidSet('5:7,9', 10)).toEqual([5, 6, 7, 9]);
    expect(expandUidSet('12', 1)).toEqual([12]);
    expect(expandUidSet('1:3', 2)).toBeUndefined();
    expect(expandUidSet('1:x', 5)).toBeUndefined();
    expect(expandUidSet('', 5)).toBeUndefined();
  });
});
