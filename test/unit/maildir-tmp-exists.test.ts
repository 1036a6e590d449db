// A file already at the name a message is created under in tmp/ (O_EXCL): said as that, not as
// "not a directory" (what EEXIST means where a directory is made), and left as it was. The name is
// made at random, so the test fixes it (uniqueBase) and puts a real file there first; messages up
// to 1 MiB are made by the file thread, larger ones from the main thread: both are tried.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const fixed = vi.hoisted(() => ({ name: '' }));

vi.mock('../../src/drivers/maildir/unique.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/drivers/maildir/unique.js')>();
  return { ...real, uniqueBase: () => fixed.name || real.uniqueBase() };
});

const { MaildirSink } = await import('../../src/drivers/maildir/sink.js');

describe('a file already at the tmp/ name of a message', () => {
  const sinks: Awaited<ReturnType<typeof MaildirSink.open>>[] = [];
  afterAll(async () => {
    for (const s of sinks) await s.close();
  });

  for (const [what, size] of [['a small message (file thread)', 100], ['a message over 1 MiB', 1.5 * 2 ** 20]] as const) {
    it(`fails the store of ${what} as a file that exists, naming it, and leaves the file`, async () => {
      const root = join(mkdtempSync(join(tmpdir(), 'mf-tmpexists-')), 'dest');
      const sink = await MaildirSink.open(root);
      sinks.push(sink);
      const w = await sink.writer();
      // The folder made by a first message, then a file of another program's at the next name.
      await w.put('INBOX', Buffer.from('Message-ID: <a@y>\n\nfirst\n'), { flags: [] });
      mkdirSync(join(root, 'tmp'), { recursive: true });
      fixed.name = `planted-${size}`;
      writeFileSync(join(root, 'tmp', fixed.name), 'not ours\n');
      const body = Buffer.concat([Buffer.from('Message-ID: <x@y>\n\n'), Buffer.alloc(size, 'b')]);
      const err = await w.put('INBOX', body, { flags: [] }).catch((e: unknown) => e);
      fixed.name = '';
      expect(err).toMatchObject({ code: 'DEST_IO' });
      expect((err as Error).message).toBe(`${join(root, 'tmp', `planted-${size}`)} exists already: not overwritten`);
      expect(readFileSync(join(root, 'tmp', `planted-${size}`), 'utf8')).toBe('not ours\n');
      expect(readdirSync(join(root, 'cur'))).toHaveLength(1);
      await w.close();
    });
  }
});
