// A destination wiped between runs: the checkpoint has every message done, the destination holds
// none of them. The rerun must notice (a warning, `destLost` in the JSON) and copy the folder again,
// each message exactly once; a destination that still holds mail is trusted as before.
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { messageIdOf } from '../../src/mail/headers.js';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { readMaildirTree } from '../harness/maildir-read.js';
import { importMessages } from '../harness/stage.js';

const h = harness();
const tls = ['--tls-ca', h.certPem];
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const msg = (id: string) => Buffer.from(`Message-ID: <${id}@lost.example.org>\nSubject: ${id}\n\nbody of ${id}\n`, 'latin1');
const FOLDERS = { INBOX: ['i1', 'i2', 'i3'], Archive: ['a1', 'a2'], 'Archive/2024': ['b1'] } as const;

/** Message-IDs per folder of a Maildir tree, sorted. */
function idsOf(root: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [folder, files] of readMaildirTree(root)) out[folder] = files.map((f) => messageIdOf(f.bytes)!).sort();
  return out;
}
const want = (folders: Record<string, readonly string[]>) =>
  Object.fromEntries(Object.entries(folders).map(([f, ids]) => [f, ids.map((i) => `<${i}@lost.example.org>`).sort()]));

describe('a destination wiped between runs', () => {
  let src: string;
  const url = () => `imap://${src}@${h.host}:${h.ports.imap}`;

  beforeAll(async () => {
    src = (await h.freshUser('lost')).name;
    const date = new Date('2024-05-05T05:05:05Z');
    await importMessages(h, src, Object.entries(FOLDERS).flatMap(([folder, ids]) => ids.map((id) => ({ folder, bytes: msg(id), letters: 'S', internalDate: date }))));
  });

  it('IMAP → Maildir: the backup directory removed, the rerun copies everything again', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    const full = idsOf(dest);
    expect(full).toEqual(want(FOLDERS));

    rmSync(dest, { recursive: true });
    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(6);
    expect(idsOf(dest)).toEqual(full);
    const lost = Object.fromEntries(out.result.folders.map((f: { folder: string; destLost?: string }) => [f.folder, f.destLost]));
    // INBOX is made again as the Maildir is opened (empty); the subfolders are gone
    expect(lost).toEqual({ INBOX: 'empty', Archive: 'missing', 'Archive/2024': 'missing' });
    expect(out.warnings).toContain('Archive: the destination folder is gone, though the checkpoint has 2 messages of this folder done; copying the folder again');

    // the lost record is in the checkpoint: the next run is a no-op, and says nothing
    const again = await runCli(args, { env });
    expect(envelope(again).result.copied).toBe(0);
    expect(envelope(again).result.folders.every((f: { unchanged: boolean; destLost?: string }) => f.unchanged && f.destLost === undefined)).toBe(true);
    expect(envelope(again).warnings).toEqual([]);
    expect(idsOf(dest)).toEqual(full);

    // From cron (--quiet: only errors), a wiped backup is still said on stderr; the run succeeds.
    rmSync(dest, { recursive: true });
    const quiet = await runCli(args.filter((a) => a !== '--json').concat('--quiet'), { env });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(quiet.stderr).toContain('mailferry: warn: Archive: the destination folder is gone');
    expect(idsOf(dest)).toEqual(full);
  });

  it('IMAP → Maildir: one folder emptied by hand is copied again; a folder with mail left in it is trusted', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    for (const sub of ['cur', 'new']) for (const f of readdirSync(join(dest, '.Archive', sub))) unlinkSync(join(dest, '.Archive', sub, f));
    // INBOX loses one of three: remembered as done, not copied again (documented)
    const inboxCur = join(dest, 'cur');
    unlinkSync(join(inboxCur, readdirSync(inboxCur)[0]!));

    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(2);
    const got = idsOf(dest);
    expect(got.Archive).toEqual(want(FOLDERS).Archive);
    expect(got.INBOX).toHaveLength(2);
    expect(out.result.folders.find((f: { folder: string }) => f.folder === 'Archive').destLost).toBe('empty');
    expect(out.result.folders.find((f: { folder: string }) => f.folder === 'INBOX').destLost).toBeUndefined();
  });

  it('IMAP → IMAP: a destination folder deleted on the server is created and filled again', async () => {
    const dst = (await h.freshUser('lostdst')).name;
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const args = ['copy', url(), `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    await h.doveadm(['mailbox', 'delete', '-r', '-u', dst, 'Archive']);
    expect(idsOf(h.maildirOf(dst)).Archive).toBeUndefined();

    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(3);
    expect(idsOf(h.maildirOf(dst))).toEqual(want(FOLDERS));
    expect(out.result.folders.map((f: { destLost?: string }) => f.destLost ?? null)).toEqual([null, 'missing', 'missing']);
  });

  it('IMAP → IMAP: a destination folder deleted while a subfolder stays (Dovecot still lists it, with no \\Noselect) is created and filled again, also after --restart', async () => {
    const dst = (await h.freshUser('lostpar')).name;
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const args = ['copy', url(), `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    // Archive/2024 stays: the server lists Archive as its parent, though it holds nothing and cannot be selected.
    await h.doveadm(['mailbox', 'delete', '-u', dst, 'Archive']);
    expect(idsOf(h.maildirOf(dst)).Archive).toBeUndefined();
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'Archive')).toMatchObject({ destLost: 'missing', copy: 2, unchanged: false });

    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(2);
    expect(idsOf(h.maildirOf(dst))).toEqual(want(FOLDERS));
    expect(out.result.folders.map((f: { destLost?: string }) => f.destLost ?? null)).toEqual([null, 'missing', null]);

    // Without the checkpoint's word: the folder is made and filled in that run, each message once.
    await h.doveadm(['mailbox', 'delete', '-u', dst, 'Archive']);
    const restart = await runCli([...args, '--restart'], { env });
    expect(envelope(restart).status, restart.stderr).toBe(0);
    expect(envelope(restart).result.copied).toBe(2);
    expect(idsOf(h.maildirOf(dst))).toEqual(want(FOLDERS));
  });

  it('IMAP → IMAP: a destination folder deleted and made again, with other mail in it by now, is copied again (its UIDVALIDITY changed)', async () => {
    const dst = (await h.freshUser('lostuv')).name;
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const args = ['copy', url(), `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    // The account made again (a new UIDVALIDITY for INBOX), and a welcome message in it before the next run.
    await h.doveadm(['mailbox', 'delete', '-r', '-u', dst, 'Archive']);
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Archive']);
    await h.doveadm(['save', '-u', dst, '-m', 'Archive'], msg('welcome'));
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'Archive')).toMatchObject({ destLost: 'replaced', copy: 2, unchanged: false });

    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(3);
    expect(idsOf(h.maildirOf(dst))).toEqual(want({ ...FOLDERS, Archive: [...FOLDERS.Archive, 'welcome'] }));
    // Archive/2024 went with its parent.
    expect(out.result.folders.map((f: { destLost?: string }) => f.destLost ?? null)).toEqual([null, 'replaced', 'missing']);
    expect(out.warnings).toContain('Archive: the destination folder has a new UIDVALIDITY (deleted and made again, or its server migrated), though the checkpoint has 2 messages of this folder done; checking each against it again: what is not there is copied');
    // Recorded: the next run is a no-op.
    const again = envelope(await runCli(args, { env }));
    expect(again.result.copied).toBe(0);
    expect(again.warnings).toEqual([]);
  });

  it('IMAP → IMAP: a destination server migrated (a new UIDVALIDITY, the same messages): the warning says each message is checked again, and none is copied', async () => {
    const dst = (await h.freshUser('lostmig')).name;
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const args = ['copy', url(), `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', join(work, 'cp'), '--folder', 'Archive', '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    // What a migration of the destination account does to a folder: the same messages, renumbered.
    await h.doveadm(['mailbox', 'rename', '-u', dst, 'Archive', 'Moving']);
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Archive']);
    await h.doveadm(['copy', '-u', dst, 'Archive', 'mailbox', 'Moving']);
    await h.doveadm(['mailbox', 'delete', '-u', dst, 'Moving']);
    const out = envelope(await runCli(args, { env }));
    expect(out.status).toBe(0);
    expect(out.result.copied).toBe(0);
    expect(out.warnings).toEqual(['Archive: the destination folder has a new UIDVALIDITY (deleted and made again, or its server migrated), though the checkpoint has 2 messages of this folder done; checking each against it again: what is not there is copied']);
  });

  it('two source folders merged into one destination: both are copied again when it is emptied', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--map', 'Archive/2024=Archive', '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    expect(idsOf(dest).Archive).toHaveLength(3);
    rmSync(join(dest, '.Archive'), { recursive: true });

    const out = envelope(await runCli(args, { env }));
    expect(out.status).toBe(0);
    expect(out.result.copied).toBe(3);
    expect(idsOf(dest).Archive).toEqual([...want(FOLDERS).Archive, ...want(FOLDERS)['Archive/2024']].sort());
  });

  // After --restart the checkpoint's done keys come from messages found present, not stored:
  // where the folder went must still be known, or the lost folder's remembered identities count
  // as present and nothing is copied into the folder made again.
  it('IMAP → Maildir after --restart: a destination folder removed is copied again in that run', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    const full = idsOf(dest);
    const restarted = envelope(await runCli([...args, '--restart'], { env }));
    expect(restarted.result).toMatchObject({ copied: 0, skipped: 6 });
    rmSync(join(dest, '.Archive'), { recursive: true });

    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'Archive')).toMatchObject({ destLost: 'missing', copy: 2 });
    const out = envelope(await runCli(args, { env }));
    expect(out.status).toBe(0);
    expect(out.result.copied).toBe(2);
    expect(out.result.folders.find((f: { folder: string }) => f.folder === 'Archive')).toMatchObject({ destLost: 'missing', copied: 2 });
    expect(idsOf(dest)).toEqual(full);
  });

  it('a checkpoint that never named the folder a lost one went to (no `to` record): copied again in that run', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const cp = join(work, 'cp');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', cp, '--json'];
    expect(envelope(await runCli([...args, '--folder', 'Archive'], { env })).status).toBe(0);
    expect(envelope(await runCli([...args, '--folder', 'Archive', '--restart'], { env })).result.skipped).toBe(2);
    // As a checkpoint written by an earlier version after --restart: done keys and identities, no folder name.
    writeFileSync(cp, readFileSync(cp, 'utf8').split('\n').filter((l) => !l.includes('"t":"to"')).join('\n'));
    rmSync(join(dest, '.Archive'), { recursive: true });

    const out = envelope(await runCli([...args, '--folder', 'Archive'], { env }));
    expect(out.result).toMatchObject({ copied: 2, skipped: 0 });
    expect(idsOf(dest).Archive).toEqual(want(FOLDERS).Archive);
  });

  it('IMAP → IMAP after --restart: a deleted destination folder of messages without Message-ID is copied again in that run', async () => {
    const noId = (n: string) => Buffer.from(`Subject: ${n}\n\nno Message-ID, ${n}\n`, 'latin1');
    const from = (await h.freshUser('lostnoid')).name;
    await importMessages(h, from, ['n1', 'n2', 'n3'].map((n) => ({ folder: 'Plain', bytes: noId(n), letters: 'S', internalDate: new Date('2024-05-05T05:05:05Z') })));
    const dst = (await h.freshUser('lostnoiddst')).name;
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const args = ['copy', `imap://${from}@${h.host}:${h.ports.imap}`, `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--folder', 'Plain', '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).result.copied).toBe(3);
    expect(envelope(await runCli([...args, '--restart'], { env })).result).toMatchObject({ copied: 0, skipped: 3 });
    await h.doveadm(['mailbox', 'delete', '-r', '-u', dst, 'Plain']);

    const out = envelope(await runCli(args, { env }));
    expect(out.status).toBe(0);
    expect(out.result.copied).toBe(3);
    expect(out.result.folders[0]).toMatchObject({ destLost: 'missing', copied: 3 });
    expect(readMaildirTree(h.maildirOf(dst)).get('Plain')).toHaveLength(3);
  });

  it('--dry-run says the folder would be copied again', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    rmSync(join(dest, '.Archive'), { recursive: true });
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(plan.status).toBe(0);
    const archive = plan.result.folders.find((f: { folder: string }) => f.folder === 'Archive');
    expect(archive).toMatchObject({ destLost: 'missing', copy: 2, unchanged: false });
    expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'INBOX')).toMatchObject({ unchanged: true });
  });
});

describe("a message of the user's own in the destination, read by a scan and deleted since", () => {
  // The user files a message into the backup (through a client), a run reads it while deduplicating,
  // the user deletes it; later the same message (Message-ID, or bytes) arrives in the source. It was
  // never copied by mailferry: "copied before" (deleted by hand, not copied again) is not its case.
  for (const withId of [true, false]) {
    it(`the source's message is copied, not skipped as copied before (${withId ? 'by Message-ID' : 'by content, no Message-ID'}); the dry run agrees`, async () => {
      const src = (await h.freshUser(withId ? 'ownmid' : 'ownsha')).name;
      const one = (n: string) => Buffer.from(`${withId ? `Message-ID: <${n}@own.example.org>\n` : ''}Subject: ${n}\n\nbody of ${n}\n`, 'latin1');
      const date = new Date('2024-05-05T05:05:05Z');
      const save = (n: string) => importMessages(h, src, [{ folder: 'Trip', bytes: one(n), letters: '', internalDate: date }]);
      await save('t1');
      const work = mkdtempSync(join(tmpdir(), 'mf-own-'));
      const dest = join(work, 'M');
      const args = ['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
      expect(envelope(await runCli(args, { env })).result.copied).toBe(1);
      // The user's own message, filed into the backup's folder.
      const own = join(dest, '.Trip', 'cur', '1700000000.own1.host:2,S');
      writeFileSync(own, one('t2'));
      // New mail: this run reads the folder, t2 with it.
      await save('t3');
      const second = envelope(await runCli(args, { env }));
      expect(second.result).toMatchObject({ copied: 1, failed: 0 });
      unlinkSync(own);
      // The same message arrives in the source.
      await save('t2');
      const plan = envelope(await runCli([...args, '--dry-run'], { env }));
      expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'Trip')).toMatchObject({ copy: 1 });
      const third = envelope(await runCli(args, { env }));
      expect(third.status).toBe(0);
      expect(third.result).toMatchObject({ copied: 1, skipped: 0 });
      const subjects = readMaildirTree(dest).get('Trip')!.map((f) => /Subject: (\w+)/.exec(f.bytes.toString('latin1'))![1]).sort();
      expect(subjects).toEqual(['t1', 't2', 't3']);
    });
  }
});

describe('an empty source folder whose destination folder was removed', () => {
  it('is made again (README: an empty folder is made too), said in destLost; the dry run and verify agree', async () => {
    const src = (await h.freshUser('lostempty')).name;
    await h.doveadm(['mailbox', 'create', '-u', src, 'Empty']);
    const work = mkdtempSync(join(tmpdir(), 'mf-lost-'));
    const dest = join(work, 'M');
    const url = `imap://${src}@${h.host}:${h.ports.imap}`;
    const args = ['copy', url, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    expect(readdirSync(dest)).toContain('.Empty');
    rmSync(join(dest, '.Empty'), { recursive: true });
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(plan.result.folders.find((f: { folder: string }) => f.folder === 'Empty')).toMatchObject({ destLost: 'missing', unchanged: false });
    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.folders.find((f: { folder: string }) => f.folder === 'Empty')).toMatchObject({ destLost: 'missing' });
    expect(readdirSync(dest)).toContain('.Empty');
    const v = await runCli(['verify', url, `maildir:${dest}`, ...tls, '--json'], { env });
    expect(envelope(v).status, v.stdout + v.stderr).toBe(0);
    // Recorded: the next run says nothing.
    const again = envelope(await runCli(args, { env }));
    expect(again.warnings).toEqual([]);
    expect(again.result.folders.every((f: { unchanged: boolean }) => f.unchanged)).toBe(true);
  });
});
