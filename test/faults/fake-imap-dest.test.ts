// An IMAP destination that refuses one message: NO [OVERQUOTA] to every APPEND of it. Through the
// real CLI, fake servers on both ends: that message alone fails, with the server's reason; the
// others are appended exactly once; exit 6.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { fakeMessage, sandbox } from './helpers.js';

describe('NO [OVERQUOTA] on the APPEND of one message', () => {
  let src: FakeImapServer;
  let dst: FakeImapServer;
  const msgs = [1, 2, 3, 4, 5].map((n) => ({ uid: n, body: fakeMessage(n) }));
  beforeAll(async () => {
    src = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
    dst = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [] }],
      hook: (s, tag, name) => {
        if (name !== 'APPEND') return false;
        const body = s.server.lastLiteral;
        if (!body?.includes('Subject: message 3')) return false;
        s.send(`${tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n`);
        return true;
      },
    });
  });
  afterAll(async () => {
    await src.stop();
    await dst.stop();
  });

  it('fails that message with the reason, appends the others once, exits 6', async () => {
    const box = sandbox('mf-quota-');
    const r = await runCli(
      ['copy', `imap://u@127.0.0.1:${src.port}`, `imap://u@127.0.0.1:${dst.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'],
      { env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' } },
    );
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(4);
    expect(out.result.failures).toHaveLength(1);
    expect(out.result.failures[0].key).toBe('3');
    expect(out.result.failures[0].error).toMatch(/quota/i);
    const appended = dst.appended.map((a) => a.body.toString('latin1'));
    for (const m of msgs.filter((x) => x.uid !== 3)) expect(appended.filter((a) => a === m.body.toString('latin1')), `message ${m.uid}`).toHaveLength(1);
    expect(appended.some((a) => a.includes('Subject: message 3'))).toBe(false);
  });
});

describe("the destination's APPENDLIMIT", () => {
  it('a message above it is not fetched, not appended, and reported with the reason', async () => {
    const small = fakeMessage(1);
    const big = fakeMessage(2, { bodyLines: 40 });
    const src = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: small }, { uid: 2, body: big }] }] });
    const limit = small.length + 100;
    const dst = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [] }], capabilities: [`APPENDLIMIT=${limit}`] });
    try {
      const box = sandbox('mf-alimit-');
      const r = await runCli(
        ['copy', `imap://u@127.0.0.1:${src.port}`, `imap://u@127.0.0.1:${dst.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'],
        { env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' } },
      );
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(6);
      expect(out.result.copied).toBe(1);
      expect(out.result.failures).toHaveLength(1);
      expect(out.result.failures[0]).toMatchObject({ key: '2', code: 'MESSAGE_TOO_LARGE' });
      expect(out.result.failures[0].error).toContain(`the limit is ${limit} (the destination's APPENDLIMIT)`);
      expect(dst.appended).toHaveLength(1);
      expect(src.commands.some((c) => /FETCH (\S*,)?2[\s,:]\S* ?\(UID BODY\.PEEK\[\]/.test(c) || /FETCH 1:2 \(UID BODY/.test(c))).toBe(false);
    } finally {
      await src.stop();
      await dst.stop();
    }
  });
});

describe('NO [LIMIT] "Mail size is larger than the maximum size allowed" on one APPEND (Dovecot quota_max_mail_size)', () => {
  it('that message fails as too large at once (not as throttling, waited out and retried), the others are appended, exit 6', async () => {
    const src = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [1, 2, 3].map((n) => ({ uid: n, body: fakeMessage(n) })) }] });
    let refusals = 0;
    const dst = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [] }],
      hook: (s, tag, name) => {
        if (name !== 'APPEND' || !s.server.lastLiteral?.includes('Subject: message 2')) return false;
        refusals++;
        s.send(`${tag} NO [LIMIT] Mail size is larger than the maximum size allowed by server configuration\r\n`);
        return true;
      },
    });
    try {
      const box = sandbox('mf-limit-');
      const r = await runCli(
        ['copy', `imap://u@127.0.0.1:${src.port}`, `imap://u@127.0.0.1:${dst.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'],
        { env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' } },
      );
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(6);
      expect(out.result.copied).toBe(2);
      expect(out.result.failures).toEqual([expect.objectContaining({ key: '2', code: 'MESSAGE_TOO_LARGE', error: expect.stringMatching(/too large for the server \(\[?.*Mail size is larger/) })]);
      expect(out.result.throttled).toBeUndefined();
      // Refused once alone (after its batch), never waited out and sent again and again.
      expect(refusals).toBeLessThanOrEqual(2);
    } finally {
      await src.stop();
      await dst.stop();
    }
  });
});

describe('an IMAP destination over quota, messages known by their bytes (no Message-ID)', () => {
  it('each refused message fails (exit 6), none is taken for a duplicate of itself; once there is room the rerun copies them, once each', async () => {
    const msgs = [1, 2, 3].map((n) => ({ uid: n, body: fakeMessage(n, { messageId: null }) }));
    let full = true;
    const src = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
    const dst = await FakeImapServer.start({
      // A folder that already holds mail (an empty one is copied again as lost).
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(9) }] }],
      hook: (s, tag, name) => {
        if (name !== 'APPEND' || !full) return false;
        s.send(`${tag} NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n`);
        return true;
      },
    });
    try {
      const box = sandbox('mf-quota-content-');
      const run = async () =>
        envelope(
          await runCli(['copy', `imap://u@127.0.0.1:${src.port}`, `imap://u@127.0.0.1:${dst.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], {
            env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' },
          }),
        );
      const first = await run();
      expect(first.status, JSON.stringify(first.result ?? first.error)).toBe(6);
      expect(first.result).toMatchObject({ copied: 0, skipped: 0, failed: 3 });
      full = false;
      const again = await run();
      expect(again.status, JSON.stringify(again.result ?? again.error)).toBe(0);
      expect(again.result).toMatchObject({ copied: 3, failed: 0 });
      const appended = dst.appended.map((a) => a.body.toString('latin1'));
      for (const m of msgs) expect(appended.filter((a) => a === m.body.toString('latin1')), `message ${m.uid}`).toHaveLength(1);
    } finally {
      await src.stop();
      await dst.stop();
    }
  });
});

describe("an IMAP destination's connection limit at LOGIN (Dovecot's mail_max_userip_connections)", () => {
  it('writers refused at login wait and try again: fewer workers, everything appended once, exit 0', async () => {
    const box = sandbox('mf-dest-limit-');
    const src = join(box, 'src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    for (let i = 1; i <= 1200; i++) writeFileSync(join(src, 'cur', `${i}.m.host:2,S`), `Message-ID: <lim-${i}@dest>\nSubject: ${i}\n\nbody ${i}\n`);
    let refused = 0;
    const dst: FakeImapServer = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [] }],
      hook: (s, tag, name) => {
        if (name !== 'LOGIN') return false;
        // Three logged-in sessions at most, as the server counts them (closed ones do not count).
        const open = dst.sessions.filter((x) => !x.closed && x !== s && (x as unknown as { loggedIn?: boolean }).loggedIn).length;
        if (open >= 3) return (refused++, s.send(`${tag} NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=3)\r\n`), true);
        (s as unknown as { loggedIn?: boolean }).loggedIn = true;
        return false;
      },
    });
    try {
      const r = await runCli(['copy', `maildir:${src}`, `imap://u@127.0.0.1:${dst.port}`, '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '-j', '6', '--json'], {
        env: { MAILFERRY_DEST_PASSWORD: 'pass' },
      });
      const out = envelope(r);
      expect(refused, 'the limit was met').toBeGreaterThan(0);
      expect(out.status, `${r.stderr} ${JSON.stringify(out.error)}`).toBe(0);
      expect(out.result.copied).toBe(1200);
      expect(new Set(dst.appended.map((a) => a.body.toString('latin1'))).size).toBe(1200);
      expect(dst.appended).toHaveLength(1200);
    } finally {
      await dst.stop();
    }
  });
});

describe('a duplicate waiting for a message whose APPEND may have landed (its connection lost before the OK)', () => {
  for (const mid of ['<same@x>', null]) {
    it(`is not stored in its place (it fails, exit 6); the rerun asks the destination and stores nothing twice (${mid ? 'same Message-ID' : 'same bytes, --dedupe content'})`, async () => {
      const body = (n: number) => (mid ? fakeMessage(n, { messageId: mid }) : fakeMessage(1, { messageId: null }));
      const msgs = [1, 2].map((n) => ({ uid: n, body: body(n) }));
      const src = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
      let dropped = 0;
      const held = { name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(9) }] };
      const dst = await FakeImapServer.start({
        store: true,
        mailboxes: [held],
        hook: (s, tag, name) => {
          if (name !== 'APPEND' || dropped > 0) return false;
          // Stored, then the connection is lost before the OK.
          const b = s.server.lastLiteral!;
          s.server.appended.push({ mailbox: 'INBOX', body: b, flags: '' });
          held.messages.push({ uid: 100, body: Buffer.from(b) });
          dropped++;
          s.socket.destroy();
          return true;
        },
      });
      try {
        const box = sandbox('mf-claim-doubt-');
        const args = ['copy', `imap://u@127.0.0.1:${src.port}`, `imap://u@127.0.0.1:${dst.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--retries', '0', '-j', '1', ...(mid ? [] : ['--dedupe', 'content'])];
        const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
        const first = envelope(await runCli(args, { env }));
        expect(first.status).toBe(6);
        expect(first.result.failures.map((f: { error: string }) => f.error).join('\n')).toMatch(/may have been stored just before a connection was lost/);
        const again = envelope(await runCli(args, { env }));
        expect(again.status, JSON.stringify(again.result?.failures ?? again.error)).toBe(0);
        expect(again.result.copied).toBe(0);
        // One copy of the message: the one whose OK was lost.
        expect(held.messages).toHaveLength(2);
      } finally {
        await src.stop();
        await dst.stop();
      }
    });
  }
});
