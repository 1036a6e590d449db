// A first copy (no checkpoint yet) fetches every message, so its workers' connections log in as soon
// as the source's own connection has, not once the first folder's STATUS says there is mail to copy
// (src/engine/job.ts, ImapSource.open): the server's logins overlap the folder listing. A rerun
// opens them only when there is something new, as before, and a password the server refuses is
// tried once, not once per worker (a server may count failed logins). A proxy in front of Dovecot
// holds the source's folder listing (its first LIST), so the order is seen, not timed.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { importMessages } from '../harness/stage.js';
import { sandbox } from '../faults/helpers.js';

const h = harness();
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

const msg = (n: number): Buffer => Buffer.from(`Message-ID: <e${n}@early.example.org>\nSubject: ${n}\n\nbody ${n}\n`, 'latin1');
const date = new Date('2024-06-06T06:06:06Z');

/**
 * Has the proxy hold the next run's first LIST until `want` connections are open since (or until
 * `waitMs` has passed); says how many were.
 */
function holdList(want: number, waitMs: number): () => number {
  let at = -1;
  const p = proxy!;
  p.held = false;
  p.connections = 0;
  p.opts.holdUp = {
    match: /^[0-9A-Za-z]+ LIST /m,
    release: async () => {
      for (let waited = 0; p.connections < want && waited < waitMs; waited += 20) await new Promise((r) => setTimeout(r, 20));
      at = p.connections;
    },
  };
  return () => at;
}

describe("a first copy's workers", () => {
  it('log in before the folders are listed; a rerun logs them in only for new mail', async () => {
    const src = (await h.freshUser('earlysrc')).name;
    await importMessages(h, src, Array.from({ length: 20 }, (_, i) => ({ folder: 'INBOX', bytes: msg(i + 1), letters: 'S', internalDate: date })));
    const box = sandbox('mf-early-');
    const copy = (port: number) =>
      runCli(['copy', `imap://${src}@${h.host}:${port}`, `maildir:${join(box, 'mail')}`, '--source-tls', 'none', '-j', '3', '--checkpoint', join(box, 'cp'), '--json'], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
      });

    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap });

    // First copy: the source's connection and its three workers' are open at its LIST.
    let at = holdList(4, 10_000);
    let r = await copy(proxy.port);
    expect(envelope(r).status, r.stderr.slice(-1500)).toBe(0);
    expect(proxy.held).toBe(true);
    expect(at()).toBe(4);
    expect(envelope(r).result.copied).toBe(20);

    // A rerun, one new message: at its LIST only the source's own connection is open.
    await importMessages(h, src, [{ folder: 'INBOX', bytes: msg(21), letters: '', internalDate: date }]);
    at = holdList(2, 1_000);
    r = await copy(proxy.port);
    expect(envelope(r).status, r.stderr.slice(-1500)).toBe(0);
    expect(proxy.held).toBe(true);
    expect(at()).toBe(1);
    expect(envelope(r).result.copied).toBe(1);
  });

  it('are not logged in with a password the server refuses: one login is tried', async () => {
    const src = (await h.freshUser('earlybad')).name;
    await importMessages(h, src, [{ folder: 'INBOX', bytes: msg(1), letters: '', internalDate: date }]);
    const box = sandbox('mf-early-bad-');
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap });
    const r = await runCli(['copy', `imap://${src}@${h.host}:${proxy.port}`, `maildir:${join(box, 'mail')}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'wrong' },
    });
    expect(envelope(r).error?.code, r.stderr.slice(-1500)).toBe('AUTH_FAILED');
    expect(proxy.connections).toBe(1);
  });
});
