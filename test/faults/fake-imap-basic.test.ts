// The fake IMAP server itself, through the real CLI: a plain copy works (so the other fake-server
// tests fail only for the fault they inject).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { crlfToLfBytes, destMessages, fakeMessage, sandbox } from './helpers.js';

describe('fake IMAP server, plain copy', () => {
  let srv: FakeImapServer;
  const msgs = [1, 2, 3].map((n) => ({ uid: n, body: fakeMessage(n), flags: n === 2 ? ['\\Seen'] : [] }));
  beforeAll(async () => {
    srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }, { name: 'Sub', messages: [{ uid: 7, body: fakeMessage(7) }] }] });
  });
  afterAll(() => srv.stop());

  it('copies every message byte-exact', async () => {
    const box = sandbox('mf-fake-');
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(4);
    const got = destMessages(dest);
    expect(got.get('INBOX')!.map((b) => b.toString('latin1')).sort()).toEqual(msgs.map((m) => crlfToLfBytes(m.body).toString('latin1')).sort());
    expect(got.get('Sub')!.length).toBe(1);
  });

  it('folders: without STATUS=SIZE, the bytes of a folder are the sum of its RFC822.SIZEs (one FETCH)', async () => {
    const r = await runCli(['folders', `imap://u@127.0.0.1:${srv.port}`, '--source-tls', 'none', '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    const byName = Object.fromEntries(out.result.folders.map((f: { name: string; messages: number; bytes: number }) => [f.name, f]));
    expect(byName.INBOX).toMatchObject({ messages: 3, bytes: msgs.reduce((n, m) => n + m.body.length, 0) });
    expect(byName.Sub).toMatchObject({ messages: 1, bytes: fakeMessage(7).length });
  });
});

describe('a large folder is listed in chunks', () => {
  let srv: FakeImapServer;
  // 4,500 messages, UIDs with gaps.
  const msgs = Array.from({ length: 4500 }, (_, i) => ({ uid: 10 + i * 3, body: fakeMessage(i) }));
  beforeAll(async () => {
    srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
  });
  afterAll(() => srv.stop());

  it('one UID SEARCH, then metadata FETCHes of 250 UIDs (the first, so copying starts soon), 750 (the batches of the other three workers), then at most 2,000 each; every message copied once', async () => {
    const box = sandbox('mf-fake-chunks-');
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(4500);
    expect(out.result.folders.find((f: { folder: string }) => f.folder === 'INBOX')).toMatchObject({ listed: 4500, copied: 4500, skipped: 0 });
    const searches = srv.commands.filter((c) => /^\S+ UID SEARCH\b/i.test(c));
    expect(searches).toHaveLength(1);
    const listings = srv.commands.filter((c) => /^\S+ UID FETCH .*RFC822\.SIZE/i.test(c));
    expect(listings).toHaveLength(4);
    const asked = listings.map((c) => {
      const set = c.split(' ')[3];
      return set.split(',').reduce((n, r) => {
        const [a, b] = r.split(':').map(Number);
        return n + (b === undefined ? 1 : (Math.abs(b - a) / 3 + 1));
      }, 0);
    });
    expect(asked).toEqual([250, 750, 2000, 1500]);
    const got = destMessages(dest).get('INBOX')!;
    expect(new Set(got.map((b) => b.toString('latin1'))).size).toBe(4500);
  });
});

describe('more keywords than a Maildir folder holds (26, a–z: Dovecot\'s limit)', () => {
  let srv: FakeImapServer;
  // A server without that limit (Cyrus, a Dovecot on mdbox): 30 keywords in one folder.
  const kws = Array.from({ length: 30 }, (_, i) => `label${i + 1}`);
  const msgs = [1, 2, 3].map((n) => ({ uid: n, body: fakeMessage(n), flags: ['\\Seen', ...kws.slice((n - 1) * 10, n * 10)] }));
  beforeAll(async () => {
    srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
  });
  afterAll(() => srv.stop());

  it('every message is copied; the keywords past the 26th are left out, each named once in a warning', async () => {
    const box = sandbox('mf-fake-kw-');
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--concurrency', '1', '--checkpoint', join(box, 'cp'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(3);
    const warned = out.warnings.filter((w: string) => /26 keywords/.test(w));
    expect(warned).toHaveLength(4);
    // Which four depends on the order the puts in flight reach the table.
    const named = warned.map((w: string) => /keyword '(label\d+)'$/.exec(w)?.[1]);
    expect(new Set(named).size).toBe(4);
    const table = readFileSync(join(box, 'dest', 'dovecot-keywords'), 'utf8').trim().split('\n').map((l) => l.split(' ')[1]);
    expect(table).toHaveLength(26);
    expect([...table, ...named].sort()).toEqual([...kws].sort());
  });
});
