// Symbolic links planted in a Maildir (by whoever can write there: the owner of a mailbox that root
// backs up or restores) are never followed: a link among the messages of a source is reported, not
// read; a link where the destination writes is refused. Through the real CLI, Maildir to Maildir.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { destMessages, sandbox } from './helpers.js';

const SECRET = 'root-only-secret-4f1c9';

function maildir(root: string, folders: Record<string, Record<string, string>>): void {
  for (const [folder, files] of Object.entries(folders)) {
    const dir = folder === 'INBOX' ? root : join(root, folder);
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
    for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, 'cur', name), body);
  }
}
const msg = (n: number) => `Message-ID: <m${n}@links.example>\nSubject: ${n}\n\nbody ${n}\n`;

describe('symbolic links in a Maildir', () => {
  it('a link among the source messages is reported as failed and never read; the rest is copied', async () => {
    const box = sandbox('mf-links-');
    const secret = join(box, 'shadow');
    writeFileSync(secret, `Subject: secret\n\n${SECRET}\n`, { mode: 0o600 });
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1), '2.b.host:2,': msg(2) } });
    symlinkSync(secret, join(src, 'cur', '3.c.host:2,S'));
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(2);
    expect(out.result.failures).toEqual([expect.objectContaining({ key: '3.c.host', error: expect.stringMatching(/3\.c\.host:2,S is a symbolic link: not followed/) })]);
    const copied = destMessages(dest).get('INBOX')!;
    expect(copied).toHaveLength(2);
    expect(copied.map((m) => m.toString()).join('')).not.toContain(SECRET);
  });

  it("a link as a destination folder's maildirfolder marker is refused, and its target is not created", async () => {
    const box = sandbox('mf-links-');
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1) }, '.Work': { '2.b.host:2,S': msg(2) } });
    const dest = join(box, 'dest');
    maildir(dest, { INBOX: {}, '.Work': {} });
    const target = join(box, 'CREATED-BY-MAILFERRY');
    symlinkSync(target, join(dest, '.Work', 'maildirfolder'));
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(3);
    expect(out.error?.message).toMatch(/maildirfolder is a symbolic link: not followed/);
    expect(existsSync(target)).toBe(false);
  });

  it('a link as a destination cur/ directory is refused before anything is written', async () => {
    const box = sandbox('mf-links-');
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1) } });
    const elsewhere = join(box, 'elsewhere');
    mkdirSync(elsewhere);
    const dest = join(box, 'dest');
    mkdirSync(join(dest, 'new'), { recursive: true });
    mkdirSync(join(dest, 'tmp'));
    symlinkSync(elsewhere, join(dest, 'cur'));
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    expect(envelope(r).status, r.stderr).toBe(3);
    expect(readFileSync(join(box, 'src', 'cur', '1.a.host:2,S'), 'utf8')).toBe(msg(1));
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it('verify and the dry run do not count what a destination folder (or its cur/) that is a link points at: exit 3, as copy', async () => {
    for (const at of ['folder', 'cur']) {
      const box = sandbox('mf-links-');
      const src = join(box, 'src');
      maildir(src, { INBOX: {}, '.Sent': { '1.a.host:2,S': msg(1) } });
      const dest = join(box, 'dest');
      expect(envelope(await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json'])).status).toBe(0);
      // The backup's folder (or its cur/) moved away and a link left in its place.
      const from = at === 'folder' ? join(dest, '.Sent') : join(dest, '.Sent', 'cur');
      renameSync(from, join(box, 'elsewhere'));
      symlinkSync(join(box, 'elsewhere'), from);
      for (const args of [['verify', `maildir:${src}`, `maildir:${dest}`, '--json'], ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp2'), '--dry-run', '--json']]) {
        const out = envelope(await runCli(args));
        expect(out.status, `${at}: ${args[0]} ${JSON.stringify(out.error ?? out.result)}`).toBe(3);
        expect(out.error?.message).toMatch(/symbolic link/);
      }
    }
  });

  it("a source folder's new/ (or cur/) that is a link is not followed: that folder fails saying so, the others are copied", async () => {
    const box = sandbox('mf-links-');
    const outside = join(box, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, '9.z.host'), `Subject: secret\n\n${SECRET}\n`, { mode: 0o600 });
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1) }, '.Work': { '2.b.host:2,S': msg(2) } });
    rmSync(join(src, '.Work', 'new'), { recursive: true });
    symlinkSync(outside, join(src, '.Work', 'new'));
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(1);
    const work = out.result.folders.find((f: { folder: string }) => f.folder === 'Work');
    expect(work.error).toMatch(/\.Work\/new is a symbolic link: not followed/);
    expect(JSON.stringify([...destMessages(dest).values()].flat().map((m) => m.toString()))).not.toContain(SECRET);
  });

  it('a source folder that is a link is listed and fails saying so (not passed over in silence)', async () => {
    const box = sandbox('mf-links-');
    const elsewhere = join(box, 'elsewhere');
    maildir(elsewhere, { INBOX: { '5.e.host:2,S': msg(5) } });
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1) } });
    symlinkSync(elsewhere, join(src, '.Linked'));
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.folders.find((f: { folder: string }) => f.folder === 'Linked').error).toMatch(/\.Linked is a symbolic link: not followed/);
    expect(out.result.copied).toBe(1);
  });

  it('verify and the dry run: a link among the messages is named unreadable, the rest compared', async () => {
    const box = sandbox('mf-links-');
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1), '2.b.host:2,': msg(2) } });
    symlinkSync(join(box, 'nowhere.eml'), join(src, 'cur', '3.c.host:2,S'));
    const dest = join(box, 'dest');
    await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const v = envelope(await runCli(['verify', `maildir:${src}`, `maildir:${dest}`, '--json']));
    expect(v.status, JSON.stringify(v.error)).toBe(6);
    expect(v.result).toMatchObject({ missing: 0, unreadable: 1 });
    expect(v.result.unreadableList[0]).toMatchObject({ key: '3.c.host' });
    const plan = envelope(await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp2'), '--dry-run', '--json']));
    expect(plan.status, JSON.stringify(plan.error)).toBe(6);
    expect(plan.result).toMatchObject({ copy: 0, unreadable: 1 });
  });
});

describe('links and FIFOs planted in a destination Maildir', () => {
  const setup = (name: string) => {
    const box = sandbox(name);
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1), '2.b.host:2,': msg(2) } });
    const dest = join(box, 'dest');
    return { box, src, dest, args: (...more: string[]) => ['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json', ...more] };
  };

  it('a FIFO among its messages is passed over, never opened: copy and verify finish (it blocked them for good)', async () => {
    const { src, dest, args } = setup('mf-fifo-');
    expect(envelope(await runCli(args())).result.copied).toBe(2);
    execFileSync('mkfifo', [join(dest, 'cur', 'evil:2,S')]);
    writeFileSync(join(src, 'cur', '3.c.host:2,S'), msg(3));
    const again = envelope(await runCli(args('--restart'), { timeoutMs: 30_000 }));
    expect(again.status, JSON.stringify(again.error)).toBe(0);
    expect(again.result.copied).toBe(1);
    const v = envelope(await runCli(['verify', `maildir:${src}`, `maildir:${dest}`, '--json'], { timeoutMs: 30_000 }));
    expect(v.status, JSON.stringify(v.error)).toBe(0);
    expect(v.result).toMatchObject({ missing: 0 });
  });

  it("a link or a FIFO at the Maildir's own lock (tmp/mailferry.lock) stops the run with one line (exit 3), at once", async () => {
    for (const plant of ['fifo', 'zero'] as const) {
      const { box, dest, args } = setup(`mf-locklink-${plant}-`);
      mkdirSync(join(dest, 'tmp'), { recursive: true });
      const lock = join(dest, 'tmp', 'mailferry.lock');
      if (plant === 'fifo') {
        execFileSync('mkfifo', [join(box, 'fifo')]);
        symlinkSync(join(box, 'fifo'), lock);
      } else symlinkSync('/dev/zero', lock);
      const r = await runCli(args(), { timeoutMs: 30_000 });
      const out = envelope(r);
      expect(out.status, `${plant}: ${r.stderr}`).toBe(3);
      expect(out.error?.message).toMatch(/the lock .*mailferry\.lock is a symbolic link: not followed/);
    }
    const { dest, args } = setup('mf-lockfifo-');
    mkdirSync(join(dest, 'tmp'), { recursive: true });
    execFileSync('mkfifo', [join(dest, 'tmp', 'mailferry.lock')]);
    const out = envelope(await runCli(args(), { timeoutMs: 30_000 }));
    expect(out.status).toBe(3);
    expect(out.error?.message).toMatch(/mailferry\.lock is not a regular file/);
  });

  it('a dovecot-keywords that is a link is not followed: exit 3, the file it names not read as the table', async () => {
    const { box, dest, args } = setup('mf-kwlink-');
    const outside = join(box, 'outside');
    writeFileSync(outside, '0 Stolen\n');
    mkdirSync(dest, { recursive: true });
    symlinkSync(outside, join(dest, 'dovecot-keywords'));
    writeFileSync(join(box, 'src', 'cur', '4.d.host:2,Sa'), msg(4));
    writeFileSync(join(box, 'src', 'dovecot-keywords'), '0 Work\n');
    const r = await runCli(args(), { timeoutMs: 30_000 });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(3);
    expect(out.error?.message).toMatch(/dovecot-keywords is a symbolic link: not followed/);
    expect(readFileSync(outside, 'utf8')).toBe('0 Stolen\n');
  });
});

describe('Maildir files that cannot be read', () => {
  it('one unreadable file fails alone (the rest of its folder is copied), verify names it', async () => {
    const box = sandbox('mf-unread-');
    const src = join(box, 'src');
    maildir(src, { INBOX: Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`${i + 1}.u.host:2,S`, msg(i + 1)])) });
    chmodSync(src, 0o755);
    chmodSync(join(src, 'cur'), 0o755);
    chmodSync(join(src, 'cur', '4.u.host:2,S'), 0o000);
    const dest = join(box, 'dest');
    // As a user who is not root (root reads a file of mode 000).
    const asNobody = (args: string[]) => runCli(args, { wrap: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'], env: { XDG_STATE_HOME: join(box, 'state') } });
    chmodSync(box, 0o1777); // sticky, as /tmp: nobody writes its own files there, and the checkpoint may lie there
    const r = await asNobody(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 7, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: '4.u.host', error: expect.stringMatching(/4\.u\.host:2,S: permission denied/) });
    const v = envelope(await asNobody(['verify', `maildir:${src}`, `maildir:${dest}`, '--json']));
    expect(v.status, JSON.stringify(v.error)).toBe(6);
    expect(v.result).toMatchObject({ missing: 0, unreadable: 1 });
  });

  it('a source Maildir the user may not read at all is a configuration error (exit 3, one line), in copy and verify, as one that does not exist', async () => {
    const box = sandbox('mf-unread-root-');
    const src = join(box, 'private');
    maildir(src, { INBOX: { '1.p.host:2,S': msg(1) } });
    chmodSync(src, 0o700);
    maildir(join(box, 'dest'), { INBOX: {} }); // verify reads an existing destination
    const asNobody = (args: string[]) => runCli(args, { wrap: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'], env: { XDG_STATE_HOME: join(box, 'state') } });
    chmodSync(box, 0o1777);
    for (const cmd of ['copy', 'verify']) {
      const r = await asNobody([cmd, `maildir:${src}`, `maildir:${join(box, 'dest')}`, ...(cmd === 'copy' ? ['--checkpoint', join(box, 'cp')] : [])]);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toBe(`mailferry: error: cannot read ${src}: permission denied (run mailferry as a user who may read this Maildir)\n`);
    }
  });

  it('a folder the user may not enter, Maildir++ or nested, fails named (exit 6), not passed over; the rest is copied', async () => {
    const box = sandbox('mf-unread-dirs-');
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1) }, '.Private': { '2.b.host:2,S': msg(2) }, 'Lists/locked/inner': { '3.c.host:2,S': msg(3) } });
    for (const d of [src, join(src, 'cur'), join(src, 'Lists')]) chmodSync(d, 0o755);
    chmodSync(join(src, '.Private'), 0o700);
    chmodSync(join(src, 'Lists', 'locked'), 0o700);
    // Another program's dot-directory beside them (not a Legacy subfolder: no way in, no cur/): passed over.
    mkdirSync(join(src, 'Lists', '.cache'), { mode: 0o700 });
    chmodSync(box, 0o1777);
    const asNobody = (args: string[]) => runCli(args, { wrap: ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--'], env: { XDG_STATE_HOME: join(box, 'state') } });
    const dest = join(box, 'dest');
    const r = await asNobody(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(1);
    const failed = Object.fromEntries(out.result.folders.filter((f: { error?: string }) => f.error).map((f: { folder: string; error: string }) => [f.folder, f.error]));
    expect(failed).toEqual({
      Private: expect.stringMatching(/cannot read .*\/\.Private: permission denied/),
      'Lists/locked': expect.stringMatching(/cannot read .*\/Lists\/locked: permission denied/),
    });
    // verify compares what it can read and names the rest, as copy does.
    const v = envelope(await asNobody(['verify', `maildir:${src}`, `maildir:${dest}`, '--json']));
    expect(v.status, JSON.stringify(v)).toBe(6);
    expect(v.result).toMatchObject({ ok: false, messages: 1, missing: 0, failedFolders: 2 });
    expect(v.result.folders.filter((f: { error?: string }) => f.error).map((f: { folder: string }) => f.folder).sort()).toEqual(['Lists/locked', 'Private']);
    expect(v.result.verdict).toMatch(/the one message compared is in the destination; 2 folders could not be read and were not compared/);
  });

  it('cur, new and tmp are folders in a root that is not itself a Maildir; a folder nested deeper than 32 levels fails named', async () => {
    const box = sandbox('mf-nested-odd-');
    const src = join(box, 'src');
    const deep = Array.from({ length: 35 }, (_, i) => `d${i}`).join('/');
    maildir(src, { new: { '1.a.host:2,S': msg(1) }, Work: { '2.b.host:2,S': msg(2) }, [deep]: { '3.c.host:2,S': msg(3) } });
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(2);
    expect(out.result.folders.map((f: { folder: string }) => f.folder)).toEqual(expect.arrayContaining(['new', 'Work']));
    const failed = out.result.folders.filter((f: { error?: string }) => f.error);
    expect(failed).toHaveLength(1);
    expect(failed[0].error).toMatch(/is nested more than 32 folders deep: not read/);
  });

  it('a file whose name is not UTF-8 is named, not lost: it fails and the rest is copied', async () => {
    const box = sandbox('mf-names-');
    const src = join(box, 'src');
    maildir(src, { INBOX: { '1.a.host:2,S': msg(1) } });
    writeFileSync(Buffer.concat([Buffer.from(join(src, 'cur') + '/2.h'), Buffer.from([0xf6]), Buffer.from('st:2,S')]), msg(2));
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dest}`, '--checkpoint', join(box, 'cp'), '--json']);
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 1, failed: 1 });
    expect(out.result.failures[0].error).toMatch(/the file name is not UTF-8, so it is not read/);
    const v = envelope(await runCli(['verify', `maildir:${src}`, `maildir:${dest}`, '--json']));
    expect(v.status).toBe(6);
    expect(v.result).toMatchObject({ unreadable: 1 });
  });
});
