// A server that answers one command without end, at full speed: folder names of tens of
// megabytes (held until the LIST ends: with a dozen of them Node ran out of memory and crashed
// with a V8 trace), or an endless flood of untagged lines (the run never ended). Each command's
// answer has a budget (answer-budget.ts): past it the connection is cut, with one clear line.
// Real CLI against a fake IMAP server.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer, type FakeImapSession } from '../harness/fake-imap.js';
import { fakeMessage, sandbox } from './helpers.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function copyFrom(srv: FakeImapServer) {
  const box = sandbox('mf-endless-');
  const started = Date.now();
  const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${join(box, 'dest')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '--timeout', '5', '--retries', '1'], {
    env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
    timeoutMs: 90_000,
  });
  return { r, out: envelope(r), seconds: (Date.now() - started) / 1000 };
}

/** Sends `lines()` until the client goes away, minding back-pressure. */
async function flood(s: FakeImapSession, lines: () => Buffer): Promise<void> {
  while (!s.closed) await s.sendAll(lines());
}

describe('a command answered without end', () => {
  it('a LIST of folder names of 30 MB each: cut past 64 MB, exit 5 with one line (no crash, no folder made)', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: (s, tag, name) => {
        if (name !== 'LIST') return false;
        void (async () => {
          const name30 = Buffer.alloc(30 * 1024 * 1024, 'a');
          for (let i = 0; i < 4 && !s.closed; i++) {
            await s.sendAll(Buffer.concat([Buffer.from(`* LIST () "/" {${name30.length}}\r\n`), name30, Buffer.from('\r\n')]));
          }
          s.send(`${tag} OK LIST done\r\n`);
        })();
        return true;
      },
    });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await copyFrom(srv);
    expect(out.status, r.stderr).toBe(5);
    expect(out.error?.code).toBe('PROTOCOL');
    expect(out.error?.message).toMatch(/^127\.0\.0\.1:\d+ sent more than 64 MB answering LIST: cut$/);
    expect(r.stderr).not.toMatch(/\n\s+at |FATAL|heap/);
    expect(seconds).toBeLessThan(60);
  });

  it('a LIST announcing a literal of 4 GiB: exit 5, a protocol error (not a message too large, exit 6: no message is at fault)', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: (s, _tag, name) => (name === 'LIST' ? (s.send('* LIST () "/" {4294967296}\r\n'), true) : false),
    });
    closers.push(() => srv.stop());
    const { r, out } = await copyFrom(srv);
    expect(out.status, r.stderr).toBe(5);
    expect(out.error?.code).toBe('PROTOCOL');
    expect(out.error?.message).toMatch(/in its answer$/);
  });

  it('an endless flood of untagged lines answering the listing: the folder fails past 64 MB (exit 6), the run ends', async () => {
    const srv = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: fakeMessage(1) }] }],
      hook: (s, _tag, name) => {
        if (name !== 'UID SEARCH') return false;
        const line = Buffer.from(`* OK ${'x'.repeat(16 * 1024)}\r\n`);
        const chunk = Buffer.concat(Array.from({ length: 64 }, () => line));
        void flood(s, () => chunk);
        return true;
      },
    });
    closers.push(() => srv.stop());
    const { r, out, seconds } = await copyFrom(srv);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.folders[0].error).toMatch(/sent more than 64 MB answering UID SEARCH: cut/);
    expect(seconds).toBeLessThan(60);
  });
});
