// Root copying into another user's Maildir, through the real CLI against the harness's Dovecot
// (whose Maildirs belong to its unprivileged mail user): what mailferry creates there is that
// user's, so the user's Dovecot reads the messages, the new folders and the keywords. A Maildir
// mailferry makes itself stays root's. Runs only as root.
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const tls = ['--source-tls', 'none', '--dest-tls', 'none'];
const work = mkdtempSync(join(tmpdir(), 'mf-owner-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const imap = (user: string) => `imap://${user}@${h.host}:${h.ports.imap}`;
const pop3 = (user: string) => `pop3://${user}@${h.host}:${h.ports.pop3}`;
const asRoot = process.getuid?.() === 0;

const message = (mid: string) => Buffer.from(`Message-ID: ${mid}\r\nSubject: owner\r\n\r\nbody of ${mid}\r\n`);

/** Every entry under `dir` (itself included) whose owner is not uid:gid, as "path uid:gid". */
function foreign(dir: string, uid: number, gid: number): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = lstatSync(p);
    if (st.uid !== uid || st.gid !== gid) out.push(`${p} ${st.uid}:${st.gid}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return out;
}

/** Modes of mailferry's new folder: directories 0700, files 0600. */
function modes(dir: string): string[] {
  const bad: string[] = [];
  const walk = (p: string): void => {
    const st = lstatSync(p);
    const want = st.isDirectory() ? 0o700 : 0o600;
    if ((st.mode & 0o777) !== want) bad.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) walk(join(p, n));
  };
  walk(dir);
  return bad;
}

/** Message-ID → flags (\Recent left out) of a folder, as the user's Dovecot reads it (it opens each file). */
async function held(user: string, mailbox: string): Promise<Record<string, string[]>> {
  const out = (await h.doveadm(['fetch', '-u', user, 'hdr.message-id flags', 'mailbox', mailbox, 'all'])).stdout.toString('utf8');
  const got: Record<string, string[]> = {};
  for (const rec of out.split('\f')) {
    const mid = /hdr\.message-id: (\S+)/.exec(rec)?.[1];
    if (mid) got[mid] = (/flags: ?(.*)/.exec(rec)?.[1] ?? '').split(' ').filter((f) => f && f !== '\\Recent').sort();
  }
  return got;
}

/** A Dovecot user whose Maildir Dovecot has made, its INBOX holding one message with keyword `Keep`. */
async function destUser(prefix: string): Promise<string> {
  const dst = (await h.freshUser(prefix)).name;
  await h.doveadm(['save', '-u', dst, '-m', 'INBOX'], message(`<${prefix}-own@test>`));
  await h.doveadm(['flags', 'add', '-u', dst, 'Keep', 'mailbox', 'INBOX', 'all']);
  return dst;
}

async function copy(from: string, to: string, cp: string) {
  const r = await runCli(['copy', from, to, ...tls, '--checkpoint', join(work, cp), '--json'], { env });
  const out = envelope(r);
  expect(out.status, r.stderr + JSON.stringify(out.error)).toBe(0);
  return out.result;
}

describe.runIf(asRoot)("root copying into another user's Maildir", () => {
  let src: string;
  beforeAll(async () => {
    src = (await h.freshUser('ownsrc')).name;
    await h.doveadm(['mailbox', 'create', '-u', src, 'spam-1']);
    await h.doveadm(['save', '-u', src, '-m', 'INBOX'], message('<in-1@test>'));
    await h.doveadm(['flags', 'add', '-u', src, '\\Seen $Forwarded', 'mailbox', 'INBOX', 'all']);
    await h.doveadm(['save', '-u', src, '-m', 'spam-1'], message('<spam-1@test>'));
    await h.doveadm(['flags', 'add', '-u', src, 'Junk', 'mailbox', 'spam-1', 'all']);
  });

  it("IMAP → Maildir: folders, messages and the rewritten dovecot-keywords are the user's; Dovecot reads them all", async () => {
    const dst = await destUser('owndst');
    const md = h.maildirOf(dst);
    expect((await copy(imap(src), `maildir:${md}`, 'imap')).copied).toBe(2);
    expect(foreign(md, h.mailUid, h.mailGid)).toEqual([]);
    expect(modes(join(md, '.spam-1'))).toEqual([]);
    expect(await held(dst, 'INBOX')).toEqual({ '<owndst-own@test>': ['Keep'], '<in-1@test>': ['$Forwarded', '\\Seen'] });
    expect(await held(dst, 'spam-1')).toEqual({ '<spam-1@test>': ['Junk'] });
  });

  it("POP3 → Maildir: the messages are the user's", async () => {
    const from = (await h.freshUser('ownpop')).name;
    await h.doveadm(['save', '-u', from, '-m', 'INBOX'], message('<pop-1@test>'));
    const dst = await destUser('owndstp');
    const md = h.maildirOf(dst);
    expect((await copy(pop3(from), `maildir:${md}`, 'pop3')).copied).toBe(1);
    expect(foreign(md, h.mailUid, h.mailGid)).toEqual([]);
    expect(Object.keys(await held(dst, 'INBOX')).sort()).toEqual(['<owndstp-own@test>', '<pop-1@test>']);
  });

  it("Maildir → Maildir: the new folder, its messages and keywords are the user's", async () => {
    const dst = await destUser('owndstm');
    const md = h.maildirOf(dst);
    expect((await copy(`maildir:${h.maildirOf(src)}`, `maildir:${md}`, 'maildir')).copied).toBe(2);
    expect(foreign(md, h.mailUid, h.mailGid)).toEqual([]);
    expect(modes(join(md, '.spam-1'))).toEqual([]);
    expect(await held(dst, 'INBOX')).toEqual({ '<owndstm-own@test>': ['Keep'], '<in-1@test>': ['$Forwarded', '\\Seen'] });
    expect(await held(dst, 'spam-1')).toEqual({ '<spam-1@test>': ['Junk'] });
  });

  it("a Maildir mailferry makes itself, or root's own, stays root's", async () => {
    const fresh = join(work, 'fresh');
    expect((await copy(imap(src), `maildir:${fresh}`, 'fresh.cp')).copied).toBe(2);
    expect(foreign(fresh, 0, 0)).toEqual([]);
    // Again into it, now an existing Maildir of root's: a new folder stays root's too.
    await h.doveadm(['mailbox', 'create', '-u', src, 'later']);
    await h.doveadm(['save', '-u', src, '-m', 'later'], message('<later@test>'));
    expect((await copy(imap(src), `maildir:${fresh}`, 'fresh.cp')).copied).toBe(1);
    expect(foreign(fresh, 0, 0)).toEqual([]);
  });
});
