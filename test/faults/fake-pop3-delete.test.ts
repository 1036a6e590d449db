// --delete-source through the real CLI against a scriptable POP3 server, for what Dovecot will not
// do on demand: refuse one RETR. A second message with the same Message-ID is skipped as its
// duplicate in the same run; when the first then fails, neither may be deleted from the server.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { FakePop3Server } from '../harness/fake-pop3.js';
import { readMaildirTree } from '../harness/maildir-read.js';

const b = (s: string) => Buffer.from(s, 'latin1');
let server: FakePop3Server | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('--delete-source and a message that fails', () => {
  it('its duplicate (same Message-ID) stays on the server with it; the others are deleted', async () => {
    server = await FakePop3Server.start({
      user: 'u',
      pass: 'pw',
      pipelining: true,
      messages: [
        { uid: 'a', body: b('Message-ID: <shared@x>\r\nSubject: A\r\n\r\nA, refused by the server\r\n') },
        { uid: 'b', body: b('Message-ID: <shared@x>\r\nSubject: B\r\n\r\nB, another message with the same id\r\n') },
        { uid: 'c', body: b('Message-ID: <c@x>\r\nSubject: C\r\n\r\nC\r\n') },
      ],
      handlers: {
        RETR: async (s, arg, line) => (arg === '1' ? s.err('[SYS/PERM] cannot read message') : s.multiline(line, 'ok', s.message(Number(arg))!.body)),
      },
    });
    const work = mkdtempSync(join(tmpdir(), 'mf-fakedel-'));
    const r = await runCli(['copy', `pop3://u@127.0.0.1:${server.port}`, `maildir:${join(work, 'md')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--delete-source', '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state') },
    });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.failed).toBe(1);
    expect(readMaildirTree(join(work, 'md')).get('INBOX')!.map((f) => f.bytes.toString())).toEqual(['Message-ID: <c@x>\nSubject: C\n\nC\n']);
    // Only C: A failed, and B's Message-ID is in the destination nowhere.
    expect(server.seen('DELE')).toEqual(['DELE 3']);
    expect(out.result.deleted).toBe(1);
    expect(out.result.keptOnSource).toBe(1);
  });
});
