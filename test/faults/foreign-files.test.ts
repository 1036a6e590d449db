// A Maildir destination may be a directory that already holds other things (maildir:$HOME, say):
// mailferry adds its Maildir there and touches nothing else. Its tmp/ cleanup once removed any file
// idle for 36 hours (the Maildir convention), which in $HOME/tmp is a person's files. Real CLI,
// Maildir to Maildir, with the clock moved 40 hours on (a --require hook) so every file is "old".
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { fakeMessage, sandbox } from './helpers.js';

describe("a destination directory's own files", () => {
  it("files in its tmp/ that are not a killed run's leftovers stay, however old; a dead run's leftover goes", async () => {
    const box = sandbox('mf-foreign-');
    const src = join(box, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'cur', '1.a.host:2,S'), 'Message-ID: <f1@foreign>\n\nbody\n');
    const home = join(box, 'home');
    mkdirSync(join(home, 'tmp'), { recursive: true });
    mkdirSync(join(home, '.config', 'tmp'), { recursive: true });
    writeFileSync(join(home, 'tmp', 'thesis-draft.txt'), 'years of work');
    writeFileSync(join(home, '.config', 'tmp', 'state'), 'settings');
    // What a killed mailferry left: its name form, this host, a process that is gone.
    const { hostname } = await import('node:os');
    const leftover = `1700000000.M1P999999Q1Rdeadbeef.${hostname()}`;
    writeFileSync(join(home, 'tmp', leftover), 'half a message');
    const later = join(box, 'later.cjs');
    writeFileSync(later, 'const now = Date.now; Date.now = () => now() + 40 * 3600 * 1000;\n');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${home}`, '--checkpoint', join(box, 'cp'), '--json'], { env: { NODE_OPTIONS: `--require ${later}` } });
    expect(envelope(r).status, r.stderr).toBe(0);
    expect(existsSync(join(home, 'tmp', 'thesis-draft.txt'))).toBe(true);
    expect(existsSync(join(home, '.config', 'tmp', 'state'))).toBe(true);
    expect(existsSync(join(home, 'tmp', leftover))).toBe(false);
    expect(readdirSync(join(home, 'cur'))).toHaveLength(1);
  });

  it('maildir:/ is refused as a destination (exit 3), nothing made there', async () => {
    const box = sandbox('mf-foreign-');
    const srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }] });
    const before = readdirSync('/').sort();
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, 'maildir:/', '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } }).finally(() => srv.stop());
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(3);
    expect(out.error?.message).toMatch(/maildir:\/ is the root of the file system/);
    expect(readdirSync('/').sort()).toEqual(before);
  });
});

const openAndClose = (path: string) => (closeSync(openSync(path, 'w')), path);

describe('a destination file far larger than any message copied (a sparse file, a gzip bomb), without a Message-ID', () => {
  it('is not read whole to identify it: copy, verify and the dry run go on in bounded memory (exit 0, no crash)', async () => {
    const box = sandbox('mf-huge-');
    const src = join(box, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    writeFileSync(join(src, 'cur', '1.a.host:2,S'), 'Subject: no id\n\nbody\n');
    const dest = join(box, 'dest');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(dest, d), { recursive: true });
    // 3 GiB that take no room, and 300 MB of zeros gzipped to ~300 KB: both over 256M.
    truncateSync(openAndClose(join(dest, 'cur', '1.sparse.host:2,S')), 3 * 1024 ** 3);
    writeFileSync(join(dest, 'cur', '2.bomb.host:2,S'), gzipSync(Buffer.alloc(300 * 1024 * 1024), { level: 1 }));
    const rss = (r: { stderr: string }) => Number(/maxrss=(\d+)/.exec(r.stderr)?.[1] ?? 0);
    const wrap = ['/usr/bin/time', '-f', 'maxrss=%M'];
    for (const args of [
      ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json', '--dry-run'],
      ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'],
      ['verify', `maildir:${src}`, `maildir:${dest}`, '--json'],
    ]) {
      const r = await runCli(args, { wrap });
      const out = envelope(r);
      expect(out.status, `${args[0]} ${args.at(-1)}: ${r.stderr.slice(-800)}`).toBe(0);
      // Far below the 300 MB the bomb would inflate to (a run alone peaks near 100 MB).
      expect(rss(r), args.join(' ')).toBeLessThan(250_000);
    }
  });
});
