// The pool of worker connections: warm() opens members ahead of need without opening more than
// asked, acquire() takes a member on its way instead of opening another, a failed warm-up is
// left to the acquire() that needs the member, and closeAll() closes members still opening.
import { describe, expect, it } from 'vitest';
import { Pool } from '../../src/engine/pool.js';

interface Conn {
  id: number;
  closed: boolean;
}

function counted(opts: { failFirst?: number; delayMs?: number } = {}) {
  let made = 0;
  let attempts = 0;
  const disposed: number[] = [];
  const pool = new Pool<Conn>(
    async () => {
      attempts++;
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 5));
      if (attempts <= (opts.failFirst ?? 0)) throw new Error(`login ${attempts} refused`);
      return { id: ++made, closed: false };
    },
    async (c) => {
      c.closed = true;
      disposed.push(c.id);
    },
  );
  return { pool, made: () => made, attempts: () => attempts, disposed };
}

describe('Pool', () => {
  it('warm(n) opens up to n members side by side, and acquire takes them', async () => {
    const { pool, made, attempts } = counted();
    pool.warm(3);
    pool.warm(3); // already on their way: nothing more
    expect(attempts()).toBe(3);
    expect(pool.size).toBe(3);
    const got = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()]);
    expect(new Set(got.map((c) => c.id))).toEqual(new Set([1, 2, 3]));
    expect(made()).toBe(3);
    // A fourth is opened on demand.
    const fourth = await pool.acquire();
    expect(fourth.id).toBe(4);
    for (const c of [...got, fourth]) pool.release(c);
    pool.warm(2); // four exist: nothing opened
    expect(attempts()).toBe(4);
    await pool.closeAll();
  });

  it('an idle member is taken before one still opening', async () => {
    const { pool } = counted({ delayMs: 50 });
    const first = await pool.acquire();
    pool.release(first);
    pool.warm(2);
    expect(await pool.acquire()).toBe(first);
    await pool.closeAll();
  });

  it('a warm-up that fails is dropped quietly; acquire opens a member itself and reports its failure', async () => {
    const { pool, attempts } = counted({ failFirst: 2 });
    pool.warm(1);
    await expect(pool.acquire()).rejects.toThrow('login 2 refused');
    expect(attempts()).toBe(2);
    const c = await pool.acquire();
    expect(c.id).toBe(1);
    await pool.closeAll();
  });

  it('closeAll closes members that were still opening, and warm() after it opens nothing', async () => {
    const { pool, disposed, attempts } = counted({ delayMs: 30 });
    pool.warm(2);
    await pool.closeAll();
    expect(disposed.sort()).toEqual([1, 2]);
    pool.warm(2);
    expect(attempts()).toBe(2);
    expect(pool.size).toBe(0);
  });
});
