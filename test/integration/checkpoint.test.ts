// The checkpoint through the real CLI: UIDVALIDITY changes, other jobs' checkpoints, corruption,
// and dedupe modes — the destination always ends with every message exactly once.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { expectedByFolder, maildirProblems } from '../harness/expected.js';
import { seedFixtures } from '../harness/fixtures.js';
import type { ManifestEntry } from '../harness/manifest.js';
import { readMaildirTree } from '../harness/maildir-read.js';

const h = harness();
const tls = ['--tls-ca', h.certPem];

describe('checkpoint', () => {
  let user: string;
  let manifest: ManifestEntry[];
  const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
  const url = () => `imap://${user}@${h.host}:${h.ports.imap}`;

  beforeAll(async () => {
    user = (await h.freshUser('cp')).name;
    manifest = [...(await seedCorpus(h, user, { limitPerGroup: 40 })), ...(await seedFixtures(h, user, 'Fixtures'))];
  });

  it('a UIDVALIDITY change re-scans the folder by identity: nothing duplicated, nothing skipped', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-uv-'));
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--folder', 'Junk', '--json'];
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    // Recreate "Junk" with the same messages plus one new one: new UIDVALIDITY, new UIDs.
    await h.doveadm(['mailbox', 'rename', '-u', user, 'Junk', 'JunkOld']);
    await h.doveadm(['mailbox', 'create', '-u', user, 'Junk']);
    await h.doveadm(['copy', '-u', user, 'Junk', 'mailbox', 'JunkOld']);
    await h.doveadm(['save', '-u', user, '-m', 'Junk'], Buffer.from('Message-ID: <new-after-uidvalidity@test>\nSubject: new\n\nhello\n'));
    try {
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result.copied).toBe(1);
    const junk = again.result.folders.find((f: { folder: string }) => f.folder === 'Junk');
    expect(junk.listed).toBe(manifest.filter((e) => e.folder === 'Junk').length + 1);
    const tree = readMaildirTree(dest);
    expect(tree.get('Junk')!.length).toBe(manifest.filter((e) => e.folder === 'Junk').length + 1);
    const problems = maildirProblems(dest, expectedByFolder(manifest.filter((e) => e.folder === 'Junk')).keep);
    expect(problems).toHaveLength(1); // the one new message, and nothing else
    expect(problems[0]).toMatch(/^Junk: 1 extra/);
    } finally {
      await h.doveadm(['mailbox', 'delete', '-u', user, 'Junk']);
      await h.doveadm(['mailbox', 'rename', '-u', user, 'JunkOld', 'Junk']);
    }
  });

  it('messages deleted by hand from the backup are not copied again when the folder is renumbered (UIDVALIDITY); a rebuilt checkpoint records what its scan read', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-uv-del-'));
    const dest = join(work, 'M');
    const cp = join(work, 'cp');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', cp, '--folder', 'Junk', '--json'];
    const first = envelope(await runCli(args, { env }));
    expect(first.status).toBe(0);
    const cur = join(dest, '.Junk', 'cur');
    const files = readdirSync(cur).sort();
    for (const f of files.slice(0, 3)) rmSync(join(cur, f));
    await h.doveadm(['mailbox', 'rename', '-u', user, 'Junk', 'JunkOld2']);
    await h.doveadm(['mailbox', 'create', '-u', user, 'Junk']);
    await h.doveadm(['copy', '-u', user, 'Junk', 'mailbox', 'JunkOld2']);
    try {
      // The dry run and the report say why they are not copied: copied before, not "present".
      const plan = envelope(await runCli([...args, '--dry-run'], { env }));
      expect(plan.result.folders[0].skip).toEqual({ present: files.length - 3, 'copied before': 3 });
      const report = join(work, 'report.ndjson');
      const again = envelope(await runCli([...args, '--report', report], { env }));
      expect(again.status).toBe(0);
      expect(again.result.copied).toBe(0);
      expect(readdirSync(cur)).toHaveLength(files.length - 3);
      const reasons = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l).reason);
      expect(reasons.filter((r) => r === 'copied before')).toHaveLength(3);
      expect(reasons.filter((r) => r === 'present')).toHaveLength(files.length - 3);
      // Without the checkpoint the destination is the truth: the rebuilt one records every file
      // its scan read ('d' records), so the next scan reads none of them again.
      rmSync(cp);
      expect(envelope(await runCli(args, { env })).result.copied).toBe(3);
      const recorded = readFileSync(cp, 'utf8').split('\n').filter((l) => l.startsWith('{"t":"d"')).length;
      expect(recorded).toBe(files.length - 3);
    } finally {
      await h.doveadm(['mailbox', 'delete', '-u', user, 'Junk']);
      await h.doveadm(['mailbox', 'rename', '-u', user, 'JunkOld2', 'Junk']);
    }
  });

  // A server restored from a snapshot (its dovecot-uidlist with it) keeps its UIDVALIDITY and gives
  // the UIDs of the messages after the snapshot to new ones: the checkpoint has those UIDs as done.
  it('UIDNEXT gone back under the same UIDVALIDITY (UIDs given out again) re-scans the folder by identity', async () => {
    const owner = (await h.freshUser('reuse')).name;
    const mail = (id: string) => Buffer.from(`Message-ID: <${id}@reuse.test>\nSubject: ${id}\n\nbody of ${id}\n`);
    await h.doveadm(['mailbox', 'create', '-u', owner, 'Snap']);
    for (const id of ['m1', 'm2', 'm3', 'm4']) await h.doveadm(['save', '-u', owner, '-m', 'Snap'], mail(id));
    const uv = /uidvalidity=(\d+)/.exec((await h.doveadm(['mailbox', 'status', '-u', owner, 'uidvalidity', 'Snap'])).stdout.toString())![1]!;
    const work = mkdtempSync(join(tmpdir(), 'mf-reuse-'));
    const dest = join(work, 'M');
    const args = ['copy', `imap://${owner}@${h.host}:${h.ports.imap}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp'), '--folder', 'Snap', '--json'];
    const ownEnv = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
    expect(envelope(await runCli(args, { env: ownEnv })).result.copied).toBe(4);
    // The snapshot held m1 and m2; after it is restored, n1 arrives as UID 3 (UIDNEXT 4, was 5).
    await h.doveadm(['mailbox', 'delete', '-u', owner, 'Snap']);
    await h.doveadm(['mailbox', 'create', '-u', owner, 'Snap']);
    await h.doveadm(['mailbox', 'update', '-u', owner, '--uid-validity', uv, 'Snap']);
    for (const id of ['m1', 'm2', 'n1']) await h.doveadm(['save', '-u', owner, '-m', 'Snap'], mail(id));
    const plan = envelope(await runCli([...args, '--dry-run'], { env: ownEnv }));
    expect(plan.result.folders[0]).toMatchObject({ copy: 1, unchanged: false, skip: { present: 2 } });
    const out = envelope(await runCli(args, { env: ownEnv }));
    expect(out.status).toBe(0);
    expect(out.result.copied).toBe(1);
    expect(out.warnings).toContain('Snap: UIDNEXT went back from 5 to 4 under the same UIDVALIDITY: the server gives out UIDs again (restored from a backup?); re-scanning the folder by identity');
    // From here on the folder is followed as it is now.
    for (const id of ['n2', 'n3', 'n4']) await h.doveadm(['save', '-u', owner, '-m', 'Snap'], mail(id));
    const later = envelope(await runCli(args, { env: ownEnv }));
    expect(later.result.copied).toBe(3);
    expect(later.warnings).toEqual([]);
    expect(readMaildirTree(dest).get('Snap')!.map((f) => /Subject: (\w+)/.exec(f.bytes.toString('latin1'))![1]).sort()).toEqual(['m1', 'm2', 'm3', 'm4', 'n1', 'n2', 'n3', 'n4']);
  });

  it('a checkpoint of another job is refused (exit 3) unless --restart', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-other-'));
    const cp = join(work, 'cp');
    expect(envelope(await runCli(['copy', `${url()}/Fixtures`, `maildir:${join(work, 'A')}`, ...tls, '--checkpoint', cp, '--json'], { env })).status).toBe(0);
    const other = await runCli(['copy', `${url()}/Fixtures`, `maildir:${join(work, 'B')}`, ...tls, '--checkpoint', cp], { env });
    expect(other.code).toBe(3);
    expect(other.stderr.trim().split('\n')).toHaveLength(1);
    expect(other.stderr).toMatch(/belongs to another job.*--restart/);
    const restarted = await runCli(['copy', `${url()}/Fixtures`, `maildir:${join(work, 'B')}`, ...tls, '--checkpoint', cp, '--restart', '--json'], { env });
    expect(envelope(restarted).status).toBe(0);
  });

  it('a job whose source moved (another URL, the same destination): the refusal names both copies and says --restart copies nothing twice', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-moved-'));
    const cp = join(work, 'cp');
    const dest = `maildir:${join(work, 'A')}`;
    expect(envelope(await runCli(['copy', `${url()}/Fixtures`, dest, ...tls, '--checkpoint', cp, '--json'], { env })).status).toBe(0);
    const moved = `imap://${user}@localhost:${h.ports.imap}/Fixtures`;
    const refused = await runCli(['copy', moved, dest, ...tls, '--checkpoint', cp], { env });
    expect(refused.code).toBe(3);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`belongs to another job (imap://${user}@127.0.0.1:${h.ports.imap}/Fixtures → ${dest}), not this one (imap://${user}@localhost:${h.ports.imap}/Fixtures → ${dest})`);
    expect(refused.stderr).toMatch(/the source changed.*--restart.*nothing already in the destination is copied again/);
    const restarted = envelope(await runCli(['copy', moved, dest, ...tls, '--checkpoint', cp, '--restart', '--json'], { env }));
    expect(restarted.status).toBe(0);
    expect(restarted.result.copied).toBe(0);
  });

  it('a host name written in another case is the same job: the same checkpoint, taken as its own', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-hostcase-'));
    const state = join(work, 'state');
    const dest = `maildir:${join(work, 'M')}`;
    const at = (host: string) => `imap://${user}@${host}:${h.ports.imap}/Fixtures`;
    const run = async (host: string, more: string[] = []) => envelope(await runCli(['copy', at(host), dest, ...tls, '--json', ...more], { env: { ...env, XDG_STATE_HOME: state } }));
    const first = await run('localhost');
    expect(first.status).toBe(0);
    // Host names are case-insensitive (DNS): one server, one job, one default checkpoint.
    const again = await run('LocalHost');
    expect(again.status).toBe(0);
    expect(again.result.checkpoint).toBe(first.result.checkpoint);
    expect(again.result.folders.every((f: { unchanged: boolean }) => f.unchanged)).toBe(true);
    // A checkpoint named in a job file is taken too, rather than refused as another job's.
    const cp = join(work, 'cp');
    expect((await run('LOCALHOST', ['--checkpoint', cp])).status).toBe(0);
    const named = await run('localhost', ['--checkpoint', cp]);
    expect(named.error).toBeUndefined();
    expect(named.result.folders.every((f: { unchanged: boolean }) => f.unchanged)).toBe(true);
  });

  it('a corrupt checkpoint exits 7 with a hint; moved away, the rerun rebuilds from the destination', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-corrupt-'));
    const cp = join(work, 'cp');
    const dest = join(work, 'M');
    const args = ['copy', url(), `maildir:${dest}`, ...tls, '--checkpoint', cp];
    expect((await runCli(args, { env })).code).toBe(0);
    appendFileSync(cp, 'not json\n{"t":"k","s":"INBOX","k":"1","why":"x"}\n');
    const bad = await runCli(args, { env });
    expect(bad.code).toBe(7);
    expect(bad.stderr).toMatch(/unreadable.*move it away/);
    writeFileSync(cp, '');
    const rebuilt = await runCli([...args, '--restart', '--json'], { env });
    expect(envelope(rebuilt).result.copied).toBe(0);
    expect(maildirProblems(dest, expectedByFolder(manifest).keep)).toEqual([]);
  });

  it('--dedupe none copies duplicates too; --dedupe content keeps different messages sharing a Message-ID', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-dedupe-'));
    const fixtures = manifest.filter((e) => e.folder === 'Fixtures');
    const content = envelope(await runCli(['copy', `${url()}/Fixtures`, `maildir:${join(work, 'C')}`, ...tls, '--checkpoint', join(work, 'c'), '--dedupe', 'content', '--json'], { env }));
    expect(content.result.copied).toBe(fixtures.length);
    const none = envelope(await runCli(['copy', `${url()}/Fixtures`, `maildir:${join(work, 'N')}`, ...tls, '--checkpoint', join(work, 'n'), '--dedupe', 'none', '--json'], { env }));
    expect(none.result.copied).toBe(fixtures.length);
    const again = envelope(await runCli(['copy', `${url()}/Fixtures`, `maildir:${join(work, 'C')}`, ...tls, '--checkpoint', join(work, 'c2'), '--dedupe', 'content', '--json'], { env }));
    expect(again.result.copied).toBe(0);
  });
});
