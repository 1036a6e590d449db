// The command surface through the real CLI against the real Dovecot: --json shapes of folders,
// copy --dry-run, verify and checkpoint show/reset; --dry-run touches nothing; verify finds a
// message deleted from the destination and one added to it.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeMessageId } from '../../src/mail/headers.js';
import { displayWidth } from '../../src/strings.js';
import { envelope, runCli } from '../harness/cli.js';
import { seedFixtures } from '../harness/fixtures.js';
import { expectOneLineError, h, seeded, snapshot, srcUrl, tls } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-cmd-'));
const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password, XDG_STATE_HOME: join(work, 'state') };
const fixtures = seeded('Fixtures');
const uniqueIds = new Set(fixtures.map((m) => normalizeMessageId(m.messageId)).filter((x) => x));
const withoutId = fixtures.filter((m) => !normalizeMessageId(m.messageId)).length;
const expectedCopies = uniqueIds.size + withoutId;

describe('folders', () => {
  it('--json lists every folder with counts, sizes and roles', async () => {
    const r = await runCli(['folders', srcUrl(), ...tls, '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(Object.keys(out.result).sort()).toEqual(['bytes', 'endpoint', 'folders', 'messages']);
    const byName = new Map<string, any>(out.result.folders.map((f: any) => [f.name, f]));
    for (const name of ['INBOX', 'Archive/2002', 'Café ☕', 'Junk', 'Junk/Old', 'Fixtures']) {
      const f = byName.get(name);
      expect(f, name).toBeDefined();
      expect(Object.keys(f).sort()).toEqual(['bytes', 'messages', 'name', 'noselect', 'path', 'specialUse']);
      expect(f.messages, name).toBe(seeded(name).length);
      // Sizes are what the server counts (CRLF line ends): at least the stored LF bytes.
      expect(f.bytes, name).toBeGreaterThanOrEqual(seeded(name).reduce((n, m) => n + m.bytes.length, 0));
    }
    expect(out.result.messages).toBe(h.manifest().length);
    expect(out.result.bytes).toBe(out.result.folders.reduce((n: number, f: any) => n + f.bytes, 0));
    expect(out.result.endpoint).toBe(`imap://${h.user.name}@${h.host}:${h.ports.imap}`);
  });

  it('prints a table for a person', async () => {
    const r = await runCli(['folders', srcUrl(), ...tls], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^FOLDER\s+MESSAGES\s+SIZE\s+ROLE/);
    expect(r.stdout).toMatch(new RegExp(`^Fixtures\\s+${fixtures.length}\\s`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^total\\s+${h.manifest().length}\\s`, 'm'));
  });
});

describe('folders on other stores', () => {
  it('a Maildir (sizes from the files) and a POP3 box (sizes from LIST)', async () => {
    const user = (await h.freshUser('fold')).name;
    const seededFx = await seedFixtures(h, user, 'INBOX');
    const pop = await runCli(['folders', `pop3://${user}@${h.host}:${h.ports.pop3}`, ...tls, '--json'], { env: { ...env, MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const p = envelope(pop);
    expect(p.status, pop.stderr).toBe(0);
    expect(p.result.folders).toEqual([expect.objectContaining({ name: 'INBOX', messages: seededFx.length })]);
    expect(p.result.bytes).toBeGreaterThanOrEqual(seededFx.reduce((n, m) => n + m.bytes.length, 0));
    const md = h.maildirOf(user);
    const m = envelope(await runCli(['folders', `maildir:${md}`, '--json'], { env }));
    expect(m.status).toBe(0);
    const inbox = m.result.folders.find((f: any) => f.name === 'INBOX');
    expect(inbox.messages).toBe(seededFx.length);
    expect(inbox.bytes).toBe(seededFx.reduce((n, x) => n + x.bytes.length, 0));
  });

  it('the table is aligned by the columns a name takes on a terminal (CJK and emoji are two wide)', async () => {
    const md = join(work, 'wide');
    // Maildir++ names in modified UTF-7: 日本語 and "Mail 📧".
    for (const dir of ['', '.&ZeVnLIqe-', '.Mail &2D3c5w-', '.Plain']) for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(md, dir, s), { recursive: true });
    const r = await runCli(['folders', `maildir:${md}`], { env });
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n');
    expect(rows.some((l) => l.startsWith('日本語'))).toBe(true);
    expect(rows.some((l) => l.startsWith('Mail 📧'))).toBe(true);
    // Every row's MESSAGES column ends in the same terminal column as the header's.
    const end = (l: string) => displayWidth(/^.+? {2,}(\d+|MESSAGES)(?= )/.exec(l)![0]);
    expect(new Set(rows.map(end)).size, r.stdout).toBe(1);
  });
});

describe('copy --dry-run, verify, checkpoint', () => {
  const dest = join(work, 'md');
  const cp = join(work, 'cp.journal');
  const base = () => ['copy', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--checkpoint', cp];

  it('--dry-run on a fresh destination: the plan, and nothing created', async () => {
    const r = await runCli([...base(), '--dry-run', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result).toMatchObject({ dryRun: true, checkpoint: cp, copy: expectedCopies, skipped: fixtures.length - expectedCopies });
    expect(out.result.folders).toHaveLength(1);
    const f = out.result.folders[0];
    expect(f).toMatchObject({ folder: 'Fixtures', dest: 'Fixtures', destExists: false, listed: fixtures.length, copy: expectedCopies, unchanged: false });
    expect(f.skip).toEqual(fixtures.length > expectedCopies ? { duplicate: fixtures.length - expectedCopies } : {});
    expect(f.bytes).toBeGreaterThan(0);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(cp)).toBe(false);
    expect(existsSync(cp + '.lock')).toBe(false);
    expect(existsSync(join(work, 'state'))).toBe(false);
  });

  it('--dry-run with filters says what is left out and why', async () => {
    const r = await runCli([...base(), '--dry-run', '--max-size', '1K', '--since', '2002-01-01'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^dry run: .* \(nothing is written\)$/m);
    expect(r.stdout).toMatch(/Fixtures → Fixtures \(new\): copy \d+ .*skip .*\d+ larger than --max-size/);
    expect(r.stdout).toMatch(/^would copy \d+ messages/m);
    expect(existsSync(dest)).toBe(false);
  });

  it('--dry-run counts what --max-message-size would fail, as many as the copy then fails', async () => {
    const other = join(work, 'md-big');
    const args = ['copy', srcUrl(), `maildir:${other}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'big.journal'), '--max-message-size', '2K', '--json'];
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    // The copy would be partial, and the dry run says so by its exit code too.
    expect(plan.status).toBe(6);
    expect(plan.result.tooLarge).toBeGreaterThan(0);
    expect(plan.result.folders[0].tooLarge).toBe(plan.result.tooLarge);
    const human = await runCli([...args.filter((a) => a !== '--json'), '--dry-run'], { env });
    expect(human.stdout).toMatch(new RegExp(`^would copy ${plan.result.copy} messages .*, fail ${plan.result.tooLarge} too large, in 1 folder$`, 'm'));
    const run = envelope(await runCli(args, { env }));
    expect(run.status).toBe(6);
    expect(run.result.failed).toBe(plan.result.tooLarge);
    expect(run.result.copied).toBe(plan.result.copy);
  });

  it('--log-file of a successful run: its start, the job, each folder, the summary and the exit code', async () => {
    const log = join(work, 'run.log');
    const args = ['copy', srcUrl(), `maildir:${join(work, 'md-log')}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'log.journal'), '--log-file', log, '--quiet'];
    const r = await runCli(args, { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const msgs = lines.map((l) => l.msg as string);
    expect(msgs[0]).toBe('mailferry copy started');
    expect(msgs.find((m) => m.startsWith('copy imap://'))).toMatch(/^copy imap:\/\/.* → maildir:/);
    expect(msgs, JSON.stringify(msgs)).toContain(`Fixtures → Fixtures: listed ${fixtures.length}, copied ${expectedCopies}, already there 0, skipped ${fixtures.length - expectedCopies}, failed 0`);
    expect(msgs.find((m) => m.startsWith('copied '))).toMatch(new RegExp(`^copied ${expectedCopies} messages .*, failed 0, in 1 folder,`));
    expect(lines.at(-1)).toMatchObject({ msg: 'finished: exit 0', exit: 0 });
    // a rerun appends: the folder is unchanged
    await runCli(args, { env });
    const again = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l).msg as string);
    expect(again.filter((m) => m === 'mailferry copy started')).toHaveLength(2);
    expect(again).toContain('Fixtures → Fixtures: unchanged');
  });

  it('--compress to a server without COMPRESS=DEFLATE copies, and says once that it has no effect', async () => {
    const r = await runCli(['copy', srcUrl(), `maildir:${join(work, 'md-compress')}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'compress.journal'), '--compress', '-j', '3'], { env });
    expect(r.code, r.stderr).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.includes('COMPRESS'));
    expect(warnings).toEqual([expect.stringMatching(/^mailferry: warn: .* does not offer COMPRESS=DEFLATE: --compress has no effect on its connections/)]);
  });

  it('copy, then --dry-run on the filled destination changes nothing and plans nothing', async () => {
    const c = await runCli([...base(), '--json'], { env });
    expect(envelope(c).status, c.stderr).toBe(0);
    expect(envelope(c).result.copied).toBe(expectedCopies);
    const before = snapshot(dest);
    const journal = readFileSync(cp);
    const r = await runCli([...base(), '--dry-run', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copy).toBe(0);
    expect(snapshot(dest)).toEqual(before);
    expect(readFileSync(cp).equals(journal)).toBe(true);
    // Without the checkpoint the plan comes from the destination itself.
    const r2 = await runCli([...base().slice(0, -2), '--checkpoint', join(work, 'none.journal'), '--dry-run', '--json'], { env });
    const out2 = envelope(r2);
    expect(out2.result.copy, r2.stderr).toBe(0);
    expect(out2.result.folders[0].skip.present).toBe(fixtures.length);
    expect(existsSync(join(work, 'none.journal'))).toBe(false);
  });

  it('verify: everything there → exit 0 and the verdict', async () => {
    const r = await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(Object.keys(out.result).sort()).toEqual(['dest', 'duplicateList', 'duplicates', 'extra', 'extraList', 'failedFolders', 'folders', 'messages', 'missing', 'missingFolders', 'missingList', 'ok', 'source', 'unreadable', 'unreadableList', 'verdict']);
    expect(out.result).toMatchObject({ ok: true, messages: fixtures.length, missing: 0, extra: 0 });
    expect(out.result.folders[0]).toEqual({ folder: 'Fixtures', dest: 'Fixtures', exists: true, source: fixtures.length, destination: expectedCopies, filtered: 0, missing: 0, extra: 0, duplicates: 0, unreadable: 0 });
    expect(out.result.verdict).toBe(`verify: all ${fixtures.length} messages of the source are in the destination`);
    const human = await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures'], { env });
    expect(human.code, human.stderr + human.stdout).toBe(0);
    expect(human.stdout.trim().split('\n').at(-1)).toBe(`verify: all ${fixtures.length} messages of the source are in the destination`);
  });

  it('verify finds a message deleted from the destination and one added to it → exit 6', async () => {
    const cur = join(dest, '.Fixtures', 'cur');
    const files = readdirSync(cur);
    const victim = files.find((f) => /^message-id:/im.test(readFileSync(join(cur, f), 'latin1').split('\n\n')[0]))!;
    const victimId = normalizeMessageId(/^message-id:\s*(.*)$/im.exec(readFileSync(join(cur, victim), 'latin1'))![1]);
    unlinkSync(join(cur, victim));
    writeFileSync(join(cur, '1700000000.M1P1.test:2,S'), 'From: a@example.org\nMessage-ID: <added-by-hand@example.org>\nSubject: extra\n\nhello\n');
    const r = await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result).toMatchObject({ ok: false, missing: 1, extra: 1 });
    expect(out.result.missingList).toEqual([expect.objectContaining({ folder: 'Fixtures', messageId: victimId })]);
    expect(out.result.extraList).toEqual([expect.objectContaining({ folder: 'Fixtures', key: '1700000000.M1P1.test', messageId: '<added-by-hand@example.org>' })]);
    expect(out.result.verdict).toBe(`verify: 1 of ${fixtures.length} messages of the source is missing from the destination (the destination also holds 1 message not in the source)`);
    const human = await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures'], { env });
    expect(human.code).toBe(6);
    expect(human.stdout).toContain(`missing: Fixtures #`);
    expect(human.stdout).toContain('extra: Fixtures 1700000000.M1P1.test <added-by-hand@example.org>');
    // A rerun of copy puts the missing one back (the checkpoint is reset first: it says "done").
    expect((await runCli(['checkpoint', 'reset', cp], { env })).code).toBe(0);
    const again = await runCli([...base(), '--json'], { env });
    expect(envelope(again).result.copied, again.stderr).toBe(1);
    expect((await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures'], { env })).code).toBe(0);
  });

  it('verify names a message stored twice (a second copy of a source message) without failing', async () => {
    const cur = join(dest, '.Fixtures', 'cur');
    // a copied message (not the one the test before added by hand)
    const one = readdirSync(cur).find((f) => !f.startsWith('1700000000.') && /^message-id:/im.test(readFileSync(join(cur, f), 'latin1').split('\n\n')[0]))!;
    const extraBefore = envelope(await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--json'], { env })).result.extra;
    const copyName = '1700000001.M2P2.test:2,S';
    writeFileSync(join(cur, copyName), readFileSync(join(cur, one)));
    try {
      const r = await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--json'], { env });
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(0);
      expect(out.result).toMatchObject({ ok: true, missing: 0, extra: extraBefore, duplicates: 1 });
      expect(out.result.duplicateList).toHaveLength(1);
      expect(out.result.verdict).toMatch(/\(and 1 second copy of source messages it holds already\)$/);
      const human = await runCli(['verify', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures'], { env });
      expect(human.stdout).toMatch(new RegExp(`, 0 missing, ${extraBefore} extra, 1 duplicate`));
      // whichever of the two the scan meets second
      expect(human.stdout).toMatch(/^duplicate: Fixtures \S+ <[^>]+>$/m);
    } finally {
      unlinkSync(join(cur, copyName));
    }
  });

  it('checkpoint show --json describes the job; reset removes it; a missing one is exit 3', async () => {
    const r = await runCli(['checkpoint', 'show', cp, '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(Object.keys(out.result).sort()).toEqual(['bytes', 'created', 'dest', 'done', 'folders', 'locked', 'path', 'pending', 'records', 'source']);
    expect(out.result).toMatchObject({ path: cp, dest: `maildir:${dest}`, pending: 0, locked: null });
    expect(out.result.done).toBe(fixtures.length);
    expect(out.result.folders).toEqual([expect.objectContaining({ folder: 'Fixtures', done: fixtures.length, pending: 0 })]);
    const human = await runCli(['checkpoint', 'show', cp], { env });
    expect(human.stdout).toContain(`${fixtures.length} messages done, 0 pending`);
    const reset = await runCli(['checkpoint', 'reset', cp, '--json'], { env });
    expect(envelope(reset)).toMatchObject({ status: 0, result: { path: cp, removed: true } });
    expect(existsSync(cp)).toBe(false);
    expectOneLineError(await runCli(['checkpoint', 'show', cp], { env }), 3, /no checkpoint at/);
    const again = await runCli(['checkpoint', 'reset', cp, '--json'], { env });
    expect(envelope(again)).toMatchObject({ status: 0, result: { removed: false } });
  });

  it('checkpoint show names the folders of a Maildir source as copy does (Sent/2020, not .Sent.2020)', async () => {
    const src = join(work, 'show-src');
    for (const dir of ['', '.Keep', '.Sent.2020']) {
      for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(src, dir, sub), { recursive: true });
      writeFileSync(join(src, dir, 'cur', '1.m.host:2,S'), `Message-ID: <show${dir}@x>\n\nbody\n`);
    }
    const showCp = join(work, 'show.journal');
    const copied = await runCli(['copy', `maildir:${src}`, `maildir:${join(work, 'show-dst')}`, '--checkpoint', showCp, '--json'], { env });
    const names = envelope(copied).result.folders.map((f: { folder: string }) => f.folder).sort();
    expect(names).toEqual(['INBOX', 'Keep', 'Sent/2020']);
    const out = envelope(await runCli(['checkpoint', 'show', showCp, '--json'], { env }));
    expect(out.result.folders.map((f: { folder: string }) => f.folder).sort()).toEqual(names);
    expect((await runCli(['checkpoint', 'show', showCp], { env })).stdout).toContain('Sent/2020');
  });

  it('checkpoint reset refuses a file that is not a checkpoint, and a locked one', async () => {
    const notOurs = join(work, 'notes.txt');
    writeFileSync(notOurs, 'precious\n');
    expectOneLineError(await runCli(['checkpoint', 'reset', notOurs], { env }), 3, /is not a mailferry checkpoint/);
    expectOneLineError(await runCli(['checkpoint', 'show', notOurs], { env }), 3, /is not a mailferry checkpoint \(check the checkpoint path; the file was not changed\)/);
    expect(readFileSync(notOurs, 'utf8')).toBe('precious\n');
    // An empty file, which copy calls an unreadable checkpoint to move away, reset takes.
    const empty = join(work, 'empty.journal');
    writeFileSync(empty, '');
    expect(envelope(await runCli(['copy', ...base().slice(1).map((a) => (a === cp ? empty : a)), '--json'], { env })).status).toBe(7);
    expect(envelope(await runCli(['checkpoint', 'reset', empty, '--json'], { env })).status).toBe(0);
    expect(existsSync(empty)).toBe(false);
    // So are a header torn as it was written, and the NULs a power cut leaves of a file: copy calls
    // them unreadable checkpoints (exit 7), and reset and --restart take them. A file without a
    // line end that is neither is not a checkpoint to either (exit 3), and stays as it is.
    const withCp = (p: string) => base().slice(1).map((a) => (a === cp ? p : a));
    for (const [name, body] of [['torn.journal', '{"t":"mailferry-checkpoint","v":1,"crea'], ['nul.journal', '\0'.repeat(300)]] as const) {
      const p = join(work, name);
      writeFileSync(p, body);
      expectOneLineError(await runCli(['copy', ...withCp(p)], { env }), 7, /unreadable: empty or truncated header/);
      expect(envelope(await runCli(['checkpoint', 'reset', p, '--json'], { env })).status, name).toBe(0);
      expect(existsSync(p)).toBe(false);
      writeFileSync(p, body);
      expect(envelope(await runCli(['copy', ...withCp(p), '--restart', '--json'], { env })).status, name).toBe(0);
    }
    const blob = join(work, 'blob.bin');
    writeFileSync(blob, 'PK\x03\x04 no line end in here');
    expectOneLineError(await runCli(['copy', ...withCp(blob)], { env }), 3, /is not a mailferry checkpoint/);
    expectOneLineError(await runCli(['checkpoint', 'reset', blob], { env }), 3, /is not a mailferry checkpoint/);
    expect(readFileSync(blob, 'utf8')).toBe('PK\x03\x04 no line end in here');
    const c = await runCli([...base(), '--json'], { env });
    expect(envelope(c).status, c.stderr).toBe(0);
    writeFileSync(cp + '.lock', JSON.stringify({ pid: 1, host: (await import('node:os')).hostname(), started: 'then' }) + '\n');
    try {
      expectOneLineError(await runCli(['checkpoint', 'reset', cp], { env }), 7, /another mailferry run \(pid 1 /);
      expect(existsSync(cp)).toBe(true);
      const shown = envelope(await runCli(['checkpoint', 'show', cp, '--json'], { env }));
      expect(shown.result.locked).toMatchObject({ pid: 1 });
    } finally {
      unlinkSync(cp + '.lock');
    }
  });
});

describe('an IMAP destination', () => {
  it('--dry-run creates no folder on the server; verify compares against it', async () => {
    const dst = (await h.freshUser('vdst')).name;
    const dstUrl = `imap://${dst}@${h.host}:${h.ports.imap}`;
    const denv = { ...env, MAILFERRY_DEST_PASSWORD: 'pass' };
    const args = [srcUrl(), dstUrl, ...tls, '--folder', 'Fixtures'];
    const plan = await runCli(['copy', ...args, '--checkpoint', join(work, 'imap.j'), '--dry-run', '--json'], { env: denv });
    expect(envelope(plan), plan.stderr).toMatchObject({ status: 0, result: { copy: expectedCopies } });
    expect(envelope(plan).result.folders[0].destExists).toBe(false);
    const listed = await h.doveadm(['mailbox', 'list', '-u', dst]);
    expect(String(listed.stdout)).not.toContain('Fixtures');
    const before = envelope(await runCli(['verify', ...args, '--json'], { env: denv }));
    expect(before).toMatchObject({ status: 6, result: { missing: expectedCopies, folders: [{ exists: false }] } });
    const c = await runCli(['copy', ...args, '--checkpoint', join(work, 'imap.j'), '--json'], { env: denv });
    expect(envelope(c).status, c.stderr).toBe(0);
    const after = await runCli(['verify', ...args, '--json'], { env: denv });
    expect(envelope(after), after.stderr).toMatchObject({ status: 0, result: { ok: true, missing: 0, extra: 0 } });
  });
});

describe('filters on a rerun', () => {
  it('a stricter filter on a rerun: what was copied counts as already there, not as filtered; new mail is filtered', async () => {
    const u = await h.freshUser('refilter');
    const save = (id: string, bodyBytes: number) =>
      h.doveadm(['save', '-u', u.name, '-m', 'INBOX'], Buffer.from(`Message-ID: <${id}@refilter.test>\r\nSubject: ${id}\r\n\r\n${'x'.repeat(bodyBytes)}\r\n`));
    await save('small', 100);
    await save('big', 20_000);
    await save('huge', 60_000);
    const denv = { ...env, MAILFERRY_SOURCE_PASSWORD: u.password };
    const args = ['copy', `imap://${u.name}@${h.host}:${h.ports.imap}`, `maildir:${join(work, 'refilter')}`, ...tls, '--checkpoint', join(work, 'refilter.journal'), '--json'];
    // The first run leaves the huge one out, so the folder is not complete: the rerun lists it all.
    const first = envelope(await runCli([...args, '--max-size', '50K'], { env: denv }));
    expect(first.result).toMatchObject({ copied: 2 });
    await save('small2', 100);
    await save('big2', 20_000);
    const r = envelope(await runCli([...args, '--max-size', '5K'], { env: denv }));
    expect(r.status).toBe(0);
    // small and big are in the destination (already); huge and big2 are left out; small2 is copied.
    expect(r.result.folders.find((f: { folder: string }) => f.folder === 'INBOX')).toMatchObject({ listed: 5, already: 2, copied: 1, filtered: 2 });
  });
});

describe('filters and --map on copy and verify', () => {
  const dest = join(work, 'mapped');
  it('--map puts a folder under another name; --max-size leaves big ones out; verify agrees', async () => {
    const maxSize = 4096;
    const small = seeded('Junk/Old').filter((m) => m.bytes.length + 200 < maxSize).length;
    const args = [srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Junk/Old', '--map', 'Junk/Old=Spam/2002', '--max-size', String(maxSize)];
    const c = await runCli(['copy', ...args, '--checkpoint', join(work, 'mapped.journal'), '--json'], { env });
    const out = envelope(c);
    expect(out.status, c.stderr).toBe(0);
    expect(out.result.folders[0]).toMatchObject({ folder: 'Junk/Old', dest: 'Spam/2002' });
    expect(out.result.folders[0].filtered).toBeGreaterThan(0);
    expect(out.result.filtered).toBe(out.result.folders[0].filtered); // also in the summary, not hidden in a folder
    expect(out.result.copied).toBeGreaterThanOrEqual(small - 50); // duplicates in the corpus are skipped
    expect(existsSync(join(dest, '.Spam.2002', 'cur'))).toBe(true);
    expect(existsSync(join(dest, '.Junk.Old'))).toBe(false);
    const v = await runCli(['verify', ...args, '--json'], { env });
    expect(envelope(v), v.stderr).toMatchObject({ status: 0, result: { ok: true, missing: 0 } });
    expect(envelope(v).result.folders[0]).toMatchObject({ folder: 'Junk/Old', dest: 'Spam/2002', filtered: out.result.folders[0].filtered });
    // A stricter filter on verify: what it leaves out is neither missing nor "extra".
    const strict = await runCli(['verify', ...args.slice(0, -1), '1K', '--json'], { env });
    expect(envelope(strict), strict.stderr).toMatchObject({ status: 0, result: { missing: 0, extra: 0 } });
    // Without the size filter, verify sees the big ones missing.
    const all = await runCli(['verify', ...args.slice(0, -2), '--json'], { env });
    expect(envelope(all).status).toBe(6);
    expect(envelope(all).result.missing).toBeGreaterThan(0);
  });
});

describe('help and flag order', () => {
  it('help COMMAND and -h show the help; the checkpoint topic says what it holds; folders offers no --dest-… flags', async () => {
    for (const args of [['help', 'copy'], ['copy', '-h'], ['copy', '--help']]) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Copy every folder of SOURCE into DEST/);
    }
    const root = await runCli(['help'], { env });
    expect(root.stdout).toMatch(/checkpoint\s+List, show or reset the checkpoints of copy jobs/);
    expectOneLineError(await runCli(['help', 'cpoy'], { env }), 2, /unknown command 'cpoy' \(did you mean 'mailferry copy'\?\)/);
    const folders = await runCli(['folders', '--help'], { env });
    expect(folders.stdout).toContain('--source-password-file');
    expect(folders.stdout).not.toContain('--dest-');
    expect(folders.stdout).toContain('pop3s://');
  });

  it('a topic with flags but no command is a usage error (it printed the help and exited 0); alone or with --help it shows the help', async () => {
    const json = await runCli(['checkpoint', '--json'], { env });
    expect(envelope(json)).toMatchObject({ status: 2, error: { code: 'USAGE', message: "'checkpoint' needs a command", hint: 'one of: checkpoint list, checkpoint reset, checkpoint show' } });
    expectOneLineError(await runCli(['checkpoint', '--quiet'], { env }), 2, /'checkpoint' needs a command \(one of: checkpoint list, checkpoint reset, checkpoint show\)/);
    for (const args of [['checkpoint'], ['checkpoint', '--help'], ['checkpoint', '-h']]) {
      const r = await runCli(args, { env });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^List, show or reset the checkpoints of copy jobs/);
    }
  });

  it('a repeatable flag before SOURCE and DEST takes one value, not the arguments', async () => {
    const r = await runCli(['copy', '--folder', 'Fixtures', ...tls, srcUrl(), `maildir:${join(work, 'flags-first')}`, '--dry-run', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.folders.map((f: { folder: string }) => f.folder)).toEqual(['Fixtures']);
  });
});
