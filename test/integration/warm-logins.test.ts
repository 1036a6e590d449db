// The workers' connections (readers on the source, writers on an IMAP destination) log in while a
// folder is opened and listed, as soon as STATUS says it holds messages to copy: not once its first
// listing chunk is in, when their logins would compete with the listing for the server and the
// first APPEND would wait for them. A proxy in front of Dovecot (both accounts) holds the
// listing's first FETCH until the workers' connections are there, so the order is seen, not timed.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { importMessages, messageCounts } from '../harness/stage.js';
import { sandbox } from '../faults/helpers.js';

const h = harness();
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

/** 600 messages: three batches of 250 at once, so three readers and three writers (--concurrency 4). */
const N = 600;
const WORKERS = 3;
const msg = (n: number): Buffer => Buffer.from(`Message-ID: <w${n}@warm.example.org>\nSubject: ${n}\n\nbody ${n}\n`, 'latin1');

describe("the workers' logins", () => {
  it('start while the folder is listed, before its first listing chunk is in', async () => {
    const src = (await h.freshUser('warmsrc')).name;
    const dst = (await h.freshUser('warmdst')).name;
    const date = new Date('2024-05-05T05:05:05Z');
    await importMessages(h, src, Array.from({ length: N }, (_, i) => ({ folder: 'INBOX', bytes: msg(i + 1), letters: 'S', internalDate: date })));
    // Each side's folder connection, a writer per worker, and a reader per worker the run may
    // have (--concurrency 4): a first copy logs its readers in as the source is opened
    // (test/integration/early-readers.test.ts).
    const wanted = 2 + WORKERS + 4;
    let atRelease = -1;
    const release = async () => {
      for (let waited = 0; proxy!.connections < wanted && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      atRelease = proxy!.connections;
    };
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { holdUp: { match: /^[0-9A-F]+ UID FETCH /m, release } });
    const box = sandbox('mf-warm-');
    const r = await runCli(
      ['copy', `imap://${src}@${h.host}:${proxy.port}`, `imap://${dst}@${h.host}:${proxy.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'],
      { env: { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' } },
    );
    const out = envelope(r);
    expect(out.status, r.stderr.slice(-1500)).toBe(0);
    expect(proxy.held).toBe(true);
    // Held at the listing's first FETCH: every worker connection was already opened.
    expect(atRelease).toBe(wanted);
    expect(out.result.copied).toBe(N);
    expect((await messageCounts(h, dst)).get('INBOX')).toBe(N);
  });
});
