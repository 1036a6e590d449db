// An IMAP source folder renamed (or deleted) by another client while a run copies it. Each
// reconnecting reader then meets "NO [NONEXISTENT] Mailbox doesn't exist" at its EXAMINE. That is
// the folder's failure, said once: not one failure per message (1,543 of them, each fetched alone
// after the batch fell back to one message at a time). Its messages not copied are not journaled,
// and the next run copies the folder under its new name. Real CLI, real Dovecot; a proxy holds
// the first body FETCH while doveadm renames the folder.
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

const N = 600;
const msg = (n: number): Buffer => Buffer.from(`Message-ID: <g${n}@gone.example.org>\nSubject: ${n}\n\nbody ${n}\n`, 'latin1');

describe('an IMAP source folder renamed during the copy', () => {
  it('fails the folder once (exit 6), not each message; the next run copies it under its new name', async () => {
    const user = (await h.freshUser('srcgone')).name;
    const date = new Date('2024-04-04T04:04:04Z');
    await importMessages(h, user, Array.from({ length: N }, (_, i) => ({ folder: 'Before', bytes: msg(i + 1), letters: 'S', internalDate: date })));
    proxy = await FaultProxy.start(
      { host: h.host, port: h.ports.imap },
      { holdUp: { match: /BODY\.PEEK\[\]/i, release: async () => void (await h.doveadm(['mailbox', 'rename', '-u', user, 'Before', 'After'])) } },
    );
    const box = sandbox('mf-srcgone-');
    const dest = join(box, 'md');
    const args = ['copy', `imap://${user}@${h.host}:${proxy.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'];
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
    const r = await runCli([...args, '--concurrency', '2'], { env });
    const out = envelope(r);
    expect(proxy.held).toBe(true);
    expect(out.status, r.stderr.slice(-1500)).toBe(6);
    const before = out.result.folders.find((f: { folder: string }) => f.folder === 'Before');
    expect(before.error).toMatch(/no such folder.*doesn't exist/i);
    expect(out.result.failed).toBe(0);
    expect(out.result.failures).toEqual([]);
    expect(out.warnings.join('\n')).not.toMatch(/one message at a time/);
    // Said once, however many batches met it.
    expect(r.stderr.match(/doesn't exist/gi)?.length ?? 0, r.stderr).toBeLessThanOrEqual(1);
    const copiedBefore = out.result.copied as number;
    expect(copiedBefore).toBeLessThan(N);

    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result.folders.find((f: { folder: string }) => f.folder === 'After')).toMatchObject({ copied: N, failed: 0 });
    expect(readMaildirTree(dest).get('After')).toHaveLength(N);
  });
});
