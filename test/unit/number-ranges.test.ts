// NumberRanges (the UIDs a checkpoint has done, as runs) answers as a Set of the same numbers would,
// through runs joined, split, grown at either end and emptied.
import { describe, expect, it } from 'vitest';
import { NumberRanges } from '../../src/checkpoint/number-ranges.js';

/** A small deterministic generator, so that a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x * 1664525 + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function same(r: NumberRanges, ref: Set<number>): void {
  expect(r.size).toBe(ref.size);
  expect([...r]).toEqual([...ref].sort((a, b) => a - b));
  expect(r.max()).toBe(ref.size ? Math.max(...ref) : 0);
}

describe('NumberRanges', () => {
  it('joins runs, splits them, and grows them at either end', () => {
    const r = new NumberRanges();
    for (const n of [5, 7, 6, 1, 3, 2, 10]) expect(r.add(n)).toBe(true);
    expect(r.add(6)).toBe(false);
    expect([...r]).toEqual([1, 2, 3, 5, 6, 7, 10]);
    expect(r.delete(6)).toBe(true); // splits 5–7
    expect(r.delete(6)).toBe(false);
    expect(r.delete(1)).toBe(true); // the low end
    expect(r.delete(10)).toBe(true); // a run of one
    expect(r.delete(4)).toBe(false);
    expect([...r]).toEqual([2, 3, 5, 7]);
    expect(r.add(4)).toBe(true); // joins 2–3 and 5
    expect(r.add(6)).toBe(true); // joins 2–5 and 7
    expect([...r]).toEqual([2, 3, 4, 5, 6, 7]);
    expect(r.has(1)).toBe(false);
    expect(r.has(2)).toBe(true);
    expect(r.has(7)).toBe(true);
    expect(r.has(8)).toBe(false);
    r.clear();
    same(r, new Set());
  });

  it('answers as a Set through random adds and deletes, dense and sparse', () => {
    for (const [seed, span] of [[1, 50], [2, 500], [3, 5000], [4, 40]] as const) {
      const next = rng(seed);
      const r = new NumberRanges();
      const ref = new Set<number>();
      for (let step = 0; step < 4000; step++) {
        const n = Math.floor(next() * span);
        if (next() < 0.7) expect(r.add(n), `add ${n}`).toBe(!ref.has(n) && !!ref.add(n));
        else expect(r.delete(n), `delete ${n}`).toBe(ref.delete(n));
        const probe = Math.floor(next() * (span + 2)) - 1;
        expect(r.has(probe), `has ${probe}`).toBe(ref.has(probe));
        if (step % 500 === 0) same(r, ref);
      }
      same(r, ref);
    }
  });

  it('keeps a folder done in order as one run', () => {
    const r = new NumberRanges();
    for (let uid = 1; uid <= 60_000; uid++) r.add(uid);
    expect(r.size).toBe(60_000);
    expect(r.max()).toBe(60_000);
    expect((r as unknown as { lo: number[] }).lo).toEqual([1]);
  });

  it('adds whole runs (a checkpoint replaying its runs), past the last one or over runs it has, and gives its runs back', () => {
    for (const seed of [5, 6, 7]) {
      const next = rng(seed);
      const r = new NumberRanges();
      const ref = new Set<number>();
      let top = 0;
      for (let step = 0; step < 300; step++) {
        // Mostly past the last run (joining it or not), sometimes over what is there.
        const a = next() < 0.8 ? top + Math.floor(next() * 3) : Math.floor(next() * (top + 1));
        const b = a + Math.floor(next() * 20);
        r.addRange(a, b);
        for (let n = a; n <= b; n++) ref.add(n);
        top = Math.max(top, b + 1);
        if (next() < 0.2) {
          const d = Math.floor(next() * top);
          expect(r.delete(d)).toBe(ref.delete(d));
        }
      }
      // One range over many runs and the gaps between them.
      const mid = Math.floor(top / 2);
      r.addRange(mid - 50, mid + 50);
      for (let n = mid - 50; n <= mid + 50; n++) ref.add(n);
      same(r, ref);
      // The runs are maximal, ascending and disjoint, and hold exactly the numbers.
      const runs = [...r.runs()];
      const fromRuns: number[] = [];
      for (const [i, [lo, hi]] of runs.entries()) {
        expect(lo).toBeLessThanOrEqual(hi);
        if (i > 0) expect(lo).toBeGreaterThan(runs[i - 1]![1] + 1);
        for (let n = lo; n <= hi; n++) fromRuns.push(n);
      }
      expect(fromRuns).toEqual([...ref].sort((x, y) => x - y));
    }
  });

  it('adds a range of a billion numbers over runs it has as one run, without counting through it', () => {
    const r = new NumberRanges();
    for (const n of [3, 5, 7, 2_000_000]) r.add(n);
    r.addRange(0, 999_999_999);
    expect([...r.runs()]).toEqual([[0, 999_999_999]]);
    expect(r.size).toBe(1_000_000_000);
    r.addRange(1_000_000_000, 1_000_000_000);
    expect([...r.runs()]).toEqual([[0, 1_000_000_000]]);
  });

  it('iterates the numbers as they were when it began', () => {
    const r = new NumberRanges();
    for (const n of [1, 2, 3, 7]) r.add(n);
    const seen: number[] = [];
    for (const n of r) {
      seen.push(n);
      r.delete(n);
      r.add(n + 100);
    }
    expect(seen).toEqual([1, 2, 3, 7]);
    expect([...r]).toEqual([101, 102, 103, 107]);
  });
});
