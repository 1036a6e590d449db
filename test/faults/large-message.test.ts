// A 100 MB message from a (fake) IMAP server to Maildir through the real CLI: streamed in partial
// FETCHes, never held whole; the copy is byte-exact and the process's peak RSS stays well under
// 300 MB (measured from /proc/PID/status VmHWM while it runs).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crlfToLf } from '../../src/mail/line-endings.js';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { readMaildirTree } from '../harness/maildir-read.js';
import { pollPeakRss, sandbox } from './helpers.js';

const SIZE = 100 * 1024 * 1024;

function bigMessage(): Buffer {
  const head = Buffer.from('From: big@example.org\r\nTo: you@example.org\r\nSubject: 100 MB\r\nMessage-ID: <big-100mb@mailferry.test>\r\n\r\n', 'latin1');
  const body = Buffer.alloc(SIZE - head.length, Buffer.from('x'.repeat(60) + '\xe9\xe8\xff\x00 0123456789\r\n', 'latin1'));
  return Buffer.concat([head, body]);
}

describe('a 100 MB message', () => {
  let srv: FakeImapServer;
  let big: Buffer;
  beforeAll(async () => {
    big = bigMessage();
    srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: big }, { uid: 2, body: Buffer.from('Message-ID: <small@x>\r\n\r\nsmall\r\n') }] }] });
  });
  afterAll(() => srv.stop());

  it('is streamed to Maildir byte-exact with peak RSS well under 300 MB', async () => {
    const box = sandbox('mf-big-');
    const dest = join(box, 'dest');
    let peak: { peakKb: () => number } | undefined;
    const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
      onSpawn: (child) => (peak = pollPeakRss(child)),
    });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(2);
    const files = readMaildirTree(dest).get('INBOX')!;
    const stored = files.find((f) => f.bytes.length > 1000)!;
    const want = crlfToLf(big);
    expect(stored.bytes.length).toBe(want.length);
    expect(createHash('sha256').update(readFileSync(stored.path)).digest('hex')).toBe(createHash('sha256').update(want).digest('hex'));
    // Partial FETCHes (BODY.PEEK[]<offset.length>), not one 100 MB literal.
    expect(srv.commands.filter((c) => /BODY\.PEEK\[\]<\d+\.\d+>/.test(c)).length).toBeGreaterThan(50);
    const peakMb = peak!.peakKb() / 1024;
    process.stderr.write(`peak RSS copying a 100 MB message: ${peakMb.toFixed(0)} MB\n`);
    expect(peakMb).toBeGreaterThan(20); // the poll saw the process
    expect(peakMb).toBeLessThan(200);
  });
});

describe('large messages to an IMAP destination (an APPEND takes each whole)', () => {
  it('are held one at a time, not one per worker: eight of 20 MB at -j 8 arrive byte-exact, peak RSS bounded by one of them', async () => {
    const mb = 20 * 1024 * 1024;
    const msgs = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => {
      const head = Buffer.from(`From: big@example.org\r\nSubject: ${n}\r\nMessage-ID: <big-${n}@mailferry.test>\r\n\r\n`, 'latin1');
      return { uid: n, body: Buffer.concat([head, Buffer.alloc(mb - head.length, Buffer.from(`${n}`.repeat(70) + '\r\n', 'latin1'))]) };
    });
    const src = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: msgs }] });
    const dst = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [] }] });
    try {
      const box = sandbox('mf-big-imap-');
      let peak: { peakKb: () => number } | undefined;
      const r = await runCli(['copy', `imap://u@127.0.0.1:${src.port}`, `imap://u@127.0.0.1:${dst.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '-j', '8', '--json'], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' },
        onSpawn: (child) => (peak = pollPeakRss(child)),
      });
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(0);
      expect(out.result.copied).toBe(8);
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      expect(dst.appended.map((a) => sha(a.body)).sort()).toEqual(msgs.map((m) => sha(m.body)).sort());
      const peakMb = peak!.peakKb() / 1024;
      process.stderr.write(`peak RSS copying eight 20 MB messages IMAP → IMAP at -j 8: ${peakMb.toFixed(0)} MB\n`);
      expect(peakMb).toBeGreaterThan(20);
      // Measured: ~220 MB at -j 1, ~300–320 at -j 8 (sixteen connections), ~410 when every
      // worker held its own message at once.
      expect(peakMb).toBeLessThan(360);
    } finally {
      await src.stop();
      await dst.stop();
    }
  });
});
