// mailferry copy IMAP → Maildir through the real CLI against the real Dovecot of the harness.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lfToCrlf } from '../../src/mail/line-endings.js';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { lettersOf, readMaildirTree } from '../harness/maildir-read.js';
import { expectedByFolder } from '../harness/expected.js';

const h = harness();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const served = (b: Buffer) => sha(lfToCrlf(b));
const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password };
const src = `imap://${h.user.name}@${h.host}:${h.ports.imap}`;
const tls = ['--tls-ca', h.certPem];

describe('copy imap:// → maildir: (real CLI, real Dovecot)', () => {
  const work = mkdtempSync(join(tmpdir(), 'mf-i2m-'));
  const checkpoint = join(work, 'cp.journal');
  const report = join(work, 'report.ndjson');
  let dest: string;
  let backupUser: string;
  const manifest = h.manifest();
  const { keep, dups } = expectedByFolder(manifest);
  const total = [...keep.values()].reduce((a, l) => a + l.length, 0);

  beforeAll(async () => {
    backupUser = (await h.freshUser('bk')).name;
    dest = h.maildirOf(backupUser);
  });

  it('copies every folder once, byte-exact (CRLF→LF), with flags and INTERNALDATE as mtime', async () => {
    const r = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', checkpoint, '--report', report, '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr + JSON.stringify(out.result?.failures?.slice(0, 3)) + JSON.stringify(out.result?.folders?.filter((f: { error?: string }) => f.error))).toBe(0);
    expect(out.result.copied).toBe(total);
    expect(out.result.failed).toBe(0);
    expect(out.result.skipped).toBe(dups.length);
    expect(dups.length).toBeGreaterThan(0); // fixtures hold two different messages sharing one Message-ID
    expect(out.result.folders.map((f: { folder: string }) => f.folder).sort()).toEqual([...new Set(manifest.map((e) => e.folder))].sort());

    const tree = readMaildirTree(dest);
    for (const [folder, entries] of keep) {
      const files = tree.get(folder);
      expect(files, `folder ${folder} missing; have ${[...tree.keys()].join(', ')}`).toBeDefined();
      expect(files!.length, folder).toBe(entries.length);
      const byHash = new Map<string, typeof files>();
      // Keyed by the message as an IMAP client sees it (a Maildir reader serves LF as CRLF).
      for (const f of files!) byHash.set(served(f.bytes), [...(byHash.get(served(f.bytes)) ?? []), f]);
      for (const e of entries) {
        const cands = byHash.get(served(e.bytes));
        expect(Boolean(cands && cands.length > 0), `${folder}: ${e.origin} not stored byte-exact`).toBe(true);
        const f = cands!.shift()!;
        // Byte-equal to the server's stored file, except where that file holds CRLF itself: a
        // server serves stored CRLF and stored LF alike, so no client can tell them apart.
        if (!e.bytes.includes('\r\n')) expect(f.bytes.equals(e.bytes), `${e.origin} bytes`).toBe(true);
        expect(f.info, `${e.origin} flags`).toBe(lettersOf(e.flags));
        expect(Math.floor(f.mtimeMs / 1000), `${e.origin} mtime`).toBe(Math.floor(e.internalDate.getTime() / 1000));
        expect(f.mode, `${f.path} mode`).toBe(0o600);
        expect(f.path).toContain('/cur/');
      }
    }
    const crlfStored = [...keep.values()].flat().filter((e) => e.bytes.includes('\r\n'));
    expect(crlfStored.length).toBeLessThanOrEqual(1);
    expect(out.result.bytes).toBeLessThanOrEqual([...keep.values()].flat().reduce((a, e) => a + e.bytes.length, 0));
    expect(statSync(dest).mode & 0o777).toBe(0o700);
    expect(statSync(join(dest, '.Archive.2002', 'cur')).mode & 0o777).toBe(0o700);
    expect(existsSync(join(dest, '.Caf&AOk- &JhU-', 'cur'))).toBe(true); // Dovecot's own name for "Café ☕"

    // The report names every duplicate that was skipped, with its source key.
    const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.outcome === 'copied')).toHaveLength(total);
    // The destination folder is named as in the --json result: '/' between levels.
    expect(lines.find((l) => l.outcome === 'copied' && l.folder === 'Archive/2002')?.dest).toBe('Archive/2002');
    const skipped = lines.filter((l) => l.outcome === 'skipped');
    expect(skipped).toHaveLength(dups.length);
    for (const s of skipped) {
      expect(s.reason).toBe('duplicate');
      expect(s.key).toMatch(/^\d+$/);
    }
    expect(statSync(report).mode & 0o777).toBe(0o600);
    expect(statSync(checkpoint).mode & 0o777).toBe(0o600);
  });

  it('a rerun copies nothing and lists nothing (folders unchanged)', async () => {
    const r = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', checkpoint, '--json'], { env });
    const out = envelope(r);
    expect(out.status).toBe(0);
    expect(out.result.copied).toBe(0);
    expect(out.result.folders.every((f: { unchanged: boolean }) => f.unchanged)).toBe(true);
  });

  it('a --report or --log-file that existed readable by others is made 0600; /dev/null is left alone', async () => {
    const report2 = join(dirname(checkpoint), 'wide-report.ndjson');
    const log = join(dirname(checkpoint), 'wide.log');
    writeFileSync(report2, '', { mode: 0o644 });
    writeFileSync(log, 'an earlier line\n', { mode: 0o640 });
    chmodSync(report2, 0o644);
    chmodSync(log, 0o640);
    const nullMode = statSync('/dev/null').mode;
    const r = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', checkpoint, '--report', report2, '--log-file', log, '--quiet'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(report2).mode & 0o777).toBe(0o600);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(readFileSync(log, 'utf8')).toMatch(/^an earlier line\n/);
    const n = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', checkpoint, '--log-file', '/dev/null', '--quiet'], { env });
    expect(n.code, n.stderr).toBe(0);
    expect(statSync('/dev/null').mode).toBe(nullMode);
  });

  it('without its checkpoint, a rerun rebuilds from the destination: copies 0, no duplicates', async () => {
    rmSync(checkpoint);
    const r = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', checkpoint, '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr + JSON.stringify(out.result?.failures?.slice(0, 3)) + JSON.stringify(out.result?.folders?.filter((f: { error?: string }) => f.error))).toBe(0);
    expect(out.result.copied).toBe(0);
    expect(out.result.skipped).toBe(total + dups.length);
    const count = [...readMaildirTree(dest).values()].reduce((a, l) => a + l.length, 0);
    expect(count).toBe(total);
  });

  it('Dovecot pointed at the backup serves the same folders and message counts', async () => {
    execFileSync('chown', ['-R', `${h.mailUid}:${h.mailGid}`, dest]);
    const list = (await h.doveadm(['mailbox', 'list', '-u', backupUser])).stdout.toString('utf8').trim().split('\n').sort();
    const srcList = (await h.doveadm(['mailbox', 'list', '-u', h.user.name])).stdout.toString('utf8').trim().split('\n').sort();
    expect(list).toEqual(srcList);
    for (const [folder, entries] of keep) {
      const name = folder.split('/').join('.');
      const st = (await h.doveadm(['-f', 'flow', 'mailbox', 'status', '-u', backupUser, 'messages', name])).stdout.toString('utf8').trim();
      expect(st, folder).toMatch(new RegExp(`(^| )messages=${entries.length}$`));
    }
  });
});

describe('copy: folder selection, TLS and authentication', () => {
  const work = mkdtempSync(join(tmpdir(), 'mf-i2m-sel-'));

  it('a folder in the source URL copies just that folder', async () => {
    const dest = join(work, 'one');
    const r = await runCli(['copy', `${src}/Junk/Old`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'one.cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr + JSON.stringify(out.result?.failures?.slice(0, 3)) + JSON.stringify(out.result?.folders?.filter((f: { error?: string }) => f.error))).toBe(0);
    expect(out.result.folders.map((f: { folder: string }) => f.folder)).toEqual(['Junk/Old']);
    const tree = readMaildirTree(dest);
    expect(tree.get('Junk/Old')!.length).toBe(h.manifest().filter((e) => e.folder === 'Junk/Old').length);
    expect([...tree.keys()].sort()).toEqual(['INBOX', 'Junk/Old']);
    expect(tree.get('INBOX')).toHaveLength(0);
  });

  it('--folder and --exclude select by glob', async () => {
    const dest = join(work, 'sel');
    const r = await runCli(['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'sel.cp'), '--folder', 'Junk*', '--folder', 'Fixtures', '--exclude', 'Junk/*', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr + JSON.stringify(out.result?.failures?.slice(0, 3)) + JSON.stringify(out.result?.folders?.filter((f: { error?: string }) => f.error))).toBe(0);
    expect(out.result.folders.map((f: { folder: string }) => f.folder).sort()).toEqual(['Fixtures', 'Junk']);
  });

  it('--folder and --exclude take "!" and "[…]" as the characters of a name ([Gmail], !Important), not as negation or a class', async () => {
    const u = await h.freshUser('globs');
    for (const box of ['!Important', '[Gmail]', '[Gmail]/All Mail', 'G', 'G/All Mail', 'Work']) {
      await h.doveadm(['mailbox', 'create', '-u', u.name, box.replace(/\//g, '.')]);
      await h.doveadm(['save', '-u', u.name, '-m', box.replace(/\//g, '.')], Buffer.from(`Message-ID: <${box}@globs.test>\r\nSubject: x\r\n\r\nbody\r\n`));
    }
    const from = `imap://${u.name}@${h.host}:${h.ports.imap}`;
    const folders = async (...sel: string[]) => {
      const out = envelope(await runCli(['copy', from, `maildir:${join(work, 'globs')}`, '--source-tls', 'none', '--dry-run', '--json', ...sel], { env: { MAILFERRY_SOURCE_PASSWORD: u.password } }));
      expect(out.status, JSON.stringify(out.error)).toBe(0);
      return (out.result.folders as { folder: string }[]).map((f) => f.folder).sort();
    };
    expect(await folders('--folder', '!Important')).toEqual(['!Important']);
    expect(await folders('--folder', '[Gmail]/All Mail')).toEqual(['[Gmail]/All Mail']);
    expect(await folders('--exclude', '[Gmail]/*', '--exclude', '[Gmail]', '--exclude', 'INBOX')).toEqual(['!Important', 'G', 'G/All Mail', 'Work']);
    expect(await folders('--exclude', '!Important', '--exclude', 'INBOX')).toEqual(['G', 'G/All Mail', 'Work', '[Gmail]', '[Gmail]/All Mail']);
  });

  it('an --exclude that matches no folder (a typo, another case) is warned about, naming a folder it may have meant, in copy, dry run and verify', async () => {
    const u = await h.freshUser('exctypo');
    for (const box of ['Junk', 'Work']) {
      await h.doveadm(['mailbox', 'create', '-u', u.name, box]);
      await h.doveadm(['save', '-u', u.name, '-m', box], Buffer.from(`Message-ID: <${box}@exctypo.test>\r\nSubject: x\r\n\r\nbody\r\n`));
    }
    const from = `imap://${u.name}@${h.host}:${h.ports.imap}`;
    const env = { MAILFERRY_SOURCE_PASSWORD: u.password };
    const dest = `maildir:${join(work, 'exctypo')}`;
    const sel = ['--source-tls', 'none', '--json', '--exclude', 'junk', '--exclude', 'Nowhere/*', '--exclude', 'INBOX', '--checkpoint', join(work, 'exctypo.cp')];
    for (const args of [['copy', from, dest, '--dry-run', ...sel], ['copy', from, dest, ...sel], ['verify', from, dest, ...sel]]) {
      const out = envelope(await runCli(args, { env }));
      expect(out.status, JSON.stringify(out.error)).toBe(0);
      expect(out.warnings).toContainEqual(expect.stringMatching(/--exclude 'junk' matches no source folder.*Junk/));
      expect(out.warnings).toContainEqual(expect.stringMatching(/--exclude 'Nowhere\/\*' matches no source folder/));
      expect(out.warnings.join('\n')).not.toMatch(/'INBOX' matches no/);
    }
  });

  it('--map takes a folder name with spaces at its ends as it is written, when the source has it', async () => {
    const u = await h.freshUser('mapsp');
    for (const box of ['trail ', 'trail', ' lead', 'Work']) {
      await h.doveadm(['mailbox', 'create', '-u', u.name, box]);
      await h.doveadm(['save', '-u', u.name, '-m', box], Buffer.from(`Message-ID: <${box.trim()}-${box.length}@mapsp.test>\r\nSubject: x\r\n\r\nbody\r\n`));
    }
    const from = `imap://${u.name}@${h.host}:${h.ports.imap}`;
    const plan = async (...map: string[]) => {
      const out = envelope(await runCli(['copy', from, `maildir:${join(work, 'mapsp')}`, '--source-tls', 'none', '--dry-run', '--json', '--exclude', 'INBOX', ...map.flatMap((m) => ['--map', m])], { env: { MAILFERRY_SOURCE_PASSWORD: u.password } }));
      expect(out.status, JSON.stringify(out.error)).toBe(0);
      return Object.fromEntries((out.result.folders as { folder: string; dest: string }[]).map((f) => [f.folder, f.dest]));
    };
    expect(await plan('trail =Archive/Spaced')).toEqual({ 'trail ': 'Archive/Spaced', trail: 'trail', ' lead': ' lead', Work: 'Work' });
    expect(await plan(' lead=Lead', 'trail=T')).toEqual({ 'trail ': 'trail ', trail: 'T', ' lead': 'Lead', Work: 'Work' });
    // Spaces around '=' as people type them: the name without them, the source having none with them.
    expect(await plan(' Work = Archive / Work')).toEqual({ 'trail ': 'trail ', trail: 'trail', ' lead': ' lead', Work: 'Archive/Work' });
  });

  it("a --folder or --exclude that matches a folder once spaces at the ends of its levels are dropped, or ignoring case, names it (did you mean 'Work'?)", async () => {
    const u = await h.freshUser('nearsel');
    for (const box of ['Work', 'Private', ' lead', 'Archive', 'Archive.2024']) {
      await h.doveadm(['mailbox', 'create', '-u', u.name, box]);
      await h.doveadm(['save', '-u', u.name, '-m', box], Buffer.from(`Message-ID: <${box.trim()}@nearsel.test>\r\nSubject: x\r\n\r\nbody\r\n`));
    }
    const from = `imap://${u.name}@${h.host}:${h.ports.imap}`;
    const uenv = { MAILFERRY_SOURCE_PASSWORD: u.password };
    const dest = `maildir:${join(work, 'nearsel')}`;
    const base = ['--source-tls', 'none', '--checkpoint', join(work, 'nearsel.cp')];
    // Alone: the run is refused (exit 3), in one line that names the folder meant.
    const alone = await runCli(['copy', from, dest, ...base, '--folder', 'Work '], { env: uenv });
    expect(alone.code, alone.stderr).toBe(3);
    expect(alone.stderr.trim().split('\n')).toHaveLength(1);
    expect(alone.stderr).toMatch(/no source folder matches --folder 'Work ' \(spaces at the ends of a name count: did you mean 'Work'\?\)/);
    expect(existsSync(join(work, 'nearsel'))).toBe(false);
    // Beside one that matches: that folder fails (exit 6) and says which was meant, in copy's dry run and verify.
    const made = join(work, 'nearsel-v');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(made, d), { recursive: true });
    for (const cmd of ['copy', 'verify']) {
      const out = envelope(await runCli([cmd, from, `maildir:${made}`, '--source-tls', 'none', ...(cmd === 'copy' ? ['--dry-run'] : []), '--json', '--folder', 'work', '--folder', 'lead', '--folder', 'Archive/ 2024 ', '--folder', 'Private'], { env: uenv }));
      expect(out.status, JSON.stringify(out.error)).toBe(6);
      const errors = Object.fromEntries((out.result.folders as { folder: string; error?: string }[]).map((f) => [f.folder, f.error ?? null]));
      expect(errors).toEqual({
        Private: null,
        work: "no source folder matches --folder 'work' (folder names are case-sensitive: did you mean 'Work'?)",
        lead: "no source folder matches --folder 'lead' (spaces at the ends of a name count: did you mean ' lead'?)",
        'Archive/ 2024 ': "no source folder matches --folder 'Archive/ 2024 ' (spaces at the ends of a name count: did you mean 'Archive/2024'?)",
      });
    }
    // An --exclude with a space too: its warning names the folder.
    const ex = envelope(await runCli(['copy', from, dest, ...base, '--dry-run', '--json', '--exclude', 'Private '], { env: uenv }));
    expect(ex.warnings).toContainEqual("--exclude 'Private ' matches no source folder, so it leaves nothing out (spaces at the ends of a name count: did you mean 'Private'?)");
    // Nothing near: no guess.
    const far = await runCli(['copy', from, dest, ...base, '--folder', 'Nowhere'], { env: uenv });
    expect(far.stderr).not.toMatch(/did you mean/);
    // A folder in the URL, for copy and for folders: the same note.
    const inUrl = await runCli(['copy', `${from}/Work%20`, dest, ...base], { env: uenv });
    expect([inUrl.code, inUrl.stderr]).toEqual([3, expect.stringMatching(/^mailferry: error: the source has no folder 'Work ' \(spaces at the ends of a name count: did you mean 'Work'\?\) \(it has: /)]);
    const listed = await runCli(['folders', `${from}/work`, '--source-tls', 'none'], { env: uenv });
    expect([listed.code, listed.stderr]).toEqual([3, expect.stringMatching(/has no folder 'work' \(folder names are case-sensitive: did you mean 'Work'\?\) \(leave the folder out/)]);
    expect(existsSync(join(work, 'nearsel'))).toBe(false);
  });

  it('a --folder that matches nothing beside one that does (a folder renamed at the source since the job was written): the rest is copied, that one fails (exit 6), in copy, dry run and verify', async () => {
    const dest = join(work, 'gone-sel');
    const args = [src, `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--folder', 'Sent', '--folder', 'Old/*'];
    const r = await runCli(['copy', ...args, '--checkpoint', join(work, 'gone-sel.cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(expectedByFolder(h.manifest()).keep.get('Fixtures')!.length);
    expect(out.result.folders.map((f: { folder: string; error?: string }) => [f.folder, f.error ?? null])).toEqual([
      ['Fixtures', null],
      ['Sent', "no source folder matches --folder 'Sent'"],
      ['Old/*', "no source folder matches --folder 'Old/*'"],
    ]);
    const text = await runCli(['copy', ...args, '--checkpoint', join(work, 'gone-sel.cp')], { env });
    expect(text.code).toBe(6);
    expect(text.stderr).toMatch(/error: no source folder matches --folder 'Sent' \(the source has: .*Fixtures/);
    expect(text.stdout).toContain("folder failed: Sent: no source folder matches --folder 'Sent'");
    const plan = await runCli(['copy', ...args, '--dry-run'], { env });
    expect(plan.code).toBe(6);
    expect(plan.stdout).toContain("  Sent: would fail: no source folder matches --folder 'Sent'");
    const v = envelope(await runCli(['verify', ...args, '--json'], { env }));
    expect(v.status).toBe(6);
    expect(v.result.folders.filter((f: { error?: string }) => f.error).map((f: { folder: string }) => f.folder)).toEqual(['Sent', 'Old/*']);
  });

  it('a folder that does not exist is a configuration error naming what exists', async () => {
    const r = await runCli(['copy', `${src}/Nope`, `maildir:${join(work, 'nope')}`, ...tls, '--checkpoint', join(work, 'nope.cp')], { env });
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no folder 'Nope'.*Junk/);
  });

  it('a wrong password exits 4 with one line and no stack trace', async () => {
    const r = await runCli(['copy', src, `maildir:${join(work, 'wrong')}`, ...tls, '--checkpoint', join(work, 'wrong.cp')], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'not-the-password' },
    });
    expect(r.code).toBe(4);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^mailferry: error: login as corpus .* failed/);
    expect(r.stderr).not.toContain('not-the-password');
    expect(r.stdout).toBe('');
  });

  it('--json puts the error in the envelope', async () => {
    const r = await runCli(['copy', src, `maildir:${join(work, 'wrongj')}`, ...tls, '--checkpoint', join(work, 'wrongj.cp'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'not-the-password' },
    });
    const out = envelope(r);
    expect(out).toMatchObject({ status: 4, error: { code: 'AUTH_FAILED' } });
    expect(r.stderr).toBe('');
  });

  it('verifies certificates: self-signed without --tls-ca fails (4); --insecure works and says so', async () => {
    const url = `imaps://${h.user.name}@${h.host}:${h.ports.imaps}/Fixtures`;
    const bad = await runCli(['copy', url, `maildir:${join(work, 'tls1')}`, '--checkpoint', join(work, 'tls1.cp')], { env });
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/certificate .* not trusted.*--tls-ca/);
    const ok = await runCli(['copy', url, `maildir:${join(work, 'tls2')}`, '--checkpoint', join(work, 'tls2.cp'), '--insecure'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/NOT verified/);
    const ca = await runCli(['copy', url, `maildir:${join(work, 'tls3')}`, '--checkpoint', join(work, 'tls3.cp'), ...tls], { env });
    expect(ca.code, ca.stderr).toBe(0);
  });

  it('a password in the URL is refused, naming the environment variable', async () => {
    const r = await runCli(['copy', `imap://corpus:secret@${h.host}:${h.ports.imap}`, `maildir:${join(work, 'pw')}`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/MAILFERRY_SOURCE_PASSWORD/);
    expect(r.stderr).not.toContain('secret');
  });
});
