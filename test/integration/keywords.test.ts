// Keywords ($Forwarded, Junk, labels) through Maildir, real CLI, real Dovecot: IMAP → Maildir
// writes them as the lower-case info letters of a dovecot-keywords table, and Maildir → IMAP
// gives them back, from mailferry's own Maildir and from a Maildir Dovecot wrote itself.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infoToFlags, parseKeywords } from '../../src/drivers/maildir/flags.js';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { readMaildirTree } from '../harness/maildir-read.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const work = mkdtempSync(join(tmpdir(), 'mf-kw-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const imap = (user: string) => `imap://${user}@${h.host}:${h.ports.imap}`;

/** What each message holds, by Message-ID: its flags, as given. */
const MESSAGES: Record<string, string[]> = {
  '<kw-a@test>': ['\\Seen', '$Forwarded', 'Junk'],
  '<kw-b@test>': ['NonJunk'],
  '<kw-c@test>': ['\\Flagged'],
  '<kw-d@test>': ['$label1', 'Junk', '\\Answered'],
};

const sorted = (flags: string[]) => [...flags].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));

/** Flags of each message of a Dovecot user's INBOX, by Message-ID (\Recent left out). */
async function flagsOf(user: string): Promise<Record<string, string[]>> {
  const out = (await h.doveadm(['fetch', '-u', user, 'hdr.message-id flags', 'mailbox', 'INBOX', 'all'])).stdout.toString('utf8');
  const got: Record<string, string[]> = {};
  for (const rec of out.split('\f')) {
    const mid = /hdr\.message-id: (\S+)/.exec(rec)?.[1];
    const flags = /flags: ?(.*)/.exec(rec)?.[1] ?? '';
    if (mid) got[mid] = sorted(flags.split(' ').filter((f) => f && f !== '\\Recent'));
  }
  return got;
}

async function copy(from: string, to: string, cp: string) {
  const r = await runCli(['copy', from, to, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(work, cp), '--json'], { env });
  const out = envelope(r);
  expect(out.status, r.stderr).toBe(0);
  return out.result;
}

describe('keywords through Maildir', () => {
  let src: string;
  beforeAll(async () => {
    src = (await h.freshUser('kwsrc')).name;
    for (const [mid, flags] of Object.entries(MESSAGES)) {
      await h.doveadm(['save', '-u', src, '-m', 'INBOX'], Buffer.from(`Message-ID: ${mid}\r\nSubject: keywords\r\n\r\nbody of ${mid}\r\n`));
      await h.doveadm(['flags', 'add', '-u', src, flags.join(' '), 'mailbox', 'INBOX', 'header', 'Message-ID', mid]);
    }
    expect(await flagsOf(src)).toEqual(Object.fromEntries(Object.entries(MESSAGES).map(([m, f]) => [m, sorted(f)])));
  });

  it('IMAP → Maildir: each keyword is a letter of the folder\'s dovecot-keywords; Maildir → IMAP gives the same flags back', async () => {
    const md = join(work, 'M');
    expect((await copy(imap(src), `maildir:${md}`, 'cp1')).copied).toBe(4);
    const table = parseKeywords(readFileSync(join(md, 'dovecot-keywords'), 'utf8'));
    expect(sorted(table.filter((k): k is string => k !== undefined))).toEqual(sorted(['$Forwarded', 'Junk', 'NonJunk', '$label1']));
    const files = readMaildirTree(md).get('INBOX')!;
    const byMid = Object.fromEntries(files.map((f) => [/Message-ID: (\S+)/.exec(f.bytes.toString('latin1'))![1], f]));
    for (const [mid, flags] of Object.entries(MESSAGES)) {
      expect(byMid[mid].info, mid).toMatch(/^[A-Z]*[a-z]*$/);
      expect(sorted(infoToFlags(byMid[mid].name, table)), mid).toEqual(sorted(flags));
    }
    expect(readMaildirTree(md).get('INBOX')!.length).toBe(4);

    const back = (await h.freshUser('kwback')).name;
    expect((await copy(`maildir:${md}`, imap(back), 'cp2')).copied).toBe(4);
    expect(await flagsOf(back)).toEqual(await flagsOf(src));
  });

  it("a Maildir Dovecot wrote (its own dovecot-keywords) → IMAP: the keywords come along", async () => {
    const dst = (await h.freshUser('kwdst')).name;
    expect((await copy(`maildir:${h.maildirOf(src)}`, imap(dst), 'cp3')).copied).toBe(4);
    expect(await flagsOf(dst)).toEqual(await flagsOf(src));
  });
});

describe('a keyword the destination refuses', () => {
  it('(longer than its limit: Dovecot allows 50 characters) the message is stored with the rest of its flags, and a warning names what was left out', async () => {
    // A Maildir another server wrote (Cyrus, or a Dovecot with a higher mail_max_keyword_length).
    const md = join(work, 'long-kw');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(md, sub), { recursive: true });
    const long = `Project-${'x'.repeat(100)}`;
    writeFileSync(join(md, 'dovecot-keywords'), `0 ${long}\n1 $Forwarded\n`);
    writeFileSync(join(md, 'cur', '1700000000.lk1.host:2,Sab'), 'Message-ID: <long-kw-1@test>\nSubject: long\n\nbody\n');
    writeFileSync(join(md, 'cur', '1700000001.lk2.host:2,Sb'), 'Message-ID: <long-kw-2@test>\nSubject: short\n\nbody\n');
    const dst = (await h.freshUser('kwlong')).name;
    const args = ['copy', `maildir:${md}`, imap(dst), '--dest-tls', 'none', '--checkpoint', join(work, 'cp-long'), '--json'];
    const out = envelope(await runCli(args, { env }));
    expect(out.status, JSON.stringify(out.error ?? out.result?.failures)).toBe(0);
    expect(out.result).toMatchObject({ copied: 2, failed: 0 });
    expect(out.warnings.join('\n')).toContain(long);
    expect(await flagsOf(dst)).toEqual({ '<long-kw-1@test>': sorted(['$Forwarded', '\\Seen']), '<long-kw-2@test>': sorted(['$Forwarded', '\\Seen']) });
    // Nothing left to do: the rerun copies nothing and warns of nothing.
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 0, failed: 0 });
  });
});
