// Symbolic links planted in a Maildir (by whoever can write there: the owner of a mailbox that root
// backs up or restores) are never followed: a link among the messages of a source is reported, not
// read; a link where the destination writes is refused. Through the real CLI, Maildir to Maildir.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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
});
