/**
 * A set of non-negative integers kept as sorted, disjoint runs [lo, hi]: the UIDs a checkpoint has
 * done are mostly consecutive, so a folder of 60,000 done messages is a few runs, not 60,000
 * entries of a Set (~40 bytes each, for the whole run). Runs are found by binary search; a number
 * added past the last run (the usual case: UIDs complete roughly in order) is O(log n) plus a push.
 * Iterates in ascending order.
 */
export class NumberRanges implements Iterable<number> {
  private lo: number[] = [];
  private hi: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  get runCount(): number {
    return this.lo.length;
  }

  /** The index of the last run starting at or below `n`, or -1. */
  private runAt(n: number): number {
    const lo = this.lo;
    let a = 0;
    let b = lo.length - 1;
    if (b < 0 || n < lo[0]!) return -1;
    if (n >= lo[b]!) return b;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (lo[m]! <= n) a = m;
      else b = m - 1;
    }
    return a;
  }

  has(n: number): boolean {
    const i = this.runAt(n);
    return i >= 0 && n <= this.hi[i]!;
  }

  /** Adds `n`; false if it was there. */
  add(n: number): boolean {
    const { lo, hi } = this;
    const i = this.runAt(n);
    if (i >= 0 && n <= hi[i]!) return false;
    const joinsBefore = i >= 0 && hi[i] === n - 1;
    const joinsAfter = i + 1 < lo.length && lo[i + 1] === n + 1;
    if (joinsBefore && joinsAfter) {
      hi[i] = hi[i + 1]!;
      lo.splice(i + 1, 1);
      hi.splice(i + 1, 1);
    } else if (joinsBefore) hi[i] = n;
    else if (joinsAfter) lo[i + 1] = n;
    else if (i + 1 === lo.length) {
      lo.push(n);
      hi.push(n);
    } else {
      lo.splice(i + 1, 0, n);
      hi.splice(i + 1, 0, n);
    }
    this.count++;
    return true;
  }

  /** Removes `n`; false if it was not there. */
  delete(n: number): boolean {
    const { lo, hi } = this;
    const i = this.runAt(n);
    if (i < 0 || n > hi[i]!) return false;
    if (lo[i] === hi[i]) {
      lo.splice(i, 1);
      hi.splice(i, 1);
    } else if (n === lo[i]) lo[i] = n + 1;
    else if (n === hi[i]) hi[i] = n - 1;
    else {
      lo.splice(i + 1, 0, n + 1);
      hi.splice(i + 1, 0, hi[i]!);
      hi[i] = n - 1;
    }
    this.count--;
    return true;
  }

  /**
   * Adds every number from `a` to `b` (a ≤ b), merged with the runs it touches: work by runs, not
   * by numbers (a run past the last one, as a checkpoint replays them, is one push).
   */
  addRange(a: number, b: number): void {
    const { lo, hi } = this;
    // Runs first..last touch [a, b] (overlap it or are next to it).
    let first = lo.length;
    for (let x = 0, y = lo.length; x < y; ) {
      const m = (x + y) >>> 1;
      if (hi[m]! >= a - 1) y = first = m;
      else x = m + 1;
    }
    const last = this.runAt(b + 1);
    if (first > last) {
      lo.splice(first, 0, a);
      hi.splice(first, 0, b);
      this.count += b - a + 1;
      return;
    }
    let had = 0;
    for (let i = first; i <= last; i++) had += hi[i]! - lo[i]! + 1;
    const from = Math.min(a, lo[first]!);
    const to = Math.max(b, hi[last]!);
    lo.splice(first, last - first + 1, from);
    hi.splice(first, last - first + 1, to);
    this.count += to - from + 1 - had;
  }

  /** The runs [lo, hi], in ascending order, as they are when iteration starts. */
  *runs(): IterableIterator<[number, number]> {
    const lo = this.lo.slice();
    const hi = this.hi.slice();
    for (let i = 0; i < lo.length; i++) yield [lo[i]!, hi[i]!];
  }

  /** The largest number, or 0 when empty. */
  max(): number {
    return this.hi.length > 0 ? this.hi[this.hi.length - 1]! : 0;
  }

  clear(): void {
    this.lo = [];
    this.hi = [];
    this.count = 0;
  }

  /** The numbers as they are when iteration starts (changes made meanwhile are not seen). */
  *[Symbol.iterator](): IterableIterator<number> {
    const lo = this.lo.slice();
    const hi = this.hi.slice();
    for (let i = 0; i < lo.length; i++) for (let n = lo[i]!; n <= hi[i]!; n++) yield n;
  }
}
