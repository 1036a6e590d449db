// A POP3 server that drops the connection at one message, every time (a message it cannot read),
// through the real CLI: what Dovecot will not do on demand (it answers -ERR there). The header pass
// and the RETRs go on around that message; it alone fails, and the rest of the box is copied.
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

const message = (n: number) => Buffer.from(`Message-ID: <m${n}@pop.test>\r\nSubject: ${n}\r\n\r\nbody of ${n}\r\n`, 'latin1');

describe('a POP3 server that drops the connection at one message', () => {
  it('in the header pass and the RETRs: that message fails alone (exit 6), the rest is copied', async () => {
    const bad = '3';
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: Array.from({ length: 8 }, (_, i) => ({ uid: `u${i + 1}`, body: message(i + 1) })),
      handlers: {
        TOP: (s, arg, line) => (arg.split(' ')[0] === bad ? s.drop() : DEFAULT_HANDLERS.TOP!(s, arg, line)),
        RETR: (s, arg, line) => (arg === bad ? s.drop() : DEFAULT_HANDLERS.RETR!(s, arg, line)),
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-fakepop-'));
    const r = await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pw' },
    });
    const out = envelope(r);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(6);
    expect(out.result).toMatchObject({ copied: 7, failed: 1 });
    expect(out.result.failures[0]).toMatchObject({ key: 'u3', code: 'MESSAGE_FAILED' });
    expect(out.warnings.join('\n')).toMatch(/twice at message 3; its header is left unread and the listing goes on/);
    const stored = readMaildirTree(join(work, 'md')).get('INBOX')!.map((f) => f.bytes.toString());
    expect(stored.sort()).toEqual([1, 2, 4, 5, 6, 7, 8].map((n) => message(n).toString().replace(/\r\n/g, '\n')).sort());
  });
});
