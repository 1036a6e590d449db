// The Maildir sink's file thread (src/drivers/maildir/file-thread.ts) on a real file system: bodies
// come out byte for byte whatever their size and order, including those that wrap around the shared
// ring or do not fit in it (copied instead); each failing call is said as its step, and what was
// there before is left alone.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileJobError, FileThread } from '../../src/drivers/maildir/file-thread.js';

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mf-filethread-'));
  mkdirSync(join(dir, 'tmp'));
  mkdirSync(join(dir, 'cur'));
  return dir;
}

/** Deterministic bytes of `len`, different for each `seed`. */
function bytes(len: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < len; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

describe('FileThread', () => {
  const threads: FileThread[] = [];
  const thread = (): FileThread => {
    const t = new FileThread();
    threads.push(t);
    return t;
  };
  afterAll(async () => {
    for (const t of threads) await t.close();
  });

  it('writes every file byte for byte, 0600, with its mtime, however the bodies sit in the ring', async () => {
    const dir = folder();
    const t = thread();
    // Small and large bodies mixed: the 1 MiB ring wraps many times, bodies of 300–900 KiB often
    // find too little of it free while others are in flight and go over as copies, and one is empty.
    const sizes = [0, ...Array.from({ length: 400 }, (_, i) => (i % 37 === 0 ? 300_000 + ((i * 7919) % 600_000) : 1 + ((i * 104729) % 20_000)))];
    const mtime = 1_000_000_000.5;
    const puts: Promise<void>[] = [];
    for (const [i, len] of sizes.entries()) {
      puts.push(t.run({ tmp: join(dir, 'tmp', `m${i}`), final: join(dir, 'cur', `m${i}:2,S`), body: bytes(len, i), mtime }));
      // Some in one turn of the event loop, some across turns.
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(puts);
    expect(t.counts.ring).toBeGreaterThan(0);
    expect(t.counts.copied).toBeGreaterThan(0);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(readdirSync(join(dir, 'cur'))).toHaveLength(sizes.length);
    for (const [i, len] of sizes.entries()) {
      const path = join(dir, 'cur', `m${i}:2,S`);
      expect(readFileSync(path).equals(bytes(len, i)), `file ${i} (${len} bytes)`).toBe(true);
      const st = statSync(path);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.mtimeMs).toBe(mtime * 1000);
    }
  });

  it('places a body at the start of the ring again once the bodies before it are written', async () => {
    const dir = folder();
    const t = thread();
    // One at a time, 300,000 bytes each: the fourth does not fit before the end of the 1 MiB ring.
    for (let i = 0; i < 10; i++) await t.run({ tmp: join(dir, 'tmp', `w${i}`), final: join(dir, 'cur', `w${i}:2,`), body: bytes(300_000, 100 + i) });
    expect(t.counts).toEqual({ ring: 10, wrapped: 3, copied: 0 });
    for (let i = 0; i < 10; i++) expect(readFileSync(join(dir, 'cur', `w${i}:2,`)).equals(bytes(300_000, 100 + i))).toBe(true);
  });

  it('says a file already at the tmp/ name as the create failing, and leaves that file', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'tmp', 'taken'), 'not ours');
    const err = await thread()
      .run({ tmp: join(dir, 'tmp', 'taken'), final: join(dir, 'cur', 'taken:2,'), body: Buffer.from('x') })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileJobError);
    expect(err).toMatchObject({ code: 'EEXIST', step: 'create' });
    expect(readFileSync(join(dir, 'tmp', 'taken'), 'utf8')).toBe('not ours');
  });

  it('says a rename that fails as its step, and removes the file it made', async () => {
    const dir = folder();
    const t = thread();
    const err = await t
      .run({ tmp: join(dir, 'tmp', 'm'), final: join(dir, 'gone', 'm:2,'), body: Buffer.from('body') })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENOENT', step: 'rename' });
    expect(existsSync(join(dir, 'tmp', 'm'))).toBe(false);
    // The thread goes on with the next.
    await t.run({ tmp: join(dir, 'tmp', 'n'), final: join(dir, 'cur', 'n:2,'), body: Buffer.from('next') });
    expect(readFileSync(join(dir, 'cur', 'n:2,'), 'utf8')).toBe('next');
  });

  it('starts again after close', async () => {
    const dir = folder();
    const t = thread();
    await t.run({ tmp: join(dir, 'tmp', 'a'), final: join(dir, 'cur', 'a:2,'), body: Buffer.from('a') });
    await t.close();
    await t.run({ tmp: join(dir, 'tmp', 'b'), final: join(dir, 'cur', 'b:2,'), body: Buffer.from('b') });
    expect(readdirSync(join(dir, 'cur')).sort()).toEqual(['a:2,', 'b:2,']);
  });
});
