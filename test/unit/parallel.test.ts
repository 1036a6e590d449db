// mapOrdered: calls overlap up to the limit, results come in the items' order whatever order the
// calls finish in, a failure stops further calls and is thrown in its turn after the others settle.
import { describe, expect, it } from 'vitest';
import { mapOrdered } from '../../src/parallel.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapOrdered', () => {
  it('keeps up to `limit` calls in flight and yields in order', async () => {
    let inFlight = 0;
    let peak = 0;
    const fn = async (i: number) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await sleep((7 - (i % 7)) * 2); // later items often finish first
      inFlight--;
      return i * 10;
    };
    const out: number[] = [];
    for await (const r of mapOrdered(Array.from({ length: 40 }, (_, i) => i), 8, fn)) out.push(r);
    expect(out).toEqual(Array.from({ length: 40 }, (_, i) => i * 10));
    expect(peak).toBe(8);
  });

  it('a failure is thrown in its turn; no call starts after it; calls in flight settle first', async () => {
    const started: number[] = [];
    let settled = 0;
    const fn = async (i: number) => {
      started.push(i);
      try {
        await sleep(i === 5 ? 1 : 10);
        if (i === 5) throw new Error('item 5 failed');
        return i;
      } finally {
        settled++;
      }
    };
    const out: number[] = [];
    await expect(
      (async () => {
        for await (const r of mapOrdered(Array.from({ length: 100 }, (_, i) => i), 4, fn)) out.push(r);
      })(),
    ).rejects.toThrow('item 5 failed');
    expect(out).toEqual([0, 1, 2, 3, 4]);
    expect(Math.max(...started)).toBeLessThan(5 + 4);
    expect(settled).toBe(started.length);
  });

  it('a consumer that stops early leaves no call running', async () => {
    let running = 0;
    const fn = async (i: number) => {
      running++;
      await sleep(5);
      running--;
      return i;
    };
    for await (const r of mapOrdered([1, 2, 3, 4, 5, 6, 7, 8], 4, fn)) if (r === 2) break;
    expect(running).toBe(0);
  });

  it('an empty input yields nothing', async () => {
    const out: unknown[] = [];
    for await (const r of mapOrdered([], 4, async (x) => x)) out.push(r);
    expect(out).toEqual([]);
  });
});

describe('mapOrdered with a weight bound', () => {
  it('starts a call only while the others in flight weigh less than the bound (one at least)', async () => {
    let load = 0;
    let peakLoad = 0;
    let peakCount = 0;
    let count = 0;
    const sizes = [5, 5, 5, 20, 1, 1, 1, 1, 1, 1, 9, 2];
    const fn = async (i: number) => {
      load += sizes[i]!;
      count++;
      peakLoad = Math.max(peakLoad, load);
      peakCount = Math.max(peakCount, count);
      await sleep(3);
      load -= sizes[i]!;
      count--;
      return i;
    };
    const out: number[] = [];
    for await (const r of mapOrdered(sizes.map((_, i) => i), 4, fn, { of: (i) => sizes[i]!, max: 10 })) out.push(r);
    expect(out).toEqual(sizes.map((_, i) => i));
    // 20 alone exceeds the bound: it runs by itself; otherwise at most 10 in flight, at most 4 calls.
    expect(peakLoad).toBe(20);
    expect(peakCount).toBe(4);
  });
});
