// A file already at the name a message is created under in tmp/ (O_EXCL): said as that, not as
// "not a directory" (what EEXIST means where a directory is made). strace cannot single out the
// file (its name is made at random), so the create is made to fail here.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

const failing = vi.hoisted(() => ({ on: false }));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const open = ((path: string, flags: number, mode: number, cb: (err: NodeJS.ErrnoException | null, fd?: number) => void) => {
    if (failing.on && typeof flags === 'number' && flags & real.constants.O_EXCL && basename(dirname(String(path))) === 'tmp') {
      cb(Object.assign(new Error(`EEXIST: file already exists, open '${path}'`), { code: 'EEXIST', errno: -17, syscall: 'open' }));
      return;
    }
    (real.open as (...a: unknown[]) => void)(path, flags, mode, cb);
  }) as typeof real.open;
  return { ...real, open, default: { ...real, open } };
});

const { MaildirSink } = await import('../../src/drivers/maildir/sink.js');

describe('a file already at the tmp/ name of a message', () => {
  it('fails the store as a file that exists, naming it', async () => {
    const root = join(mkdtempSync(join(tmpdir(), 'mf-tmpexists-')), 'dest');
    const sink = await MaildirSink.open(root);
    const w = await sink.writer();
    failing.on = true;
    const err = await w.put('INBOX', Buffer.from('Message-ID: <x@y>\n\nbody\n'), { flags: [] } as never).catch((e: unknown) => e);
    failing.on = false;
    expect(err).toMatchObject({ code: 'DEST_IO' });
    expect((err as Error).message).toMatch(new RegExp(`^${join(root, 'tmp')}/[^/]+ exists already: not overwritten$`));
  });
});
