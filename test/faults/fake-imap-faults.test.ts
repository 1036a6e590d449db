// What Dovecot will not do on demand, from a scriptable fake IMAP server, through the real CLI:
// throttling answers (Office 365's suggested back-off, [LIMIT], [UNAVAILABLE], BYE), an absurd
// literal, a literal that stops half-way, a FETCH that never ends, a message over the size limit.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer, type FakeImapOptions } from '../harness/fake-imap.js';
import { crlfToLfBytes, destMessages, fakeMessage, sandbox } from './helpers.js';

let srv: FakeImapServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

const inbox = (n: number) => Array.from({ length: n }, (_, i) => ({ uid: i + 1, body: fakeMessage(i + 1) }));

async function copyFrom(opts: FakeImapOptions, extra: string[] = []) {
  srv = await FakeImapServer.start(opts);
  const box = sandbox('mf-fakef-');
  const dest = join(box, 'dest');
  const started = Date.now();
  const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', ...extra], {
    env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
  });
  return { r, out: envelope(r), dest, seconds: (Date.now() - started) / 1000, srv };
}

const isBodyFetch = (name: string, args: string) => name === 'UID FETCH' && /BODY\.PEEK\[\]/i.test(args);

describe('throttling', () => {
  it("Office 365's 'Request is throttled. Suggested Backoff Time': waited out, reported with when and how long, workers backed off", async () => {
    let throttles = 2;
    const { r, out, dest } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: inbox(6) }],
      hook: (s, tag, name, args) => {
        if (!isBodyFetch(name, args) || throttles <= 0) return false;
        throttles--;
        s.send(`${tag} BAD Request is throttled. Suggested Backoff Time: 700 milliseconds\r\n`);
        return true;
      },
    });
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(6);
    expect(destMessages(dest).get('INBOX')!.length).toBe(6);
    const t = out.result.throttled;
    expect(t, JSON.stringify(out)).toBeDefined();
    expect(t.count).toBe(2);
    expect(t.totalWaitMs).toBeGreaterThanOrEqual(1400);
    expect(t.minWorkers).toBe(1);
    expect(Date.parse(t.first)).toBeLessThanOrEqual(Date.parse(t.last));
    expect(t.events[0].message).toMatch(/Suggested Backoff Time: 700/);
    expect(out.warnings.join('\n')).toMatch(/throttled by the server, waiting 0\.7 s/);
  });

  it("a provider's connection limit at LOGIN (NO [LIMIT], Gmail's \"Too many simultaneous connections\"): throttling, fewer workers, everything copied — not a wrong password (exit 4)", async () => {
    for (const refusal of ['NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=2)', 'NO [ALERT] Too many simultaneous connections. (Failure)']) {
      let refused = 0;
      const { r, out, dest } = await copyFrom(
        {
          mailboxes: [{ name: 'INBOX', messages: inbox(400) }, { name: 'Other', messages: inbox(400) }],
          hook: (s, tag, name) => {
            if (name !== 'LOGIN') return false;
            // Two logged-in sessions at most, as the server counts them (closed ones do not count).
            const open = srv!.sessions.filter((x) => !x.closed && x !== s && (x as unknown as { loggedIn?: boolean }).loggedIn).length;
            if (open >= 2) return void refused++, void s.send(`${tag} ${refusal}\r\n`), true;
            (s as unknown as { loggedIn?: boolean }).loggedIn = true;
            return false;
          },
        },
        ['-j', '4'],
      );
      expect(refused, 'the limit was met').toBeGreaterThan(0);
      expect(out.status, `${refusal}: ${r.stderr} ${JSON.stringify(out.error)}`).toBe(0);
      expect(out.result.copied).toBe(800);
      expect(destMessages(dest).get('INBOX')!.length).toBe(400);
      expect(out.warnings.join('\n')).toMatch(/is throttling/);
      await srv!.stop();
      srv = undefined;
    }
  });

  it('NO [AUTHENTICATIONFAILED] with words like a limit ("Too many failed logins") stays a failed login: exit 4, no retrying a bad password', async () => {
    const { r, out } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: inbox(1) }],
      hook: (s, tag, name) => (name === 'LOGIN' ? (s.send(`${tag} NO [AUTHENTICATIONFAILED] Too many failed logins for this account; rate limit exceeded\r\n`), true) : false),
    });
    expect(out.status, r.stderr).toBe(4);
    expect(out.error?.code).toBe('AUTH_FAILED');
  });

  it('NO [UNAVAILABLE] Temporary authentication failure at the first login: exit 5 (rerun), not exit 4', async () => {
    const { r, out } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: inbox(1) }],
      hook: (s, tag, name) => (name === 'LOGIN' ? (s.send(`${tag} NO [UNAVAILABLE] Temporary authentication failure.\r\n`), true) : false),
    });
    expect(out.status, r.stderr).toBe(5);
    expect(out.error?.code).toBe('THROTTLED');
  });

  it('NO [LIMIT] with "retry after N seconds" on a body FETCH: the batch waits that long and resumes', async () => {
    let once = true;
    const { r, out, seconds } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: inbox(5) }],
      hook: (s, tag, name, args) => {
        if (!isBodyFetch(name, args) || !once) return false;
        once = false;
        s.send(`${tag} NO [LIMIT] Too many concurrent FETCH commands, retry after 1 seconds\r\n`);
        return true;
      },
    });
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(5);
    expect(out.result.throttled.count).toBe(1);
    expect(out.result.throttled.totalWaitMs).toBeGreaterThanOrEqual(1000);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(out.warnings.join('\n')).toMatch(/\[LIMIT\].*retry 1\/5/);
  });

  it('a server that answers NO, and nothing else, to any FETCH naming one message: that message fails alone, the rest is copied', async () => {
    const names = (set: string, uid: number) =>
      set.split(',').some((r) => {
        const [a, b] = r.split(':').map((x) => (x === '*' ? Infinity : Number(x)));
        return uid >= a && uid <= (b ?? a);
      });
    let refused = 0;
    const { r, out, dest } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: inbox(20) }],
      hook: (s, tag, name, args) => {
        if (name !== 'UID FETCH' || !names(args.split(' ')[0], 7)) return false;
        refused++;
        s.send(`${tag} NO [SERVERBUG] Internal error occurred. Refer to server log for more information.\r\n`);
        return true;
      },
    });
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 19, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: '7', code: 'MESSAGE_FAILED' });
    expect(out.result.failures[0].error).toMatch(/^the server could not read message 7: .*Internal error occurred/);
    expect(out.warnings.join('\n')).toMatch(/listing INBOX: .*reconnecting, to list the rest in halves/);
    const stored = destMessages(dest).get('INBOX')!;
    expect(stored.length).toBe(19);
    expect(stored.some((b) => b.equals(crlfToLfBytes(fakeMessage(7))))).toBe(false);
    // Found by halving the listing, not by asking for each message: a handful of refusals.
    expect(refused).toBeLessThanOrEqual(6);
  });

  it('a FETCH that ends OK without the body of a message still in the folder: that message fails (not "vanished"), one expunged meanwhile is vanished', async () => {
    const messages = inbox(8).map((m) => ({ ...m, bodyless: m.uid === 3 ? ('row' as const) : m.uid === 5 ? ('nil' as const) : m.uid === 6 ? ('omit' as const) : undefined }));
    let expunged = false;
    const { r, out, dest } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages }],
      hook: (s, _tag, name, args) => {
        // Message 7 is expunged between the listing and the bodies.
        if (isBodyFetch(name, args) && !expunged) {
          expunged = true;
          const box = s.server.opts.mailboxes.find((m) => m.name === 'INBOX')!;
          box.messages = box.messages.filter((m) => m.uid !== 7);
        }
        return false;
      },
    });
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 4, failed: 3, skipped: 1 });
    expect(out.result.failures.map((f: { key: string }) => f.key).sort()).toEqual(['3', '5', '6']);
    for (const f of out.result.failures) expect(f.error).toMatch(/^the server did not send message \d, which is still in the folder$/);
    expect(destMessages(dest).get('INBOX')!.length).toBe(4);
  });

  it('verify and the dry run: a message without a Message-ID whose body the server leaves out is named unreadable, the rest compared', async () => {
    const messages = inbox(5).map((m) => (m.uid === 2 ? { ...m, body: fakeMessage(2, { messageId: null }), bodyless: 'row' as const } : m));
    const { out, dest } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages }] });
    expect(out.result).toMatchObject({ copied: 4, failed: 1 });
    const args = [`imap://u@127.0.0.1:${srv!.port}`, `maildir:${dest}`, '--source-tls', 'none', '--json'];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
    const check = envelope(await runCli(['verify', ...args], { env }));
    expect(check.status, JSON.stringify(check.error)).toBe(6);
    expect(check.result).toMatchObject({ ok: false, missing: 0, unreadable: 1, messages: 5 });
    expect(check.result.unreadableList[0]).toMatchObject({ folder: 'INBOX', key: '2' });
    const plan = envelope(await runCli(['copy', ...args, '--restart', '--dry-run'], { env }));
    expect(plan.status, JSON.stringify(plan.error)).toBe(6);
    expect(plan.result).toMatchObject({ copy: 0, unreadable: 1 });
  });

  it('verify and the dry run: a server that drops the connection at the body of a message without a Message-ID: it is named unreadable, the rest compared', async () => {
    const messages = inbox(6).map((m) => (m.uid === 2 || m.uid === 5 ? { ...m, body: fakeMessage(m.uid, { messageId: null }) } : m));
    const { out, dest } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages }] });
    expect(out.result).toMatchObject({ copied: 6 });
    // Now the body of message 2 cannot be read: the server drops the connection at it, every time.
    // And the first FETCH of message 5's body is dropped once (a passing fault): it is read again.
    let dropsOf5 = 1;
    srv!.opts.hook = (s, _tag, name, args) => {
      if (!isBodyFetch(name, args)) return false;
      const set = args.split(' ')[0];
      const has = (uid: number) => set.split(',').some((r) => { const [a, b] = r.split(':').map(Number); return uid >= a && uid <= (b ?? a); });
      if (has(2) || (has(5) && dropsOf5-- > 0)) {
        s.socket.destroy();
        return true;
      }
      return false;
    };
    const args = [`imap://u@127.0.0.1:${srv!.port}`, `maildir:${dest}`, '--source-tls', 'none', '--json'];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
    const check = envelope(await runCli(['verify', ...args], { env }));
    expect(check.status, JSON.stringify(check.error)).toBe(6);
    // Its earlier copy in the destination cannot be matched to it (no digest of the source): extra.
    expect(check.result).toMatchObject({ ok: false, missing: 0, extra: 1, unreadable: 1, messages: 6 });
    expect(check.result.unreadableList[0]).toMatchObject({ folder: 'INBOX', key: '2' });
    const plan = envelope(await runCli(['copy', ...args, '--restart', '--dry-run'], { env }));
    expect(plan.status, JSON.stringify(plan.error)).toBe(6);
    expect(plan.result).toMatchObject({ copy: 0, unreadable: 1 });
    // --retries 0: nothing is asked twice, so the dropped FETCH ends verify (the network exit).
    const strict = await runCli(['verify', ...args, '--retries', '0'], { env });
    expect(envelope(strict).status).toBe(5);
  });

  it('a listing FETCH that ends OK without a message still in the folder: it fails, and the folder is not recorded complete (the rerun asks again)', async () => {
    const messages = inbox(6).map((m) => (m.uid === 4 ? { ...m, unlisted: true } : m));
    const { out, dest, srv: server } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages }] });
    expect(out.status).toBe(6);
    expect(out.result).toMatchObject({ copied: 5, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: '4', code: 'MESSAGE_FAILED', error: 'the server did not list message 4, which is still in the folder' });
    expect(destMessages(dest).get('INBOX')!.length).toBe(5);
    // Readable now: the next run (same checkpoint) lists the folder again and copies it.
    delete (server.opts.mailboxes[0].messages[3] as { unlisted?: boolean }).unlisted;
    const again = envelope(await runCli(['copy', `imap://u@127.0.0.1:${server.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(dest, '..', 'cp'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 1, failed: 0 });
    expect(destMessages(dest).get('INBOX')!.length).toBe(6);
  });

  it('STATUS answered NO [UNAVAILABLE], then a BYE in the middle of the listing: the control connection reconnects', async () => {
    let statusNo = 1;
    let bye = 1;
    const { r, out, srv: server } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: inbox(4) }],
      hook: (s, tag, name, args) => {
        if (name === 'STATUS' && statusNo > 0) {
          statusNo--;
          s.send(`${tag} NO [UNAVAILABLE] Backend temporarily unavailable\r\n`);
          return true;
        }
        if (name === 'UID FETCH' && /RFC822\.SIZE/i.test(args) && bye > 0) {
          bye--;
          s.send('* BYE Server shutting down for maintenance\r\n');
          s.socket.end();
          return true;
        }
        return false;
      },
    });
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(4);
    expect(out.warnings.join('\n')).toMatch(/STATUS INBOX: .*\[UNAVAILABLE\].*reconnecting, retry 1\/5/);
    expect(out.warnings.join('\n')).toMatch(/listing INBOX: .*Server shutting down.*reconnecting/);
    expect(server.sessions.length).toBeGreaterThanOrEqual(3); // control, its replacement, a reader
  });
});

describe('hostile literals and fetches', () => {
  it('an absurd literal size fails that message alone (MESSAGE_TOO_LARGE), the rest is copied', async () => {
    const msgs = inbox(4);
    const { r, out, dest } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages: msgs.map((m) => (m.uid === 2 ? { ...m, literalSize: 99_999_999_999 } : m)) }] });
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(3);
    expect(out.result.failures.map((f: { key: string; code: string }) => [f.key, f.code])).toEqual([['2', 'MESSAGE_TOO_LARGE']]);
    expect(destMessages(dest).get('INBOX')!.map((b) => b.toString('latin1')).sort()).toEqual(
      msgs.filter((m) => m.uid !== 2).map((m) => crlfToLfBytes(m.body).toString('latin1')).sort(),
    );
  });

  it('a literal that stops half-way: the idle timeout fires, retries are bounded, exit 6 names the message', async () => {
    const { r, out, dest, seconds } = await copyFrom(
      {
        mailboxes: [
          { name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1), stallAfter: 40 }] },
          { name: 'Other', messages: [{ uid: 1, body: fakeMessage(2) }] },
        ],
      },
      ['--timeout', '2', '--retries', '1'],
    );
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.failures).toHaveLength(1);
    expect(out.result.failures[0]).toMatchObject({ folder: 'INBOX', key: '1', code: 'TIMEOUT' });
    expect(out.result.failures[0].error).toMatch(/sent nothing for 2 s/);
    expect(destMessages(dest).get('Other')!.length).toBe(1);
    expect(seconds).toBeLessThan(30);
  });

  it('a FETCH that never ends (the same answer forever) is cut off and resumed; nothing is stored twice', async () => {
    const msgs = [{ uid: 1, body: fakeMessage(1), endless: true }, { uid: 2, body: fakeMessage(2) }, { uid: 3, body: fakeMessage(3) }];
    const { r, out, dest, seconds } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages: msgs }] }, ['--retries', '1']);
    // Message 1 arrived (once) before the server started repeating it; the batch resumes after it.
    expect(out.status, r.stderr).toBe(0);
    expect(out.warnings.join('\n')).toMatch(/keeps answering a FETCH of 3 messages/);
    expect(out.result.copied).toBe(3);
    const got = destMessages(dest).get('INBOX')!.map((b) => b.toString('latin1')).sort();
    expect(got).toEqual(msgs.map((m) => crlfToLfBytes(m.body).toString('latin1')).sort());
    expect(seconds).toBeLessThan(30);
  });

  it('a listing that never ends is cut off as a folder error', async () => {
    const { r, out } = await copyFrom({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: async (s, tag, name, args) => {
        if (!(name === 'UID FETCH' && /RFC822\.SIZE/i.test(args))) return false;
        for (let i = 0; i < 3000 && !s.closed; i++) s.send(`* 1 FETCH (UID ${i + 1} RFC822.SIZE 10 FLAGS ())\r\n`);
        s.send(`${tag} OK done\r\n`);
        return true;
      },
    });
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.folders[0].error).toMatch(/keeps answering the listing/);
  });
});

describe('size limits', () => {
  it('a message over --max-message-size is never fetched and is reported with the reason', async () => {
    const msgs = inbox(3).map((m) => (m.uid === 3 ? { ...m, claimedSize: 300 * 1024 * 1024 } : m));
    const { r, out, srv: server } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(2);
    expect(out.result.failures).toHaveLength(1);
    expect(out.result.failures[0]).toMatchObject({ key: '3', code: 'MESSAGE_TOO_LARGE' });
    expect(out.result.failures[0].error).toMatch(/314572800 bytes, the limit is 268435456 \(--max-message-size\)/);
    const bodyFetches = server.commands.filter((c) => /BODY\.PEEK\[\]/i.test(c));
    expect(bodyFetches.length).toBeGreaterThan(0);
    expect(bodyFetches.some((c) => /FETCH (\S*,)?3[\s,:]/.test(c))).toBe(false);
  });
});

describe('size limits, a server that understates them', () => {
  it('a message larger than its RFC822.SIZE said, and than --max-message-size: it fails as too large, not stored', async () => {
    const big = Buffer.concat([fakeMessage(2), Buffer.from('x'.repeat(150 * 1024) + '\r\n')]); // within the literal limit (2× up to 1 MB more)
    const msgs = inbox(3).map((m) => (m.uid === 2 ? { ...m, body: big, claimedSize: 100 } : m));
    const { r, out, dest } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages: msgs }] }, ['--max-message-size', '100K']);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ copied: 2, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: '2', code: 'MESSAGE_TOO_LARGE' });
    expect(out.result.failures[0].error).toMatch(new RegExp(`message too large: ${big.length} bytes, the limit is 102400`));
    expect(destMessages(dest).get('INBOX')!.length).toBe(2);
  });
});

describe('Message-IDs of megabytes', () => {
  it('a server whose every Message-ID is a megabyte: no ref holds one (each message is known by its bytes), all copied once', async () => {
    const huge = (i: number) => Buffer.from(`Message-ID: <${String(i).padStart(4, '0')}${'m'.repeat(1 << 20)}@huge.example>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`);
    const messages = Array.from({ length: 20 }, (_, i) => ({ uid: i + 1, body: huge(i) }));
    const { r, out, dest } = await copyFrom({ mailboxes: [{ name: 'INBOX', messages }] });
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(20);
    expect(destMessages(dest).get('INBOX')!.length).toBe(20);
    // a rerun without the checkpoint finds them all by content, copies none
    const again = await runCli(['copy', `imap://u@127.0.0.1:${srv!.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(dest, '..', 'cp2'), '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    expect(envelope(again).result).toMatchObject({ copied: 0, skipped: 20 });
  });
});

describe('a token command run for every connection (xoauth2) at -j 8', () => {
  it('adds no process listener per run: no MaxListenersExceededWarning on stderr, everything copied', async () => {
    const msgs = Array.from({ length: 3000 }, (_, i) => ({ uid: i + 1, body: fakeMessage(i + 1) }));
    const src = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: msgs }],
      capabilities: ['AUTH=XOAUTH2', 'SASL-IR'],
      hook: (s, tag, name) => (name === 'AUTHENTICATE' ? (s.send(`${tag} OK logged in\r\n`), true) : false),
    });
    try {
      const box = sandbox('mf-oauth-many-');
      const r = await runCli(['copy', `imap://u@127.0.0.1:${src.port}`, `maildir:${join(box, 'd')}`, '--source-tls', 'none', '--source-auth', 'xoauth2', '--source-password-command', 'sleep 0.1; echo tok-abcdefghijkl', '-j', '8', '--checkpoint', join(box, 'cp'), '--json']);
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(0);
      expect(out.result.copied).toBe(3000);
      expect(r.stderr).not.toMatch(/MaxListenersExceeded|Warning/);
    } finally {
      await src.stop();
    }
  });
});

describe('a plain IMAP server without STARTTLS, and imap:// (STARTTLS required by default)', () => {
  it('exit 4 "does not offer STARTTLS", the password never sent', async () => {
    const srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [] }] });
    try {
      const out = envelope(await runCli(['folders', `imap://u@127.0.0.1:${srv.port}`, '--json'], { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } }));
      expect(out.status).toBe(4);
      expect(out.error).toMatchObject({ code: 'TLS_UNAVAILABLE', message: expect.stringMatching(/does not offer STARTTLS/) });
      expect(srv.commands.some((c) => /LOGIN|AUTHENTICATE/i.test(c))).toBe(false);
    } finally {
      await srv.stop();
    }
  });
});
