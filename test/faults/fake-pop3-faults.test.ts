// A POP3 server that drops the connection at one message, every time (a message it cannot read),
// through the real CLI: what Dovecot will not do on demand (it answers -ERR there). The header pass
// and the RETRs go on around that message; it alone fails, and the rest of the box is copied. One
// whose header alone cannot be read (TOP) is copied all the same, dated from its own header.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { DEFAULT_HANDLERS, FakePop3Server } from '../harness/fake-pop3.js';
import { readMaildirTree } from '../harness/maildir-read.js';

let server: FakePop3Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const message = (n: number) => Buffer.from(`Message-ID: <m${n}@pop.test>\r\nDate: Tue, 0${n} Jan 2019 10:00:00 +0000\r\nSubject: ${n}\r\n\r\nbody of ${n}\r\n`, 'latin1');
const messages = Array.from({ length: 8 }, (_, i) => ({ uid: `u${i + 1}`, body: message(i + 1) }));

async function copyFrom(srv: FakePop3Server) {
  const work = mkdtempSync(join(tmpdir(), 'mf-fakepop-'));
  const r = await runCli(['copy', `pop3://u@127.0.0.1:${srv.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json'], {
    env: { MAILFERRY_SOURCE_PASSWORD: 'pw' },
  });
  return { r, out: envelope(r), stored: readMaildirTree(join(work, 'md')).get('INBOX')! };
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
    const { r, out, stored } = await copyFrom(server);
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
    const { r, out, stored } = await copyFrom(server);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(out.result).toMatchObject({ copied: 8, failed: 0 });
    const third = stored.find((f) => f.bytes.toString().includes('<m3@pop.test>'))!;
    expect(new Date(third.mtimeMs).toISOString()).toBe('2019-01-03T10:00:00.000Z');
  });
});
