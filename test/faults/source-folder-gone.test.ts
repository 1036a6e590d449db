// An IMAP source folder renamed (or deleted) by another client while a run copies it. Each
// reconnecting reader then meets "NO [NONEXISTENT] Mailbox doesn't exist" at its EXAMINE. That is
// the folder's failure, said once: not one failure per message (1,543 of them, each fetched alone
// after the batch fell back to one message at a time). Its messages not copied are not journaled,
// and the next run copies the folder under its new name. Real CLI, real Dovecot; a proxy holds
// the first body FETCH while doveadm renames the folder.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
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

describe('a Maildir source folder renamed during the copy', () => {
  /** A Maildir source of `folders`, each of `n` messages. */
  const source = (root: string, folders: string[], n: number) => {
    for (const f of ['', ...folders.map((x) => `.${x}`)]) for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, f, s), { recursive: true });
    for (const f of folders) for (let i = 1; i <= n; i++) writeFileSync(join(root, `.${f}`, 'cur', `${i}.${f}.host:2,S`), msg(i + 1000 * folders.indexOf(f)));
  };

  it('the folder being copied, or one not reached yet, fails as a folder (exit 6), not as messages vanished or an empty folder with exit 0; the next run copies it under its new name', async () => {
    for (const which of ['being copied', 'not reached']) {
      const user = (await h.freshUser('mdgone')).name;
      const box = sandbox('mf-mdgone-');
      const src = join(box, 'src');
      source(src, ['First', 'Second'], N);
      // Renamed while the first APPEND to the destination is held: the folder being copied is First.
      const renamed = which === 'being copied' ? 'First' : 'Second';
      proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { holdUp: { match: /APPEND/i, release: async () => renameSync(join(src, `.${renamed}`), join(src, `.${renamed}-new`)) } });
      const args = ['copy', `maildir:${src}`, `imap://${user}@${h.host}:${proxy.port}`, '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', '-j', '1'];
      const env = { MAILFERRY_DEST_PASSWORD: 'pass' };
      const r = await runCli(args, { env });
      const out = envelope(r);
      expect(proxy.held, which).toBe(true);
      expect(out.status, `${which}: ${r.stderr.slice(-1500)}`).toBe(6);
      const row = out.result.folders.find((f: { folder: string }) => f.folder === renamed);
      expect(row.error, which).toMatch(/is gone: the folder was renamed or deleted since this run listed it/);
      expect(out.result.failed, which).toBe(0);
      if (which === 'not reached') expect(readMaildirTree(h.maildirOf(user)).get('Second'), which).toBeUndefined();
      await proxy.stop();
      proxy = undefined;

      // Straight to the server now (another URL, so another checkpoint).
      const again = envelope(await runCli(args.map((a) => (a.startsWith('imap://') ? `imap://${user}@${h.host}:${h.ports.imap}` : a === join(box, 'cp') ? join(box, 'cp2') : a)), { env }));
      expect(again.status, which).toBe(0);
      expect(again.result.folders.find((f: { folder: string }) => f.folder === `${renamed}-new`), which).toMatchObject({ failed: 0 });
      expect(readMaildirTree(h.maildirOf(user)).get(`${renamed}-new`), which).toHaveLength(N);
    }
  });
});
