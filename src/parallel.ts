/**
 * `fn` over `items` with up to `limit` calls in flight, results yielded in the order of the items:
 * per-file work (a stat, a header read) overlaps in the thread pool instead of waiting one file at
 * a time, and only `limit` results are held ahead of the consumer. A failure is thrown in its
 * turn; no call starts after it, and the calls in flight are settled before the generator ends.
 */
export async function* mapOrdered<T, R>(
  items: Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
  /** Also bound what is in flight by weight (bytes, say): a call starts when the others weigh less than `max`. */
  weight?: { of: (item: T) => number; max: number },
): AsyncGenerator<R> {
  const it = items[Symbol.iterator]();
  const window: Array<{ p: Promise<R>; w: number }> = [];
  let load = 0;
  let ahead: IteratorResult<T> | undefined;
  const fill = () => {
    while (window.length < limit) {
      const next = ahead ?? it.next();
      ahead = undefined;
      if (next.done) return;
      const w = weight ? weight.of(next.value) : 0;
      if (weight && window.length > 0 && load + w > weight.max) {
        ahead = next;
        return;
      }
      const p = fn(next.value);
      p.catch(() => {}); // awaited in its turn; not an unhandled rejection while it waits
      window.push({ p, w });
      load += w;
    }
  };
  try {
    fill();
    while (window.length > 0) {
      const head = window.shift()!;
      const result = await head.p;
      load -= head.w;
      fill();
      yield result;
    }
  } finally {
    await Promise.allSettled(window.map((x) => x.p));
  }
}
