// What a Maildir source keeps of each file it lists, for the whole copy (to read the file by its
// key later): its directory, name and key, in the few hundred bytes those take. Each file's record
// was made by an object spread with a property added after it (`{ ...file, key }`), and Node 20's
// V8 gives every object made so a hidden class of its own: ~200 bytes more per file, 12 MB of
// heap held through a copy of 60,000 messages.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { MaildirSource } from '../../src/drivers/maildir/source.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const N = 30_000;
const work = mkdtempSync(join(tmpdir(), 'mf-listmem-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a Maildir listing', () => {
  it(`keeps under 250 bytes of heap per file listed (${N} files, names of 40 characters)`, async () => {
    const root = join(work, 'Maildir');
    const body = Buffer.from('Subject: x\n\nx\n');
    // 1700000000.M123456P1.listmem,S=14:2,S — 40 characters, as a Maildir's names go.
    const fill = (dir: string, n: number) => {
      for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
      for (let i = 0; i < n; i++) writeFileSync(join(dir, 'cur', `1700000000.M${String(i).padStart(6, '0')}P1.listmem,S=${body.length}:2,S`), body);
    };
    fill(root, N);
    fill(join(root, '.Warm'), 3000);
    const source = await MaildirSource.open(root);
    try {
      await source.listMailboxes();
      // Another folder first, large enough that what a listing loads for good (code, optimized code,
      // caches) is loaded before the one measured.
      for await (const _ of source.list('.Warm')) void _;
      gc();
      const before = process.memoryUsage().heapUsed;
      let listed = 0;
      for await (const _ of source.list('INBOX')) listed++;
      gc();
      const perFile = (process.memoryUsage().heapUsed - before) / N;
      expect(listed).toBe(N);
      expect(perFile).toBeLessThan(250);
      // Not trivially: the folder's files are held (by key), to be read later.
      expect(perFile).toBeGreaterThan(50);
    } finally {
      await source.close();
    }
  });
});
