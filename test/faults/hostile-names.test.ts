// A hostile IMAP server names its folders to climb out of the Maildir: "../../x", "a/../../b", ".",
// "..", NUL, CR/LF, '/' inside a component, an absolute name, a name too long for a file name.
// Through the real CLI: nothing is written outside the destination root — proved by a snapshot of
// the whole sandbox before and after, and a search of the whole file system for the marker.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentsOfDirName } from '../../src/drivers/maildir/names.js';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer, type FakeImapMailbox } from '../harness/fake-imap.js';
import { destMessages, fakeMessage, sandbox, snapshot } from './helpers.js';

const MARK = `mfescape${randomBytes(4).toString('hex')}`;

/**
 * Folder names as the server sends them, with the hierarchy the fake announces. `copied`: stored,
 * encoded, inside the root. `refused`: reported as a failed folder by mailferry's Maildir naming.
 * `either`: imapflow itself normalises the name ("..x" → ".x", "/x" → "x") or will not put it on
 * the wire (CR/LF), so the server answers "no such folder": reported, never written.
 */
const HOSTILE: Array<{ name: string; delimiter: string; expect: 'copied' | 'refused' | 'either' }> = [
  { name: `../../${MARK}-climb`, delimiter: '/', expect: 'copied' },
  { name: `a/../../${MARK}-b`, delimiter: '/', expect: 'copied' },
  { name: `../../../../../../../../../../tmp/${MARK}-deep`, delimiter: '/', expect: 'copied' },
  { name: '.', delimiter: '/', expect: 'copied' },
  { name: '..', delimiter: '/', expect: 'copied' },
  { name: `${MARK}-slash/inside`, delimiter: '.', expect: 'copied' },
  { name: `${MARK}-back\\slash~%*`, delimiter: '/', expect: 'copied' },
  { name: `/${MARK}-absolute`, delimiter: '/', expect: 'either' },
  { name: `..${MARK}-dots`, delimiter: '.', expect: 'either' },
  { name: `${MARK}-cr\r\nlf`, delimiter: '/', expect: 'either' },
  { name: `${MARK}-nul\0byte`, delimiter: '/', expect: 'refused' },
  { name: `${MARK}-${'x'.repeat(300)}`, delimiter: '/', expect: 'refused' },
];

describe('hostile folder names (fake IMAP server → maildir:, real CLI)', () => {
  let srv: FakeImapServer;
  const mailboxes: FakeImapMailbox[] = [
    { name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] },
    ...HOSTILE.map((h, i) => ({ name: h.name, delimiter: h.delimiter, messages: [{ uid: 1, body: fakeMessage(100 + i) }] })),
  ];
  beforeAll(async () => {
    srv = await FakeImapServer.start({ mailboxes });
  });
  afterAll(() => srv.stop());

  it('keeps every folder inside the destination root; refuses the unrepresentable ones by name', async () => {
    // The destination sits deep inside a fresh sandbox, so a climb of any depth lands in the sandbox.
    const box = sandbox('mf-hostile-');
    const cwd = join(box, 'w1', 'w2', 'w3');
    const dest = join(cwd, 'dest');
    const state = join(box, 'state');
    mkdirSync(cwd, { recursive: true });
    mkdirSync(state);
    const before = snapshot(box);
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, 'maildir:dest', '--source-tls', 'none', '--checkpoint', join(state, 'cp'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pass', XDG_STATE_HOME: state, HOME: box },
      cwd,
    });
    const out = envelope(r);
    // Some names cannot be stored (NUL, too long): the run is partial, each refused by name.
    expect(out.status, r.stderr).toBe(6);
    type F = { folder: string; error?: string; copied: number };
    const folders: F[] = out.result.folders;
    const byName = (n: string) => folders.find((f) => f.folder === n.split(HOSTILE.find((h) => h.name === n)!.delimiter).filter(Boolean).join('/'));
    for (const h of HOSTILE.filter((x) => x.expect === 'copied')) expect(byName(h.name)?.copied, JSON.stringify(h.name)).toBe(1);
    expect(byName(`${MARK}-nul\0byte`)?.error).toMatch(/NUL byte/);
    expect(byName(`${MARK}-${'x'.repeat(300)}`)?.error).toMatch(/too long/);
    for (const f of folders) expect(f.error !== undefined || f.copied === 1, JSON.stringify(f)).toBe(true);
    const copiedFolders = folders.filter((f) => f.copied === 1).length;

    // Nothing new in the sandbox outside dest/ and the state directory.
    const after = snapshot(box);
    const added = [...after.keys()].filter((p) => !before.has(p));
    const outside = added.filter((p) => !p.startsWith('w1/w2/w3/dest') && !p.startsWith('state'));
    expect(outside).toEqual([]);
    // Every folder is a direct child of the root, named ".<encoded>", and decodes to the server's name.
    const tree = destMessages(dest);
    expect(tree.size).toBe(copiedFolders);
    for (const [folder, msgs] of tree) expect(msgs.length, folder).toBe(1);
    const decoded = [...tree.keys()];
    expect(decoded).toContain(`../../${MARK}-climb`);
    expect(decoded).toContain(`${MARK}-slash/inside`);
    for (const p of added.filter((x) => x.startsWith('w1/w2/w3/dest/'))) {
      const rel = p.slice('w1/w2/w3/dest/'.length);
      expect(resolve(dest, rel).startsWith(resolve(dest) + '/'), rel).toBe(true);
      const top = rel.split('/')[0];
      expect(top === 'cur' || top === 'new' || top === 'tmp' || (top.startsWith('.') && top !== '.' && top !== '..' && !top.includes('..') && segmentsOfDirName(top).length > 0), top).toBe(true);
    }

    // The whole file system: the marker appears nowhere but inside the destination.
    const roots = ['/', '/dev/shm'];
    // find's exit status is not looked at: other tests running meanwhile remove directories it is
    // walking ("No such file or directory", status 1); what it printed is what it found.
    const search = spawnSync('find', [...roots, '(', '-path', '/proc', '-o', '-path', '/sys', '-o', '-path', '/dev', '-o', '-path', '/run', '-o', '-path', '/mnt', ')', '-prune', '-o', '-name', `*${MARK}*`, '-print'], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(search.error).toBeUndefined();
    const found = search.stdout.split('\n').filter(Boolean);
    expect(found.length).toBeGreaterThan(0); // the search can see the folders that were made
    expect(found.filter((f) => !f.startsWith(resolve(dest) + '/'))).toEqual([]);
  });
});

describe('escape sequences in server text (fake IMAP server, real CLI, no --json)', () => {
  let srv: FakeImapServer;
  const evil = 'Evil\x1b]0;PWNED-TITLE\x07\x1b[2K\x1b[1A\x1b[31mFAKE-OK';
  beforeAll(async () => {
    srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }, { name: evil, delimiter: '/', messages: [{ uid: 1, body: fakeMessage(2) }] }] });
  });
  afterAll(() => srv.stop());

  it('folder names reach the terminal with their control characters shown as \\xNN, in every command', async () => {
    const box = sandbox('mf-esc-');
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', XDG_STATE_HOME: join(box, 'state') };
    const url = `imap://u@127.0.0.1:${srv.port}`;
    const runs = [
      await runCli(['copy', url, `maildir:${join(box, 'd')}`, '--source-tls', 'none', '--verbose'], { env }),
      await runCli(['copy', url, `maildir:${join(box, 'd2')}`, '--source-tls', 'none', '--dry-run'], { env }),
      await runCli(['folders', url, '--source-tls', 'none'], { env }),
      await runCli(['verify', url, `maildir:${join(box, 'd')}`, '--source-tls', 'none'], { env }),
    ];
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout + r.stderr).not.toMatch(/[\x1b\x07]/);
    }
    expect(runs.map((r) => r.stdout + r.stderr).join('')).toContain('Evil\\x1b]0;PWNED-TITLE\\x07');
  });
});
