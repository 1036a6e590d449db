// File system errors where the disk gives them (a full disk, a failing disk, a quota, a file that
// may not be changed), injected into the real CLI with strace: each ends the run with one line
// naming what failed and its documented exit code, never an "internal error" or a stack trace.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli, type CliResult } from '../harness/cli.js';
import { sandbox } from './helpers.js';

/**
 * Runs the CLI under strace, `syscall` failing with `errno` the `when`-th time it is made on
 * `path` (a path, or a file descriptor open on it); no `path`: any call of it.
 */
function injected(args: string[], syscall: string, errno: string, opts: { path?: string; when?: number } = {}): Promise<CliResult> {
  const wrap = ['strace', '-qq', '-f', '-o', '/dev/null', ...(opts.path ? ['-P', opts.path] : []), '-e', `trace=${syscall}`, '-e', `inject=${syscall}:error=${errno}:when=${opts.when ?? 1}`];
  return runCli(args, { wrap });
}

/** A source Maildir with `n` messages in folder `.Work`. */
function sourceWithWork(box: string, n = 1): string {
  const src = join(box, 'src');
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, '.Work', d), { recursive: true });
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(src, '.Work', 'cur', `${1000 + i}.m${i}.host:2,S`), `Message-ID: <m${i}@inject.example>\nSubject: ${i}\n\nbody ${i}\n`);
  return src;
}

function expectOneLine(r: CliResult, status: number, code: string): { message: string; hint?: string } {
  const out = envelope(r);
  expect(out.status, JSON.stringify(out.error) + r.stderr).toBe(status);
  expect(out.error?.code).toBe(code);
  expect(out.error?.message).not.toMatch(/internal error|this is a bug/);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return out.error!;
}

describe('a Maildir destination whose directory fsync fails', () => {
  for (const errno of ['ENOSPC', 'EIO']) {
    it(`${errno} on the fsync of the folder's cur/: exit 3 naming it; the rerun copies it, once`, async () => {
      const box = sandbox('mf-dirsync-');
      const src = sourceWithWork(box, 3);
      const dest = join(box, 'dest');
      const args = ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'];
      const r = await injected(args, 'fsync', errno, { path: join(dest, '.Work', 'cur') });
      const err = expectOneLine(r, 3, 'DEST_IO');
      expect(err.message).toContain(join(dest, '.Work', 'cur'));
      if (errno === 'ENOSPC') expect(err.message).toMatch(/^no space left writing /);
      const again = envelope(await runCli(args));
      expect(again.status, JSON.stringify(again.error)).toBe(0);
      const show = envelope(await runCli(['verify', `maildir:${src}`, `maildir:${dest}`, '--json']));
      expect(show.status, JSON.stringify(show.error)).toBe(0);
    });
  }
});

describe('an existing checkpoint that cannot be opened for writing', () => {
  const cases: { what: string; syscall: string; errno: string; when: number }[] = [
    // Its opens in a rerun: read (the replay), read-write (to cut a torn last line away), append.
    { what: 'EROFS on its reopen for writing', syscall: 'openat', errno: 'EROFS', when: 2 },
    { what: 'EPERM on its reopen for writing (chattr +i)', syscall: 'openat', errno: 'EPERM', when: 2 },
    { what: 'EIO on its open for appending', syscall: 'openat', errno: 'EIO', when: 3 },
    { what: 'EIO on cutting its torn tail', syscall: 'ftruncate', errno: 'EIO', when: 1 },
    { what: 'EROFS on cutting its torn tail', syscall: 'ftruncate', errno: 'EROFS', when: 1 },
  ];
  for (const c of cases) {
    it(`${c.what}: exit 3 naming the checkpoint, as --restart on it gives`, async () => {
      const box = sandbox('mf-cpreopen-');
      const src = sourceWithWork(box);
      const cp = join(box, 'cp.j');
      const args = ['copy', `maildir:${src}`, `maildir:${join(box, 'dest')}`, '--checkpoint', cp, '--json'];
      expect(envelope(await runCli(args)).status).toBe(0);
      const r = await injected(args, c.syscall, c.errno, { path: cp, when: c.when });
      const err = expectOneLine(r, 3, 'CHECKPOINT_IO');
      expect(err.message).toMatch(new RegExp(`^cannot write checkpoint ${cp}: `));
      // Nothing was lost: the rerun goes on from the checkpoint as it was.
      const again = envelope(await runCli(args));
      expect(again.status, JSON.stringify(again.error)).toBe(0);
      expect(again.result).toMatchObject({ copied: 0 });
    });
  }
});

describe('checkpoint reset of a checkpoint it cannot delete', () => {
  for (const errno of ['EPERM', 'EACCES', 'EROFS']) {
    it(`${errno} on its unlink: exit 3 naming it, the checkpoint kept and its lock let go`, async () => {
      const box = sandbox('mf-cpreset-');
      const src = sourceWithWork(box);
      const cp = join(box, 'cp.j');
      const args = ['copy', `maildir:${src}`, `maildir:${join(box, 'dest')}`, '--checkpoint', cp, '--json'];
      expect(envelope(await runCli(args)).status).toBe(0);
      const r = await injected(['checkpoint', 'reset', cp, '--json'], 'unlink,unlinkat', errno, { path: cp });
      const err = expectOneLine(r, 3, 'CHECKPOINT_IO');
      expect(err.message).toMatch(new RegExp(`^cannot delete checkpoint ${cp}: `));
      // Kept as it was: the next copy goes on from it; reset works once it can.
      const again = envelope(await runCli(args));
      expect(again.status, JSON.stringify(again.error)).toBe(0);
      expect(again.result).toMatchObject({ copied: 0 });
      expect(envelope(await runCli(['checkpoint', 'reset', cp, '--json'])).status).toBe(0);
    });
  }
});

// Node 20 has no name for EDQUOT (errno -122 on Linux: "Unknown system error -122", or "UNKNOWN").
describe('a disk quota reached', () => {
  // The Maildir sink's errors all go through one mapping; the fsync of a folder's cur/ is the one
  // strace can single out (a message's file has a name made at random, and strace counts calls
  // per thread, so the checkpoint's own fsync at the end would fail too).
  it('on an fsync in a Maildir destination: exit 3, said as a disk quota', async () => {
    const box = sandbox('mf-quota-msg-');
    const src = sourceWithWork(box, 2);
    const dest = join(box, 'dest');
    const args = ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'];
    const err = expectOneLine(await injected(args, 'fsync', 'EDQUOT', { path: join(dest, '.Work', 'cur') }), 3, 'DEST_IO');
    expect(err.message).toBe(`disk quota exceeded writing ${join(dest, '.Work', 'cur')}`);
    expect(err.hint).toMatch(/quota/);
    expect(envelope(await runCli(args)).status).toBe(0);
  });

  it('on a write of the checkpoint: exit 3, said as a disk quota', async () => {
    const box = sandbox('mf-quota-cp-');
    const src = sourceWithWork(box, 0);
    const cp = join(box, 'cp');
    const args = ['copy', `maildir:${src}`, `maildir:${join(box, 'dest')}`, '--checkpoint', cp, '--json'];
    expect(envelope(await runCli(args)).status).toBe(0);
    writeFileSync(join(src, '.Work', 'cur', '1.q.host:2,S'), 'Message-ID: <q@inject.example>\n\nbody\n');
    const err = expectOneLine(await injected(args, 'write', 'EDQUOT', { path: cp }), 3, 'CHECKPOINT_IO');
    expect(err.message).toBe(`cannot write checkpoint ${cp}: disk quota exceeded`);
    expect(err.hint).toMatch(/quota/);
    const again = envelope(await runCli(args));
    expect(again.status, JSON.stringify(again.error)).toBe(0);
  });
});

describe('a Maildir destination that cannot be read', () => {
  /** A destination `.Work` holding two messages copied by a first run; its cur/ and one file in it. */
  async function copiedOnce(prefix: string) {
    const box = sandbox(prefix);
    const src = sourceWithWork(box, 2);
    const dest = join(box, 'dest');
    expect(envelope(await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cpA'), '--json'])).status).toBe(0);
    const cur = join(dest, '.Work', 'cur');
    return { box, src, dest, cur, file: join(cur, readdirSync(cur).sort()[0]!) };
  }

  it('EIO reading its folder directory in the scan of a copy: exit 3, said as a read', async () => {
    const { box, src, dest, cur } = await copiedOnce('mf-readdir-');
    // Another checkpoint: the copy scans the destination for what it holds.
    const r = await injected(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cpB'), '--json'], 'getdents64', 'EIO', { path: cur });
    expect(expectOneLine(r, 3, 'DEST_IO').message).toBe(`cannot read ${cur}: input/output error (EIO)`);
  });

  it('EIO reading its folder directory in a verify: exit 3, said as a read', async () => {
    const { src, dest, cur } = await copiedOnce('mf-readdir-v-');
    const r = await injected(['verify', `maildir:${src}`, `maildir:${dest}`, '--json'], 'getdents64', 'EIO', { path: cur });
    expect(expectOneLine(r, 3, 'DEST_IO').message).toBe(`cannot read ${cur}: input/output error (EIO)`);
  });

  it('EIO reading a message of it in a verify: exit 3, said as a read', async () => {
    const { src, dest, file } = await copiedOnce('mf-readmsg-v-');
    const r = await injected(['verify', `maildir:${src}`, `maildir:${dest}`, '--json'], 'read,pread64', 'EIO', { path: file });
    expect(expectOneLine(r, 3, 'DEST_IO').message).toBe(`cannot read ${file}: input/output error (EIO)`);
  });
});

describe('a message larger than the file size limit (ulimit -f, RLIMIT_FSIZE; a file system maximum)', () => {
  it('EFBIG fails that message alone (exit 6, named), the others are copied, no file is left in tmp/; the rerun without the limit copies it', async () => {
    const box = sandbox('mf-efbig-');
    const src = sourceWithWork(box, 3);
    writeFileSync(join(src, '.Work', 'cur', '2000.big.host:2,S'), `Message-ID: <big@inject.example>\nSubject: big\n\n${'x'.repeat(300_000)}\n`);
    const dest = join(box, 'dest');
    const args = ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'];
    const r = await runCli(args, { wrap: ['prlimit', '--fsize=100000', '--'] });
    const out = envelope(r);
    expect(out.status, JSON.stringify(out.error) + r.stderr).toBe(6);
    expect(out.result.copied).toBe(3);
    expect(out.result.failures).toHaveLength(1);
    expect(out.result.failures[0]).toMatchObject({ key: '2000.big.host', code: 'MESSAGE_TOO_LARGE' });
    expect(out.result.failures[0].error).toMatch(/file size limit/);
    expect(readdirSync(join(dest, '.Work', 'tmp'))).toEqual([]);
    const again = envelope(await runCli(args));
    expect(again.status, JSON.stringify(again.error)).toBe(0);
    expect(again.result.copied).toBe(1);
  });
});
