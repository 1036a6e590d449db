// IMAP as a destination, through the real CLI against the harness's Dovecot: IMAP → IMAP between
// two users (nested and non-ASCII folders, flags, dates, special-use mapping "Sent" → "Sent Items",
// messages already there not duplicated, the no-op rerun) and a prefix folder in the URL.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { expectedByFolder } from '../harness/expected.js';
import { seedFixtures } from '../harness/fixtures.js';
import { lettersOf, readMaildirTree, type StoredFile } from '../harness/maildir-read.js';
import type { ManifestEntry } from '../harness/manifest.js';

const h = harness();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const tls = ['--tls-ca', h.certPem];
const work = mkdtempSync(join(tmpdir(), 'mf-imapdst-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const imap = (user: string, folder = '') => `imap://${user}@${h.host}:${h.ports.imap}${folder}`;

/** Per folder, what Message-ID dedupe keeps (first in order). */
const keptByFolder = (entries: ManifestEntry[]) => expectedByFolder(entries).keep;

const shas = (files: StoredFile[]) => files.map((f) => sha(f.bytes)).sort();

describe('IMAP → IMAP between two users', () => {
  let src: string;
  let dst: string;
  let manifest: ManifestEntry[];
  let already: ManifestEntry[];
  const checkpoint = join(work, 'i2i.journal');
  const args = () => ['copy', imap(src), imap(dst), ...tls, '--checkpoint', checkpoint, '--json'];

  beforeAll(async () => {
    src = (await h.freshUser('i2isrc')).name;
    dst = (await h.freshUser('i2idst')).name;
    manifest = [
      ...(await seedCorpus(h, src, { limitPerGroup: 30 })),
      ...(await seedFixtures(h, src, 'Fixtures')),
      ...(await seedFixtures(h, src, 'Sent')),
    ];
    // The destination already holds some of it, and has its \Sent folder under another name.
    already = await seedCorpus(h, dst, { limitPerGroup: 3 });
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent Items']); // throws when it fails
  });

  it('copies every folder with flags and dates, maps \\Sent by role, and skips what is already there', async () => {
    const r = await runCli(args(), { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    const kept = keptByFolder(manifest);
    const total = [...kept.values()].reduce((a, l) => a + l.length, 0);
    expect(out.result.copied).toBe(total - already.length);
    expect(out.result.failed).toBe(0);

    const tree = readMaildirTree(h.maildirOf(dst));
    expect([...tree.keys()].sort()).toEqual(['Archive/2002', 'Café ☕', 'Fixtures', 'INBOX', 'Junk', 'Junk/Old', 'Sent Items'].sort());
    // Each folder is named as a person reads it, the same in copy's, verify's and the dry run's JSON.
    const named = (res: { folders: Array<{ folder: string; dest: string }> }) => Object.fromEntries(res.folders.map((f) => [f.folder, f.dest]));
    expect(named(out.result)).toEqual({ INBOX: 'INBOX', 'Archive/2002': 'Archive/2002', 'Café ☕': 'Café ☕', Fixtures: 'Fixtures', Junk: 'Junk', 'Junk/Old': 'Junk/Old', Sent: 'Sent Items' });
    const v = envelope(await runCli(['verify', imap(src), imap(dst), ...tls, '--json'], { env }));
    expect(v.status).toBe(0);
    expect(named(v.result)).toEqual(named(out.result));
    const plan = envelope(await runCli([...args(), '--dry-run'], { env }));
    expect(named(plan.result)).toEqual(named(out.result));
    for (const [folder, entries] of kept) {
      const files = tree.get(folder === 'Sent' ? 'Sent Items' : folder)!;
      expect(shas(files), folder).toEqual(entries.map((e) => sha(e.bytes)).sort());
      const bySha = new Map(files.map((f) => [sha(f.bytes), f]));
      const pre = new Set(already.filter((a) => a.folder === folder).map((a) => sha(a.bytes)));
      for (const e of entries) {
        if (pre.has(sha(e.bytes))) continue; // flags and date of the copy that was there before
        const f = bySha.get(sha(e.bytes))!;
        expect(f.info, `${folder} ${e.origin}`).toBe(lettersOf(e.flags));
        expect(Math.round(f.mtimeMs / 1000), `${folder} ${e.origin}`).toBe(e.internalDate.getTime() / 1000);
      }
    }
  });

  it('a rerun copies nothing', async () => {
    const r = await runCli(args(), { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(0);
  });

  it('without its checkpoint (--restart), every message is recognised in the destination: copies 0', async () => {
    const r = await runCli([...args(), '--restart'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(0);
  });

  it('a prefix folder in the destination URL puts everything under it, INBOX as the prefix itself', async () => {
    const dst2 = (await h.freshUser('i2ipre')).name;
    const r = await runCli(['copy', imap(src), imap(dst2, '/Migrated/Old%20Mail'), ...tls, '--checkpoint', join(work, 'pre.journal'), '--folder', 'INBOX', '--folder', 'Sent', '--folder', 'Café ☕', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    const tree = readMaildirTree(h.maildirOf(dst2));
    const kept = keptByFolder(manifest);
    expect(shas(tree.get('Migrated/Old Mail')!)).toEqual(kept.get('INBOX')!.map((e) => sha(e.bytes)).sort());
    expect(shas(tree.get('Migrated/Old Mail/Sent')!)).toEqual(kept.get('Sent')!.map((e) => sha(e.bytes)).sort());
    expect(shas(tree.get('Migrated/Old Mail/Café ☕')!)).toEqual(kept.get('Café ☕')!.map((e) => sha(e.bytes)).sort());
    expect(tree.get('INBOX')!.length).toBe(0);
  });
});

describe('a folder below a folder mapped by role', () => {
  it('Sent/2020 follows Sent into Sent Items: no second \\Sent folder is made, and reruns, verify and the dry run agree', async () => {
    const src = (await h.freshUser('rolesrc')).name;
    const dst = (await h.freshUser('roledst')).name;
    const sent = await seedFixtures(h, src, 'Sent');
    const older = await seedCorpus(h, src, { limitPerGroup: 3, layout: { 'easy-ham-1': 'Sent/2020', 'easy-ham-2': 'Sent/2020', 'hard-ham-1': 'Sent/2020', 'spam-1': 'Sent/2020', 'spam-2': 'Sent/2020' } });
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent Items']);
    const cp = join(work, 'role.journal');
    const args = ['copy', imap(src), imap(dst), ...tls, '--checkpoint', cp, '--folder', 'Sent', '--folder', 'Sent/*', '--json'];
    const first = envelope(await runCli(args, { env }));
    expect(first.status, JSON.stringify(first.error)).toBe(0);
    const named = (res: { folders: Array<{ folder: string; dest: string }> }) => Object.fromEntries(res.folders.map((f) => [f.folder, f.dest]));
    expect(named(first.result)).toEqual({ Sent: 'Sent Items', 'Sent/2020': 'Sent Items/2020' });
    const tree = () => readMaildirTree(h.maildirOf(dst));
    expect([...tree().keys()].filter((k) => k.startsWith('Sent')).sort()).toEqual(['Sent Items', 'Sent Items/2020']);
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 0 });
    expect(again.warnings).toEqual([]);
    const v = envelope(await runCli(['verify', imap(src), imap(dst), ...tls, '--folder', 'Sent', '--folder', 'Sent/*', '--json'], { env }));
    expect(v.status, JSON.stringify(v.result?.folders)).toBe(0);
    expect(named(v.result)).toEqual(named(first.result));
    expect(tree().get('Sent Items')!.length + tree().get('Sent Items/2020')!.length).toBe(first.result.copied);
    expect(first.result.copied + first.result.skipped).toBe(sent.length + older.length);
  });

  it('--map names the place over the role: Sent (and Sent/2020) mapped to Old/Sent go there, not into Sent Items; the dry run and verify agree', async () => {
    const src = (await h.freshUser('mapsrc')).name;
    const dst = (await h.freshUser('mapdst')).name;
    await seedFixtures(h, src, 'Sent');
    await seedCorpus(h, src, { limitPerGroup: 2, layout: { 'easy-ham-1': 'Sent/2020', 'easy-ham-2': 'Sent/2020', 'hard-ham-1': 'Sent/2020', 'spam-1': 'Sent/2020', 'spam-2': 'Sent/2020' } });
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent Items']);
    const sel = ['--folder', 'Sent', '--folder', 'Sent/*', '--map', 'Sent=Old/Sent'];
    const args = ['copy', imap(src), imap(dst), ...tls, '--checkpoint', join(work, 'map-role.journal'), ...sel, '--json'];
    const named = (res: { folders: Array<{ folder: string; dest: string }> }) => Object.fromEntries(res.folders.map((f) => [f.folder, f.dest]));
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(named(plan.result)).toEqual({ Sent: 'Old/Sent', 'Sent/2020': 'Old/Sent/2020' });
    const first = envelope(await runCli(args, { env }));
    expect(first.status, JSON.stringify(first.error)).toBe(0);
    expect(named(first.result)).toEqual({ Sent: 'Old/Sent', 'Sent/2020': 'Old/Sent/2020' });
    const tree = readMaildirTree(h.maildirOf(dst));
    expect(tree.get('Sent Items') ?? []).toHaveLength(0);
    expect(tree.get('Old/Sent')!.length + tree.get('Old/Sent/2020')!.length).toBe(first.result.copied);
    const v = envelope(await runCli(['verify', imap(src), imap(dst), ...tls, ...sel, '--json'], { env }));
    expect(v.status, JSON.stringify(v.result?.folders)).toBe(0);
    expect(named(v.result)).toEqual(named(first.result));
  });

  it('verify compares two source folders a role merged into one destination folder once: no false extras, a duplicate counted once', async () => {
    // Sent and Sent Items both have the \Sent role (test/harness/conf.ts): the destination puts both in its own.
    const src = (await h.freshUser('tworole')).name;
    const dst = (await h.freshUser('tworoledst')).name;
    await seedFixtures(h, src, 'Sent');
    await seedCorpus(h, src, { limitPerGroup: 2, layout: { 'easy-ham-1': 'Sent Items', 'easy-ham-2': 'Sent Items', 'hard-ham-1': 'Sent Items', 'spam-1': 'Sent Items', 'spam-2': 'Sent Items' } });
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent Items']);
    const sel = ['--folder', 'Sent', '--folder', 'Sent Items'];
    const copied = envelope(await runCli(['copy', imap(src), imap(dst), ...tls, '--checkpoint', join(work, 'tworole.journal'), ...sel, '--json'], { env }));
    expect(copied.status, JSON.stringify(copied.error)).toBe(0);
    const v = envelope(await runCli(['verify', imap(src), imap(dst), ...tls, ...sel, '--json'], { env }));
    expect(v.status, JSON.stringify(v.result?.folders)).toBe(0);
    expect(v.result).toMatchObject({ ok: true, missing: 0, extra: 0, duplicates: 0 });
    expect(v.result.folders).toHaveLength(1);
    expect(v.result.folders[0]).toMatchObject({ dest: 'Sent Items', folder: expect.stringMatching(/Sent, Sent Items|Sent Items, Sent/) });
  });

  it('a folder earlier runs copied into stays the target while it exists (the checkpoint remembers it)', async () => {
    const src = (await h.freshUser('stickysrc')).name;
    const dst = (await h.freshUser('stickydst')).name;
    await seedFixtures(h, src, 'Sent');
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent Items']);
    const cp = join(work, 'sticky.journal');
    const args = ['copy', imap(src), imap(dst), ...tls, '--checkpoint', cp, '--folder', 'Sent', '--json'];
    const first = envelope(await runCli(args, { env }));
    expect(first.result.folders[0].dest).toBe('Sent Items');
    // Someone makes a "Sent" (the server gives it the \Sent role too, and lists it first).
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent']);
    await h.doveadm(['save', '-u', src, '-m', 'Sent'], Buffer.from('Message-ID: <sticky-new@example.org>\r\nSubject: new\r\n\r\nbody\r\n'));
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 1 });
    expect(again.result.folders[0].dest).toBe('Sent Items');
    expect(again.warnings).toEqual([]);
    // verify finds the folder where the copy put it when given the copy's checkpoint (without it,
    // it looks at the new, empty "Sent").
    const verify = ['verify', imap(src), imap(dst), ...tls, '--folder', 'Sent', '--json'];
    const blind = envelope(await runCli(verify, { env }));
    expect(blind.status).toBe(6);
    const v = envelope(await runCli([...verify, '--checkpoint', cp], { env }));
    expect(v.status, JSON.stringify(v.error ?? v.result?.folders)).toBe(0);
    expect(v.result).toMatchObject({ ok: true, missing: 0 });
    expect(v.result.folders[0].dest).toBe('Sent Items');
    // Named, it must be that copy's: a typo or another job's checkpoint is one line, exit 3.
    const typo = envelope(await runCli([...verify, '--checkpoint', cp + '.typo'], { env }));
    expect(typo).toMatchObject({ status: 3, error: { code: 'BAD_CONFIG', message: `no checkpoint at ${cp}.typo` } });
    const other = envelope(await runCli(['verify', imap(src), `maildir:${work}`, ...tls, '--checkpoint', cp, '--json'], { env }));
    // The code copy gives the same mistake.
    expect(other).toMatchObject({ status: 3, error: { code: 'CHECKPOINT_MISMATCH' } });
    expect(other.error?.message).toMatch(/is the checkpoint of another copy \(.*→.*\)$/);
    // One whose path cannot be looked at (here a file where a directory should be; EACCES for a
    // user) is said so, not taken for missing.
    const blocked = join(cp, 'cp');
    const unreadable = envelope(await runCli([...verify, '--checkpoint', blocked], { env }));
    expect(unreadable).toMatchObject({ status: 3, error: { code: 'BAD_CONFIG', message: `cannot read the checkpoint ${blocked}: ENOTDIR` } });
  });
});

describe('empty source folders', () => {
  it('are made in the destination too, Maildir and IMAP, and named in the result', async () => {
    const src = (await h.freshUser('emptysrc')).name;
    await h.doveadm(['mailbox', 'create', '-u', src, 'Projects.Empty']); // the harness's Dovecot separates levels with '.'
    await h.doveadm(['mailbox', 'create', '-u', src, 'Drafts']);
    const md = join(work, 'empty-md');
    const a = envelope(await runCli(['copy', imap(src), `maildir:${md}`, ...tls, '--checkpoint', join(work, 'empty-md.journal'), '--json'], { env }));
    expect(a.status).toBe(0);
    expect(existsSync(join(md, '.Projects.Empty', 'cur'))).toBe(true);
    expect(existsSync(join(md, '.Drafts', 'cur'))).toBe(true);
    expect(a.result.folders.find((f: { folder: string }) => f.folder === 'Projects/Empty')).toMatchObject({ listed: 0, dest: 'Projects/Empty' });
    const dst = (await h.freshUser('emptydst')).name;
    const b = envelope(await runCli(['copy', imap(src), imap(dst), ...tls, '--checkpoint', join(work, 'empty-imap.journal'), '--json'], { env }));
    expect(b.status).toBe(0);
    const boxes = await h.doveadm(['mailbox', 'list', '-u', dst]);
    expect(boxes.stdout.toString().split('\n').map((l) => l.trim())).toEqual(expect.arrayContaining(['Projects.Empty', 'Drafts']));
    // verify: every folder there; one gone (empty as it was) is a folder missing, not OK.
    expect(envelope(await runCli(['verify', imap(src), `maildir:${md}`, ...tls, '--json'], { env }))).toMatchObject({ status: 0, result: { ok: true, missingFolders: 0 } });
    rmSync(join(md, '.Projects.Empty'), { recursive: true });
    const v = envelope(await runCli(['verify', imap(src), `maildir:${md}`, ...tls, '--json'], { env }));
    expect(v.status).toBe(6);
    expect(v.result).toMatchObject({ ok: false, missing: 0, missingFolders: 1 });
    expect(v.result.verdict).toMatch(/1 folder of the source is not in the destination \(Projects\/Empty\)/);
  });
});

describe('an IMAP account copied into a folder of itself', () => {
  it('the backup folder is not copied again on the next run (it was: Backup/Backup/… one level more each run); onto itself without a folder is refused', async () => {
    const me = (await h.freshUser('selfcopy')).name;
    await seedFixtures(h, me, 'Work');
    // Another spelling of the same server: still the same account.
    const into = `imap://${me}@localhost:${h.ports.imap}/Backup`;
    const args = ['copy', imap(me), into, ...tls, '--checkpoint', join(work, 'self.journal'), '--json'];
    for (let run = 0; run < 3; run++) {
      const out = envelope(await runCli(args, { env }));
      expect(out.status, JSON.stringify(out)).toBe(0);
      if (run === 0) expect(out.result.copied).toBeGreaterThan(10);
      else expect(out.result.copied, `run ${run}`).toBe(0);
      expect(out.result.folders.map((f: { folder: string }) => f.folder).sort()).toEqual(['INBOX', 'Work']);
    }
    const boxes = (await h.doveadm(['mailbox', 'list', '-u', me])).stdout.toString().split('\n').map((l) => l.trim()).filter(Boolean);
    expect(boxes.sort()).toEqual(['Backup', 'Backup.Work', 'INBOX', 'Work']);
    const v = envelope(await runCli(['verify', imap(me), into, ...tls, '--json'], { env }));
    expect(v.result).toMatchObject({ ok: true, missing: 0 });
    const onto = envelope(await runCli(['copy', imap(me), imap(me), ...tls, '--checkpoint', join(work, 'onto.journal'), '--json'], { env }));
    expect(onto.status).toBe(3);
    expect(onto.error?.message).toMatch(/the source and the destination are the same IMAP account .*every folder would be copied onto itself/);
    // A folder copied into itself (the source URL's folder is the destination's prefix, or inside
    // it): refused too, where it was a run that copied nothing and said so as a success.
    for (const [from, to] of [['/INBOX', '/inbox'], ['/Work', '/Work'], ['/Backup/Work', '/Backup']]) {
      const r = await runCli(['copy', imap(me, from), `imap://${me}@localhost:${h.ports.imap}${to}`, ...tls, '--checkpoint', join(work, 'onto-folder.journal'), '--json'], { env });
      expect(envelope(r).status, `${from} → ${to}: ${r.stdout}`).toBe(3);
      expect(envelope(r).error?.message).toMatch(/would be copied into itself/);
      const dry = envelope(await runCli(['copy', imap(me, from), `imap://${me}@localhost:${h.ports.imap}${to}`, ...tls, '--dry-run', '--json'], { env }));
      expect(dry.status).toBe(3);
    }
  });
});

describe('roles guessed from names', () => {
  it("a subfolder named like a role (Projekte/Gesendet: 'Sent' in German) has none: it is copied under its own name, not into the destination's Sent", async () => {
    const src = (await h.freshUser('nested-role')).name;
    await h.doveadm(['mailbox', 'create', '-u', src, 'Projekte.Gesendet']); // '.' separates levels on the harness's Dovecot
    await h.doveadm(['save', '-u', src, '-m', 'Projekte.Gesendet'], Buffer.from('Message-ID: <nested-role@example.org>\r\nSubject: kept in a project\r\n\r\nbody\r\n'));
    const dst = (await h.freshUser('nested-role-dst')).name;
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent']); // \Sent by the server's configuration
    const folders = envelope(await runCli(['folders', imap(src), ...tls, '--json'], { env }));
    expect(folders.result.folders.find((f: { name: string }) => f.name === 'Projekte/Gesendet')).toMatchObject({ specialUse: null });
    const r = envelope(await runCli(['copy', imap(src), imap(dst), ...tls, '--checkpoint', join(work, 'nested-role.j'), '--json'], { env }));
    expect(r.status, JSON.stringify(r.error ?? r.result?.failures)).toBe(0);
    const count = async (box: string) => Number(/messages=(\d+)/.exec((await h.doveadm(['mailbox', 'status', '-u', dst, 'messages', box])).stdout.toString())?.[1]);
    expect(await count('Sent')).toBe(0);
    expect(await count('Projekte.Gesendet')).toBe(1);
  });
});
