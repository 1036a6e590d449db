// A POP3 message expunged by another client while a run copies the box: Dovecot's session still
// lists it, and its RETR is answered "-ERR Message N expunged.". It is gone from the source, so it
// is skipped as vanished (as an IMAP source's is), not failed. Real CLI, real Dovecot; a proxy
// holds the first RETRs while doveadm expunges, so the expunge lands between the listing and them.
// A message the server says is "expunged" but still lists (Dovecot answers so for a message file
// it cannot read, too) still fails: test/faults/fake-pop3-faults.test.ts, "several RETRs refused".
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { readMaildirTree } from '../harness/maildir-read.js';
import { importMessages } from '../harness/stage.js';
import { sandbox } from './helpers.js';

const h = harness();
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

const small = (n: number): Buffer => Buffer.from(`Message-ID: <x${n}@expunged.example.org>\nSubject: ${n}\n\nbody ${n}\n`, 'latin1');
/** Above the 8 MB streaming threshold: its RETR is streamed, not fetched in a batch. */
function large(n: number): Buffer {
  const lines = [`Message-ID: <x${n}@expunged.example.org>`, `Subject: ${n}`, ''];
  for (let i = 0, size = 0; size < 9 * 1024 * 1024; i++, size += 80) lines.push(`line ${i} ${'y'.repeat(70)}`);
  return Buffer.from(lines.join('\n') + '\n', 'latin1');
}

describe('a POP3 message expunged by another client during the run', () => {
  it('is skipped as vanished, in a batch and when streamed; the rest is copied, exit 0', async () => {
    const user = (await h.freshUser('p3gone')).name;
    const date = new Date('2024-03-03T03:03:03Z');
    // UIDs 1..7; 7 is the large one.
    await importMessages(h, user, [1, 2, 3, 4, 5, 6, 7].map((n) => ({ folder: 'INBOX', bytes: n === 7 ? large(n) : small(n), letters: '', internalDate: date })));
    proxy = await FaultProxy.start(
      { host: h.host, port: h.ports.pop3 },
      { holdUp: { match: /^RETR /m, release: async () => void (await h.doveadm(['expunge', '-u', user, 'mailbox', 'INBOX', 'uid', '2,4,7'])) } },
    );
    const box = sandbox('mf-p3gone-');
    const dest = join(box, 'md');
    const args = ['copy', `pop3://${user}@${h.host}:${proxy.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--report', join(box, 'report'), '--json'];
    const r = await runCli(args, { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const out = envelope(r);
    expect(proxy.held).toBe(true);
    expect(out.status, JSON.stringify(out.result?.failures ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(out.result).toMatchObject({ copied: 4, skipped: 3, failed: 0 });
    const ids = readMaildirTree(dest).get('INBOX')!.map((f) => f.bytes.toString('latin1').split('\n')[0]).sort();
    expect(ids).toEqual([1, 3, 5, 6].map((n) => `Message-ID: <x${n}@expunged.example.org>`));

    const again = envelope(await runCli(args, { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } }));
    expect(again.result).toMatchObject({ copied: 0, failed: 0 });
    expect(again.status).toBe(0);
  });
});
