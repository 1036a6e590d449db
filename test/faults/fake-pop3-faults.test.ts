// A POP3 server that drops the connection at one message, every time (a message it cannot read),
// through the real CLI: what Dovecot will not do on demand (it answers -ERR there). The header pass
// and the RETRs go on around that message; it alone fails, and the rest of the box is copied. One
// whose header alone cannot be read (TOP) is copied all the same, dated from its own header.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { DEFAULT_HANDLERS, FakePop3Server, type FakeHandler } from '../harness/fake-pop3.js';
import { readMaildirTree } from '../harness/maildir-read.js';

let server: FakePop3Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const message = (n: number) => Buffer.from(`Message-ID: <m${n}@pop.test>\r\nDate: Tue, 0${n} Jan 2019 10:00:00 +0000\r\nSubject: ${n}\r\n\r\nbody of ${n}\r\n`, 'latin1');
const messages = Array.from({ length: 8 }, (_, i) => ({ uid: `u${i + 1}`, body: message(i + 1) }));

/**
 * A destination that already holds mail (one message of another source): a first copy into an
 * empty one reads each header from its body, this one reads the headers first (TOP), to skip the
 * bodies of what is there.
 */
function mailThere(md: string): string {
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(md, sub), { recursive: true });
  writeFileSync(join(md, 'cur', '1.foreign.host:2,S'), 'Message-ID: <foreign@elsewhere.test>\nSubject: there\n\nx\n');
  return md;
}

async function copyFrom(srv: FakePop3Server, o: { headerPass?: boolean } = {}) {
  const work = mkdtempSync(join(tmpdir(), 'mf-fakepop-'));
  if (o.headerPass) mailThere(join(work, 'md'));
  const r = await runCli(['copy', `pop3://u@127.0.0.1:${srv.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json'], {
    env: { MAILFERRY_SOURCE_PASSWORD: 'pw' },
  });
  return { r, out: envelope(r), stored: readMaildirTree(join(work, 'md')).get('INBOX')!.filter((f) => !f.bytes.includes('<foreign@elsewhere.test>')) };
}

describe('a POP3 server that drops the connection at one message', () => {
  it('in the header pass and the RETRs: that message fails alone (exit 6), the rest is copied', async () => {
    const bad = '3';
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages,
      handlers: {
        TOP: (s, arg, line) => (arg.split(' ')[0] === bad ? s.drop() : DEFAULT_HANDLERS.TOP!(s, arg, line)),
        RETR: (s, arg, line) => (arg === bad ? s.drop() : DEFAULT_HANDLERS.RETR!(s, arg, line)),
      },
    });
    const { r, out, stored } = await copyFrom(server, { headerPass: true });
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(6);
    expect(out.result).toMatchObject({ copied: 7, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: 'u3', code: 'MESSAGE_FAILED' });
    expect(out.warnings.join('\n')).toMatch(/twice at message 3; its header is left unread and the listing goes on/);
    expect(stored.map((f) => f.bytes.toString()).sort()).toEqual([1, 2, 4, 5, 6, 7, 8].map((n) => message(n).toString().replace(/\r\n/g, '\n')).sort());
  });

  it('in the header pass only: the message is copied all the same, dated from its own header', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages,
      handlers: { TOP: (s, arg, line) => (arg.split(' ')[0] === '3' ? s.drop() : DEFAULT_HANDLERS.TOP!(s, arg, line)) },
    });
    const { r, out, stored } = await copyFrom(server, { headerPass: true });
    expect(server.seen('TOP').length).toBeGreaterThan(0);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(out.result).toMatchObject({ copied: 8, failed: 0 });
    const third = stored.find((f) => f.bytes.toString().includes('<m3@pop.test>'))!;
    expect(new Date(third.mtimeMs).toISOString()).toBe('2019-01-03T10:00:00.000Z');
  });
});

describe('a POP3 server without TOP (optional in RFC 1939)', () => {
  it('its messages are known by the Message-ID in their bodies: a lost checkpoint copies nothing twice; verify and --delete-source agree', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: messages.slice(0, 5),
      handlers: { TOP: (s) => void s.err('unknown command') },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-notop-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw' };
    const args = (cp: string, ...more: string[]) => ['copy', `pop3://u@127.0.0.1:${server!.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, cp), '--json', ...more];
    const first = envelope(await runCli(args('cp1'), { env }));
    expect(first.status, JSON.stringify(first.error)).toBe(0);
    expect(first.result).toMatchObject({ copied: 5 });
    // The checkpoint lost: the rerun finds every message in the destination by its Message-ID.
    const again = envelope(await runCli(args('cp2'), { env }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 0, skipped: 5 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')!).toHaveLength(5);
    const v = envelope(await runCli(['verify', `pop3://u@127.0.0.1:${server!.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--json'], { env }));
    expect(v.status, JSON.stringify(v.result ?? v.error)).toBe(0);
    expect(v.result).toMatchObject({ missing: 0, extra: 0 });
    const del = envelope(await runCli(args('cp2', '--delete-source'), { env }));
    expect(del.status).toBe(0);
    expect(del.result).toMatchObject({ deleted: 5, keptOnSource: 0 });
  });

  it('--since and --before filter on the date in the body: the dry run, the copy and --delete-source leave the rest alone', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: messages.slice(0, 5), // dated 1 to 5 January 2019
      handlers: { TOP: (s) => void s.err('unknown command') },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-notop-since-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw' };
    const args = (...more: string[]) => ['copy', `pop3://u@127.0.0.1:${server!.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--since', '2019-01-03', '--before', '2019-01-05', '--json', ...more];
    const plan = envelope(await runCli(args('--dry-run'), { env }));
    expect(plan.status, JSON.stringify(plan.error)).toBe(0);
    expect(plan.result).toMatchObject({ copy: 2, skipped: 3 });
    expect(plan.result.folders[0].skip).toEqual({ 'older than --since': 2, 'not before --before': 1 });
    const r = envelope(await runCli(args('--delete-source'), { env }));
    expect(r.status, JSON.stringify(r.error)).toBe(0);
    expect(r.result).toMatchObject({ copied: 2, filtered: 3, deleted: 2 });
    expect(readMaildirTree(join(work, 'md')).get('INBOX')!.map((f) => f.bytes.toString().match(/Subject: (\d)/)![1]).sort()).toEqual(['3', '4']);
    expect(server.seen('DELE').sort()).toEqual(['DELE 3', 'DELE 4']);
  });
});

describe('Ctrl-C during the header pass of a slow POP3 server', () => {
  for (const pipelining of [false, true]) it(`ends the pass at the next answer: exit 130 in a moment, not after every header (or twice --timeout)${pipelining ? '; the TOPs in flight are not waited for (PIPELINING)' : ''}`, async () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ uid: `s${i + 1}`, body: message((i % 8) + 1) }));
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining,
      messages: many,
      handlers: { TOP: async (s, arg, line) => (await new Promise((r) => setTimeout(r, 250)), DEFAULT_HANDLERS.TOP!(s, arg, line)) },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-pop-int-'));
    mailThere(join(work, 'md'));
    let sent = 0;
    const r = await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pw' },
      onSpawn: (c) => {
        const t = setInterval(() => {
          if (server!.seen('TOP').length >= 3) {
            clearInterval(t);
            sent = Date.now();
            c.kill('SIGINT');
          }
        }, 20);
        c.on('exit', () => clearInterval(t));
      },
    });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(130);
    // 40 TOPs at 250 ms each would be 10 s; the rest of the pass is not waited for.
    expect(Date.now() - sent).toBeLessThan(4000);
    expect(server.seen('TOP').length).toBeLessThan(40);
  });
});

describe('POP3 servers that say "later" or "never"', () => {
  it('[IN-USE] at login (another client holds the maildrop): waited out with back-off, then copied', async () => {
    let locked = 2;
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      messages: messages.slice(0, 3),
      handlers: { PASS: (s, arg, line) => (locked-- > 0 ? void s.err('[IN-USE] Mailbox is locked by another POP3 session') : DEFAULT_HANDLERS.PASS!(s, arg, line)) },
    });
    const { r, out } = await copyFrom(server);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(out.result).toMatchObject({ copied: 3 });
    expect(out.warnings.join('\n')).toMatch(/\[IN-USE\] Mailbox is locked.*; retry 1\/5 in/);
    expect(out.result.throttled?.count).toBe(2);
  });

  it('a server without UIDL is a configuration error (exit 3): no rerun changes it', async () => {
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', messages: messages.slice(0, 3), handlers: { UIDL: (s) => void s.err('unknown command UIDL') } });
    const out = envelope(await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(mkdtempSync(join(tmpdir(), 'mf-nouidl-')), 'md')}`, '--source-tls', 'none', '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pw' } }));
    expect(out.status).toBe(3);
    expect(out.error).toMatchObject({ code: 'BAD_CONFIG', message: expect.stringMatching(/refused UIDL: unknown command UIDL/), hint: expect.stringMatching(/needs UIDL/) });
  });
});

describe('several RETRs refused', () => {
  // Dovecot says "expunged" also of a message file it cannot read: a message a second session still lists fails.
  it('each failed message is reported with its own error (refused as expunged, yet still listed)', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: messages.slice(0, 6),
      handlers: { RETR: (s, arg, line) => (['2', '3', '4'].includes(arg) ? void s.err(`Message ${arg} expunged.`) : DEFAULT_HANDLERS.RETR!(s, arg, line)) },
    });
    const { r, out } = await copyFrom(server);
    expect(out.status, r.stderr.slice(-1500)).toBe(6);
    expect(out.result).toMatchObject({ copied: 3, failed: 3 });
    const byKey = Object.fromEntries(out.result.failures.map((f: { key: string; error: string }) => [f.key, f.error]));
    for (const n of [2, 3, 4]) expect(byKey[`u${n}`]).toMatch(new RegExp(`RETR ${n}\\b.*Message ${n} expunged`));
    expect(JSON.stringify(out.result.failures)).not.toMatch(/messages failed; first/);
  });

  /** Sessions after the first list every message but u2 (another client deleted it meanwhile). */
  const u2Deleted: FakeHandler = (s, arg, line) => {
    if (s.server.sessions.indexOf(s) === 0) return DEFAULT_HANDLERS.UIDL!(s, arg, line);
    const lines = s.server.messages.map((m, i) => (m.uid === 'u2' ? '' : `${i + 1} ${m.uid}\r\n`)).join('');
    return s.multiline('UIDL', 'unique-id listing follows', Buffer.from(lines, 'latin1'));
  };

  it('refused as expunged, and a second session no longer lists it: skipped as vanished (exit 0), and not asked for again', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: messages.slice(0, 4),
      handlers: { UIDL: u2Deleted, RETR: (s, arg, line) => (arg === '2' ? void s.err('Message 2 expunged.') : DEFAULT_HANDLERS.RETR!(s, arg, line)) },
    });
    const { r, out, stored } = await copyFrom(server);
    expect(out.status, JSON.stringify(out.result?.failures) + r.stderr.slice(-1500)).toBe(0);
    expect(out.result).toMatchObject({ copied: 3, skipped: 1, failed: 0 });
    expect(stored).toHaveLength(3);
    // Asked once, not again after it was found gone.
    expect(server.seen('RETR').filter((c) => c === 'RETR 2')).toHaveLength(1);
  });

  it('refused for another reason, or in other words: fails (exit 6), and no second session is opened to ask', async () => {
    for (const answer of ['[SYS/PERM] cannot read message', 'Message 2 expunged, maybe', 'Message 3 expunged.']) {
      server = await FakePop3Server.start({
        user: 'u',
        pass: 'pw',
        pipelining: true,
        messages: messages.slice(0, 4),
        handlers: { UIDL: u2Deleted, RETR: (s, arg, line) => (arg === '2' ? void s.err(answer) : DEFAULT_HANDLERS.RETR!(s, arg, line)) },
      });
      const { out } = await copyFrom(server);
      expect(out.status, answer).toBe(6);
      expect(out.result.failures).toMatchObject([{ key: 'u2', code: 'MESSAGE_FAILED' }]);
      expect(server.sessions, answer).toHaveLength(1);
      await server.close();
      server = undefined;
    }
  });

  it('refused as expunged, and the server refuses a second session (it locks the maildrop): fails as before (exit 6)', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: messages.slice(0, 4),
      handlers: {
        PASS: (s, arg, line) => (s.server.sessions.indexOf(s) === 0 ? DEFAULT_HANDLERS.PASS!(s, arg, line) : void s.err('[IN-USE] Mailbox is locked by another POP3 session')),
        RETR: (s, arg, line) => (arg === '2' ? void s.err('Message 2 expunged.') : DEFAULT_HANDLERS.RETR!(s, arg, line)),
      },
    });
    const { out } = await copyFrom(server);
    expect(out.status).toBe(6);
    expect(out.result).toMatchObject({ copied: 3, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: 'u2', error: expect.stringMatching(/refused RETR 2: Message 2 expunged\./) });
  });
});

// Dovecot with pop3_reuse_xuidl gives a message its own X-UIDL header as its UIDL: words with
// spaces or tabs, the same words as another message, or nothing at all (an empty header, "2 ").
describe('UIDLs taken from the messages (Dovecot pop3_reuse_xuidl)', () => {
  const xuidls = ['u1', '', 'has space', 'tab\tinside', 'dup', 'dup', 'dup 2', 'u8  '];
  const mixed = () => xuidls.map((uid, i) => ({ uid, body: message(i + 1) }));

  it('UIDLs of several words are keys, stable from run to run; a message without one fails alone (exit 6), is named by verify and the dry run, and is never deleted', async () => {
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', pipelining: true, messages: mixed() });
    const work = mkdtempSync(join(tmpdir(), 'mf-xuidl-'));
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pw' };
    const src = `pop3://u@127.0.0.1:${server.port}`;
    const md = `maildir:${join(work, 'md')}`;
    const args = (...more: string[]) => ['copy', src, md, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json', ...more];

    const r = await runCli(args(), { env });
    const first = envelope(r);
    expect(first.status, JSON.stringify(first.error) + r.stderr.slice(-1500)).toBe(6);
    expect(first.result).toMatchObject({ copied: 7, failed: 1 });
    expect(first.result.failures).toHaveLength(1);
    const failure = first.result.failures[0];
    expect(failure).toMatchObject({ code: 'MESSAGE_FAILED', error: expect.stringMatching(/message 2 no UIDL.*X-UIDL/) });
    expect(first.warnings.join('\n')).toMatch(/message 2 no UIDL/);
    const stored = readMaildirTree(join(work, 'md')).get('INBOX')!;
    expect(stored.map((f) => f.bytes.toString()).sort()).toEqual([1, 3, 4, 5, 6, 7, 8].map((n) => message(n).toString().replace(/\r\n/g, '\n')).sort());

    // The rerun knows every keyed message by its UIDL (no header read again); the one without still fails.
    const tops = server.seen('TOP').length;
    const again = envelope(await runCli(args(), { env }));
    expect(again.status, JSON.stringify(again.error)).toBe(6);
    expect(again.result).toMatchObject({ copied: 0, skipped: 0, failed: 1 });
    expect(again.result.folders[0]).toMatchObject({ listed: 8, already: 7, failed: 1 });
    expect(server.seen('TOP').length).toBe(tops);

    const plan = envelope(await runCli(args('--dry-run'), { env }));
    expect(plan.status, JSON.stringify(plan.error)).toBe(6);
    expect(plan.result).toMatchObject({ copy: 0, unreadable: 1 });
    const check = envelope(await runCli(['verify', src, md, '--source-tls', 'none', '--json'], { env }));
    expect(check.status, JSON.stringify(check.error)).toBe(6);
    expect(check.result).toMatchObject({ ok: false, missing: 0, unreadable: 1 });
    expect(check.result.unreadableList).toMatchObject([{ key: failure.key, error: expect.stringMatching(/message 2 no UIDL/) }]);

    const del = envelope(await runCli(args('--delete-source'), { env }));
    expect(del.status, JSON.stringify(del.error)).toBe(6);
    expect(del.result).toMatchObject({ failed: 1, deleted: 7 });
    expect(server.seen('DELE').sort()).toEqual(['DELE 1', 'DELE 3', 'DELE 4', 'DELE 5', 'DELE 6', 'DELE 7', 'DELE 8']);
  });
});

describe("Dovecot's limit of sessions per user and address at login ([IN-USE], mail_max_userip_connections)", () => {
  const limit = '[IN-USE] Maximum number of connections from user+IP exceeded.';

  it('waited out, one warning per wait; everything copied', async () => {
    let refused = 2;
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', messages: messages.slice(0, 3), handlers: { PASS: (s, arg, line) => (refused-- > 0 ? void s.err(limit) : DEFAULT_HANDLERS.PASS!(s, arg, line)) } });
    const { r, out } = await copyFrom(server);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(out.result).toMatchObject({ copied: 3 });
    expect(out.result.throttled?.count).toBe(2);
    const waits = out.warnings.filter((w: string) => w.includes('Maximum number of connections'));
    expect(waits).toHaveLength(2);
    expect(waits[0]).toMatch(/exceeded; retry 1\/5 in \d+ ms$/);
    expect(waits[1]).toMatch(/exceeded; retry 2\/5 in \d+ ms$/);
  });

  it('with no retries left: exit 5, with a hint that names the limit as well as another session', async () => {
    server = await FakePop3Server.start({ user: 'u', pass: 'pw', messages: messages.slice(0, 3), handlers: { PASS: (s) => void s.err(limit) } });
    const out = envelope(await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(mkdtempSync(join(tmpdir(), 'mf-inuse-')), 'md')}`, '--source-tls', 'none', '--retries', '0', '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pw' } }));
    expect(out.status).toBe(5);
    expect(out.error).toMatchObject({ code: 'THROTTLED', hint: expect.stringMatching(/another session.*limit of sessions/) });
  });
});
