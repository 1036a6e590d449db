import { NumberRanges } from './number-ranges.js';

/**
 * A set of source message keys that stores the keys written as plain decimal numbers (IMAP UIDs)
 * as runs of numbers (number-ranges.ts): a checkpoint holds a key per message done for the whole
 * run, and the UIDs done in a folder are mostly consecutive, so they take a few runs, not a
 * string or a Set entry each. Other keys (POP3 UIDLs, Maildir names) are kept as strings. Reads
 * back exactly the strings that were added (numbers in ascending order, then the strings).
 */
export class KeySet implements ReadonlySet<string> {
  private readonly nums = new NumberRanges();
  private readonly strs = new Set<string>();

  /** The key as a number when String(number) gives it back exactly (and it fits a small integer): how it is kept. */
  static num(key: string): number | undefined {
    const n = key.length > 0 && key.length <= 9 && /^(?:0|[1-9]\d*)$/.test(key) ? Number(key) : NaN;
    return Number.isNaN(n) ? undefined : n;
  }

  get size(): number {
    return this.nums.size + this.strs.size;
  }

  has(key: string): boolean {
    const n = KeySet.num(key);
    return n === undefined ? this.strs.has(key) : this.nums.has(n);
  }

  add(key: string): this {
    const n = KeySet.num(key);
    if (n === undefined) this.strs.add(key);
    else this.nums.add(n);
    return this;
  }

  delete(key: string): boolean {
    const n = KeySet.num(key);
    return n === undefined ? this.strs.delete(key) : this.nums.delete(n);
  }

  /** Adds the keys that are the numbers `a` to `b` (a ≤ b, each of at most nine digits, as `num` keeps them). */
  addRun(a: number, b: number): void {
    this.nums.addRange(a, b);
  }

  /** The keys that are numbers, as runs [lo, hi] in ascending order. */
  numberRuns(): IterableIterator<[number, number]> {
    return this.nums.runs();
  }

  /** How many of the keys are numbers, and in how many runs. */
  numberCount(): number {
    return this.nums.size;
  }

  numberRunCount(): number {
    return this.nums.runCount;
  }

  /** The keys that are not numbers. */
  strings(): IterableIterator<string> {
    return this.strs.values();
  }

  /** The largest key that is a number (a UID), or 0 when none is. */
  highestNumber(): number {
    return this.nums.max();
  }

  clear(): void {
    this.nums.clear();
    this.strs.clear();
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (const n of this.nums) yield String(n);
    yield* this.strs;
  }

  keys(): IterableIterator<string> {
    return this[Symbol.iterator]();
  }

  values(): IterableIterator<string> {
    return this[Symbol.iterator]();
  }

  *entries(): IterableIterator<[string, string]> {
    for (const k of this) yield [k, k];
  }

  forEach(fn: (value: string, key: string, set: ReadonlySet<string>) => void, thisArg?: unknown): void {
    for (const k of this) fn.call(thisArg, k, k, this);
  }
}
