// Maildir as a source, through the real CLI against the harness's Dovecot: the restore round trip
// IMAP → Maildir (mailferry) → a fresh IMAP account gives back the same folders, bytes, flags and
// dates; Dovecot's own Maildir and a nested (mbsync "Verbatim") layout read as sources.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { linkSync, mkdirSync, mkdtempSync, promises as fs, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { expectedByFolder } from '../harness/expected.js';
import { seedFixtures } from '../harness/fixtures.js';
import { lettersOf, readMaildirTree } from '../harness/maildir-read.js';
import type { ManifestEntry } from '../harness/manifest.js';

const h = harness();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const tls = ['--tls-ca', h.certPem];
const work = mkdtempSync(join(tmpdir(), 'mf-mdsrc-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const imap = (user: string) => `imap://${user}@${h.host}:${h.ports.imap}`;

/** Per folder, what Message-ID dedupe keeps (first in order). */
const keptByFolder = (entries: ManifestEntry[]) => expectedByFolder(entries).keep;

/** The user's folders hold exactly `kept`: bytes, flags and dates. */
function expectAccountHolds(user: string, kept: Map<string, ManifestEntry[]>): void {
  const tree = readMaildirTree(h.maildirOf(user));
  const nonEmpty = [...tree].filter(([, files]) => files.length > 0).map(([f]) => f);
  expect(nonEmpty.sort()).toEqual([...kept.keys()].sort());
  for (const [folder, entries] of kept) {
    const files = tree.get(folder)!;
    expect(files.map((f) => sha(f.bytes)).sort(), folder).toEqual(entries.map((e) => sha(e.bytes)).sort());
    const bySha = new Map(files.map((f) => [sha(f.bytes), f]));
    for (const e of entries) {
      const f = bySha.get(sha(e.bytes))!;
      expect(f.info, `${folder} ${e.origin}`).toBe(lettersOf(e.flags));
      expect(Math.round(f.mtimeMs / 1000), `${folder} ${e.origin}`).toBe(e.internalDate.getTime() / 1000);
    }
  }
}

describe('Maildir → IMAP', () => {
  let src: string;
  let kept: Map<string, ManifestEntry[]>;

  beforeAll(async () => {
    src = (await h.freshUser('mdsrc')).name;
    kept = keptByFolder([...(await seedCorpus(h, src, { limitPerGroup: 40 })), ...(await seedFixtures(h, src, 'Fixtures'))]);
  });

  it('restores a mailferry backup to a fresh account: same folders, bytes, flags and dates; a rerun copies nothing', async () => {
    const backup = join(work, 'backup');
    const b = await runCli(['copy', imap(src), `maildir:${backup}`, ...tls, '--checkpoint', join(work, 'b.journal'), '--json'], { env });
    expect(envelope(b).status, b.stderr).toBe(0);

    const dst = (await h.freshUser('mdrestore')).name;
    const args = ['copy', `maildir:${backup}`, imap(dst), ...tls, '--checkpoint', join(work, 'r.journal'), '--json'];
    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe([...kept.values()].reduce((a, l) => a + l.length, 0));
    expectAccountHolds(dst, kept);

    const again = await runCli(args, { env });
    expect(envelope(again).status, again.stderr).toBe(0);
    expect(envelope(again).result.copied).toBe(0);
  });

  it("reads Dovecot's own Maildir (its file names, uidlist and index files) as a source", async () => {
    const dst = (await h.freshUser('mddove')).name;
    const r = await runCli(['copy', `maildir:${h.maildirOf(src)}`, imap(dst), ...tls, '--checkpoint', join(work, 'd.journal'), '--json'], { env });
    expect(envelope(r).status, r.stderr).toBe(0);
    expectAccountHolds(dst, kept);
  });
});

describe('identities the server agrees with', () => {
  it('a Message-ID after 300 KB of header, a header ended by LF then CRLF, and a message ending in a lone CR (which Dovecot drops), Message-IDs past 8 KB of their field: --restart stores nothing twice, verify agrees (both ways)', async () => {
    const src = join(work, 'ids');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
    const pad = `X-Filler: ${'f'.repeat(98)}\n`.repeat(3000);
    writeFileSync(join(src, 'cur', '1.late.host:2,S'), `From: a@x\n${pad}Message-ID: <late-id@ids.example>\nSubject: late\n\nbody\n`);
    writeFileSync(join(src, 'cur', '2.mixed.host:2,S'), 'From: a@x\nSubject: mixed sep\n\r\nMessage-ID: <quoted-in-body@ids.example>\nbody\n');
    writeFileSync(join(src, 'cur', '3.cr.host:2,S'), 'From: a@x\nSubject: old Mac line end, no Message-ID\n\nbody\r');
    // A Message-ID past 8 KB of its field (folding whitespace before it, or after it): the file's
    // reader and the server's answer read the same first 8 KB of it.
    writeFileSync(join(src, 'cur', '4.ws.host:2,S'), `Subject: t\nMessage-ID:${'\n '.repeat(5000)}\n <ws@ids.example>\n\nbody\n`);
    writeFileSync(join(src, 'cur', '5.ws.host:2,S'), `Subject: t\nMessage-ID: <ws2@ids.example>${' '.repeat(9000)}(c)\n\nbody\n`);
    const dst = (await h.freshUser('mdids')).name;
    const args = (cp: string) => ['copy', `maildir:${src}`, imap(dst), ...tls, '--checkpoint', join(work, cp), '--json'];
    for (let i = 0; i < 3; i++) {
      const r = await runCli([...args('ids.journal'), ...(i ? ['--restart'] : [])], { env });
      expect(envelope(r).status, r.stderr).toBe(0);
      expect(envelope(r).result.copied, `run ${i}`).toBe(i === 0 ? 5 : 0);
    }
    const v = envelope(await runCli(['verify', `maildir:${src}`, imap(dst), ...tls, '--json'], { env }));
    expect(v.result, JSON.stringify(v)).toMatchObject({ ok: true, missing: 0, extra: 0, duplicates: 0 });
    // Back into a Maildir, twice from scratch (the destination's own scan decides): still one each.
    const back = join(work, 'ids-back');
    for (let i = 0; i < 2; i++) {
      const r = await runCli(['copy', imap(dst), `maildir:${back}`, ...tls, '--checkpoint', join(work, 'ids-back.journal'), '--json', ...(i ? ['--restart'] : [])], { env });
      expect(envelope(r).status, r.stderr).toBe(0);
      expect(envelope(r).result.copied, `back ${i}`).toBe(i === 0 ? 5 : 0);
    }
    const v2 = envelope(await runCli(['verify', imap(dst), `maildir:${back}`, ...tls, '--json'], { env }));
    expect(v2.result, JSON.stringify(v2)).toMatchObject({ ok: true, missing: 0, extra: 0 });
  });
});

describe('Maildir source layouts', () => {
  it('a nested layout (mbsync SubFolders Verbatim) keeps its hierarchy; new/ messages come unflagged', async () => {
    const root = join(work, 'nested');
    const put = (dir: string, sub: 'cur' | 'new', name: string, body: string, date: Date) => {
      for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, dir, s), { recursive: true });
      const p = join(root, dir, sub, name);
      writeFileSync(p, body);
      utimesSync(p, date, date);
    };
    const d1 = new Date('2021-05-06T07:08:09Z');
    put('', 'cur', '1.a.host:2,FS', 'Message-ID: <a@x>\nSubject: a\n\nbody a\n', d1);
    put('Archive/2024', 'cur', '2.b.host:2,R', 'Message-ID: <b@x>\nSubject: b\n\nbody b\n', d1);
    put('Archive/2024', 'new', '3.c.host', 'Subject: c, no Message-ID\n\nbody c\n', d1);
    put('Ünïcode', 'cur', '4.d.host:2,', 'Message-ID: <d@x>\n\nbody d\n', d1);
    // mbsync and offlineimap write IMAP's names, in modified UTF-7; a name that is not stays as it is.
    put('Caf&AOk- &JhU-/a&-b', 'cur', '5.e.host:2,', 'Message-ID: <e@x>\n\nbody e\n', d1);
    put('R&D', 'cur', '6.f.host:2,', 'Message-ID: <f@x>\n\nbody f\n', d1);
    const dest = join(work, 'nested-out');
    const r = await runCli(['copy', `maildir:${root}`, `maildir:${dest}`, '--checkpoint', join(work, 'n.journal'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(6);
    const tree = readMaildirTree(dest);
    const summary = Object.fromEntries([...tree].filter(([, f]) => f.length).map(([k, f]) => [k, f.map((x) => `${x.info}|${x.bytes.toString()}|${x.mtimeMs}`).sort()]));
    expect(summary).toEqual({
      INBOX: [`FS|Message-ID: <a@x>\nSubject: a\n\nbody a\n|${d1.getTime()}`],
      'Archive/2024': [`R|Message-ID: <b@x>\nSubject: b\n\nbody b\n|${d1.getTime()}`, `|Subject: c, no Message-ID\n\nbody c\n|${d1.getTime()}`].sort(),
      Ünïcode: [`|Message-ID: <d@x>\n\nbody d\n|${d1.getTime()}`],
      'Café ☕/a&b': [`|Message-ID: <e@x>\n\nbody e\n|${d1.getTime()}`],
      'R&D': [`|Message-ID: <f@x>\n\nbody f\n|${d1.getTime()}`],
    });
  });

  it("mbsync's SubFolders Legacy ('Work/.Projects/.Alpha') and Maildir++ ('..sub') layouts, names with '&' that are no modified UTF-7: every folder copied, none passed over", async () => {
    const d = new Date('2019-03-04T05:06:07Z');
    const make = (root: string, dirs: string[]) => {
      dirs.forEach((dir, i) => {
        for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, dir, s), { recursive: true });
        const p = join(root, dir, 'cur', `${i}.l${i}.host:2,S`);
        writeFileSync(p, `Message-ID: <l${i}@legacy>\n\nin ${dir}\n`);
        utimesSync(p, d, d);
      });
      return root;
    };
    const held = (dest: string) => Object.fromEntries([...readMaildirTree(dest)].filter(([, f]) => f.length).map(([k, f]) => [k, f.map((x) => x.bytes.toString().split('\n')[2])]));
    // Legacy: subfolders are dot-directories inside their parent's (a parent without mail of its own too).
    // offlineimap's utf8foldernames writes names as they are: 'Q&A-Team' holds no modified UTF-7.
    const legacy = make(join(work, 'legacy'), ['INBOX', 'INBOX/.sub', 'Parent', 'Parent/.Child', 'Work/.Projects/.Alpha', 'Q&A-Team', 'R&D-2024']);
    mkdirSync(join(legacy, 'Parent', '.notmuch', 'xapian'), { recursive: true }); // another program's: no folder
    const out1 = join(work, 'legacy-out');
    const r1 = await runCli(['copy', `maildir:${legacy}`, `maildir:${out1}`, '--checkpoint', join(work, 'lg.journal'), '--json'], { env });
    expect(envelope(r1).status, r1.stderr).toBe(0);
    expect(envelope(r1).result.copied).toBe(7);
    expect(held(out1)).toEqual({
      INBOX: ['in INBOX'],
      'INBOX/sub': ['in INBOX/.sub'],
      Parent: ['in Parent'],
      'Parent/Child': ['in Parent/.Child'],
      'Work/Projects/Alpha': ['in Work/.Projects/.Alpha'],
      'Q&A-Team': ['in Q&A-Team'],
      'R&D-2024': ['in R&D-2024'],
    });
    const listed = envelope(await runCli(['folders', `maildir:${legacy}`, '--json'], { env }));
    expect(listed.result.folders.map((f: { name: string }) => f.name).sort()).toEqual(['INBOX', 'INBOX/sub', 'Parent', 'Parent/Child', 'Q&A-Team', 'R&D-2024', 'Work/Projects/Alpha']);

    // Maildir++ as mbsync writes it: INBOX's subfolders start with two dots.
    const pp = make(join(work, 'mbsync-pp'), ['', '..sub', '..sub.subsub', '.Work']);
    const dst = (await h.freshUser('mdlegacy')).name;
    const r2 = await runCli(['copy', `maildir:${pp}`, imap(dst), ...tls, '--checkpoint', join(work, 'pp.journal'), '--json'], { env });
    expect(envelope(r2).status, r2.stderr).toBe(0);
    expect(held(h.maildirOf(dst))).toEqual({ INBOX: ['in '], 'INBOX/sub': ['in ..sub'], 'INBOX/sub/subsub': ['in ..sub.subsub'], Work: ['in .Work'] });
  });

  it("a message without a Message-ID restored from mbsync's Maildir (which added X-TUID) into the account that holds it is not stored twice", async () => {
    const original = 'From: a@example.org\nSubject: no id\n\nthe body\n';
    const withTuid = 'From: a@example.org\nSubject: no id\nX-TUID: 2Vd9Jc3hdCxr\n\nthe body\n';
    const box = (name: string, text: string) => {
      const root = join(work, name);
      for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, s), { recursive: true });
      writeFileSync(join(root, 'cur', `1.${name}.host:2,S`), text);
      return root;
    };
    const dst = (await h.freshUser('mdtuid')).name;
    const first = await runCli(['copy', `maildir:${box('tuid-orig', original)}`, imap(dst), ...tls, '--checkpoint', join(work, 't1.journal'), '--json'], { env });
    expect(envelope(first).result.copied, first.stderr).toBe(1);
    const again = envelope(await runCli(['copy', `maildir:${box('tuid-mbsync', withTuid)}`, imap(dst), ...tls, '--checkpoint', join(work, 't2.journal'), '--json'], { env }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 0 });
    expect([...readMaildirTree(h.maildirOf(dst)).get('INBOX')!].map((f) => f.bytes.toString().replace(/\r\n/g, '\n'))).toEqual([original]);
  });

  it('a Message-ID holding a NUL (Dovecot serves it as 0x80) is one identity on both sides: --restart stores nothing twice, verify agrees', async () => {
    const root = join(work, 'nulmid');
    for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, s), { recursive: true });
    writeFileSync(join(root, 'cur', '1.n.host:2,S'), Buffer.from('Message-ID: <nul\0mid@example.org>\nSubject: nul\n\nbody\n', 'latin1'));
    writeFileSync(join(root, 'cur', '2.p.host:2,S'), 'Message-ID: <plain@example.org>\nSubject: plain\n\nbody\n');
    const dst = (await h.freshUser('mdnulmid')).name;
    const args = ['copy', `maildir:${root}`, imap(dst), ...tls, '--checkpoint', join(work, 'nm.journal'), '--json'];
    expect(envelope(await runCli(args, { env })).result.copied).toBe(2);
    const again = envelope(await runCli([...args, '--restart'], { env }));
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({ copied: 0, skipped: 2 });
    expect(readMaildirTree(h.maildirOf(dst)).get('INBOX')).toHaveLength(2);
    const v = envelope(await runCli(['verify', `maildir:${root}`, imap(dst), ...tls, '--json'], { env }));
    expect(v.result).toMatchObject({ ok: true, missing: 0, extra: 0 });
  });

  it("translates the hierarchy delimiter ('/' in a nested Maildir → '.' on the server); a '.' inside a name cannot split it", async () => {
    const root = join(work, 'delims');
    const date = new Date('2020-01-02T03:04:05Z');
    for (const [dir, id] of [['Lists/v1.2', 'l'], ['Ünïcode/Sub', 'u']] as const) {
      for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, dir, s), { recursive: true });
      const p = join(root, dir, 'cur', `1.${id}.host:2,S`);
      writeFileSync(p, `Message-ID: <${id}@x>\n\nbody\n`);
      utimesSync(p, date, date);
    }
    const dst = (await h.freshUser('mddelim')).name;
    const r = await runCli(['copy', `maildir:${root}`, imap(dst), ...tls, '--checkpoint', join(work, 'dl.journal'), '--json'], { env });
    expect(envelope(r).status, r.stderr).toBe(0);
    const tree = readMaildirTree(h.maildirOf(dst));
    const held = Object.fromEntries([...tree].filter(([, f]) => f.length).map(([k, f]) => [k, f.map((x) => `${x.info}|${x.bytes.toString()}`)]));
    expect(held).toEqual({ 'Lists/v1_2': ['S|Message-ID: <l@x>\n\nbody\n'], 'Ünïcode/Sub': ['S|Message-ID: <u@x>\n\nbody\n'] });
  });

  it('files that share the unique part of their names are different messages unless they are one file; directories named INBOX join INBOX', async () => {
    const root = join(work, 'samekey');
    const put = (dir: string, sub: 'cur' | 'new', name: string, id: string) => {
      for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, dir, s), { recursive: true });
      writeFileSync(join(root, dir, sub, name), `Message-ID: <${id}@samekey>\nSubject: ${id}\n\nbody ${id}\n`);
    };
    // A sync conflict, or an old backup restored over a live Maildir: one unique part, three messages.
    put('', 'new', '1700000000.M1P1.host', 'a');
    put('', 'cur', '1700000000.M1P1.host:2,S', 'b');
    put('', 'cur', '1700000000.M1P1.host:2,RS', 'c');
    // One file under two names (a hard link; a client renaming while the folder is read): one message.
    linkSync(join(root, 'cur', '1700000000.M1P1.host:2,S'), join(root, 'cur', '1700000000.M1P1.host:2,ST'));
    for (const [dir, id] of [['INBOX', 'upper'], ['Inbox', 'mixed'], ['inbox', 'lower']]) put(dir!, 'cur', `2.${id}.host:2,S`, id!);
    const dest = join(work, 'samekey-out');
    const args = ['copy', `maildir:${root}`, `maildir:${dest}`, '--checkpoint', join(work, 'sk.journal'), '--json'];
    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(6);
    const inbox = readMaildirTree(dest).get('INBOX')!;
    expect(inbox.map((f) => /Subject: (\w+)/.exec(f.bytes.toString())![1]).sort()).toEqual(['a', 'b', 'c', 'lower', 'mixed', 'upper']);
    const again = envelope(await runCli(args, { env }));
    expect(again.result.copied).toBe(0);
    const v = envelope(await runCli(['verify', `maildir:${root}`, `maildir:${dest}`, '--json'], { env }));
    expect(v.result).toMatchObject({ ok: true, messages: 6, missing: 0 });
  });

  it("two source folders that would have one name on the server ('Lists.2024' and 'Lists_2024' where '.' divides): the second fails named, nothing merged; --map resolves it", async () => {
    const root = join(work, 'collide');
    for (const dir of ['Lists.2024', 'Lists_2024']) {
      for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, dir, s), { recursive: true });
      writeFileSync(join(root, dir, 'cur', `1.${dir}.host:2,S`), 'Message-ID: <shared@collide>\n\nfiled in both\n');
    }
    const dst = (await h.freshUser('mdcollide')).name;
    const args = ['copy', `maildir:${root}`, imap(dst), ...tls, '--checkpoint', join(work, 'co.journal'), '--json'];
    const plan = envelope(await runCli([...args, '--dry-run'], { env }));
    expect(plan.status).toBe(6);
    expect(plan.result.failedFolders, JSON.stringify(plan)).toBe(1);
    const r = await runCli(args, { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.copied).toBe(1);
    const failed = out.result.folders.filter((f: { error?: string }) => f.error);
    expect(failed).toHaveLength(1);
    expect(failed[0].error).toMatch(/'Lists_2024' and 'Lists\.2024' would both be the folder 'Lists_2024' on .*: 'Lists_2024' is not copied/);
    const v = envelope(await runCli(['verify', `maildir:${root}`, imap(dst), ...tls, '--json'], { env }));
    expect(v.status).toBe(6);
    expect(v.result.failedFolders).toBe(1);
    // Into a prefix, the folders are named as the source names them: the hint's --map works as written.
    const into = (await h.freshUser('mdcollide2')).name;
    const prefixed = ['copy', `maildir:${root}`, `${imap(into)}/P2`, ...tls, '--checkpoint', join(work, 'co2.journal'), '--json'];
    const clash = envelope(await runCli(prefixed, { env }));
    expect(clash.status).toBe(6);
    expect(clash.result.folders.find((f: { error?: string }) => f.error).error).toMatch(/^'Lists_2024' and 'Lists\.2024' would both be the folder 'P2\.Lists_2024' on /);
    const r2 = await runCli(prefixed.filter((a) => a !== '--json'), { env });
    expect(r2.stderr).toContain("(map one of them to another name (--map 'Lists_2024=NEW'))");
    expect(envelope(await runCli([...prefixed, '--map', 'Lists_2024=Other'], { env })).status).toBe(0);
    const mapped = envelope(await runCli([...args, '--map', 'Lists_2024=Lists-underscore'], { env }));
    expect(mapped.status, JSON.stringify(mapped)).toBe(0);
    const held = [...readMaildirTree(h.maildirOf(dst))].filter(([, f]) => f.length).map(([k, f]) => [k, f.length]);
    expect(Object.fromEntries(held)).toEqual({ Lists_2024: 1, 'Lists-underscore': 1 });
  });

  it('a rerun with a stricter filter: what was copied counts as already there, not filtered; new mail is filtered', async () => {
    const root = join(work, 'refilter');
    for (const s of ['cur', 'new', 'tmp']) mkdirSync(join(root, s), { recursive: true });
    const date = new Date('2022-02-03T04:05:06Z');
    const put = (name: string, id: string, bodyBytes: number) => {
      const p = join(root, 'cur', name);
      writeFileSync(p, `Message-ID: <${id}@x>\nSubject: ${id}\n\n${'x'.repeat(bodyBytes)}\n`);
      utimesSync(p, date, date);
    };
    put('1.small.host:2,S', 'small', 100);
    put('2.big.host:2,S', 'big', 20_000);
    const dest = join(work, 'refilter-out');
    const args = ['copy', `maildir:${root}`, `maildir:${dest}`, '--checkpoint', join(work, 'rf.journal'), '--json'];
    expect(envelope(await runCli(args, { env })).result.copied).toBe(2);
    put('3.small2.host:2,S', 'small2', 100);
    put('4.big2.host:2,S', 'big2', 20_000);
    const r = envelope(await runCli([...args, '--max-size', '5K'], { env }));
    expect(r.status).toBe(0);
    expect(r.result.copied).toBe(1);
    expect(r.result.folders.find((f: { folder: string }) => f.folder === 'INBOX')).toMatchObject({ listed: 4, already: 2, copied: 1, filtered: 1 });
  });

  it('a folder with new/ and no cur/ (mail never opened, a backup tool that drops empty directories) is a folder: INBOX, Maildir++ and nested, copied and verified', async () => {
    const md = join(work, 'no-cur');
    const put = (dir: string, mid: string) => {
      mkdirSync(join(md, dir, 'new'), { recursive: true });
      writeFileSync(join(md, dir, 'new', `1700000000.M${mid}P1.host`), `From: a@x\nMessage-ID: <${mid}@no-cur.test>\n\nbody\n`);
    };
    put('.', 'inbox');
    put('.Lists', 'lists');
    put('Nested', 'nested');
    mkdirSync(join(md, '.Sent', 'cur'), { recursive: true });
    writeFileSync(join(md, '.Sent', 'cur', '2.a.host:2,S'), 'From: a@x\nMessage-ID: <sent@no-cur.test>\n\nbody\n');
    const dst = (await h.freshUser('nocur')).name;
    const out = envelope(await runCli(['copy', `maildir:${md}`, imap(dst), '--dest-tls', 'none', '--checkpoint', join(work, 'no-cur.cp'), '--json'], { env }));
    expect(out.status, JSON.stringify(out.error ?? out.result?.failures)).toBe(0);
    expect(out.result.copied).toBe(4);
    expect((out.result.folders as { folder: string }[]).map((f) => f.folder).sort()).toEqual(['INBOX', 'Lists', 'Nested', 'Sent']);
    const v = envelope(await runCli(['verify', `maildir:${md}`, imap(dst), '--dest-tls', 'none', '--json'], { env }));
    expect(v.status).toBe(0);
    expect(v.result.messages).toBe(4);
  });

  it("a backup's Sent (and Sent/2020) is restored into the account's Sent folder, whatever its name ('Sent Items'), as an IMAP source's is; a subfolder named Sent is not", async () => {
    const md = join(work, 'roles');
    for (const [dir, mid] of [['.Sent', 'sent'], ['.Sent.2020', 'sent2020'], ['.Projects.Sent', 'projsent']] as const) {
      mkdirSync(join(md, dir, 'cur'), { recursive: true });
      writeFileSync(join(md, dir, 'cur', `1.${mid}.host:2,S`), `From: a@x\nMessage-ID: <${mid}@roles.test>\n\nbody\n`);
    }
    mkdirSync(join(md, 'cur'), { recursive: true });
    const dst = (await h.freshUser('roles')).name;
    await h.doveadm(['mailbox', 'create', '-u', dst, 'Sent Items']);
    // Before the copy, the plan and verify name where it will go, not a folder it will never make.
    const plan = envelope(await runCli(['copy', `maildir:${md}`, imap(dst), '--dest-tls', 'none', '--dry-run', '--json'], { env }));
    expect(Object.fromEntries((plan.result.folders as { folder: string; dest: string }[]).map((f) => [f.folder, f.dest]))).toMatchObject({ Sent: 'Sent Items', 'Sent/2020': 'Sent Items/2020', 'Projects/Sent': 'Projects/Sent' });
    const before = envelope(await runCli(['verify', `maildir:${md}`, imap(dst), '--dest-tls', 'none', '--json'], { env }));
    expect(Object.fromEntries((before.result.folders as { folder: string; dest: string }[]).map((f) => [f.folder, f.dest]))).toMatchObject({ Sent: 'Sent Items', 'Sent/2020': 'Sent Items/2020', 'Projects/Sent': 'Projects/Sent' });
    const out = envelope(await runCli(['copy', `maildir:${md}`, imap(dst), '--dest-tls', 'none', '--checkpoint', join(work, 'roles.cp'), '--json'], { env }));
    expect(out.status, JSON.stringify(out.error ?? out.result?.failures)).toBe(0);
    const named = Object.fromEntries((out.result.folders as { folder: string; dest: string }[]).map((f) => [f.folder, f.dest]));
    expect(named).toMatchObject({ Sent: 'Sent Items', 'Sent/2020': 'Sent Items/2020', 'Projects/Sent': 'Projects/Sent' });
    const list = (await h.doveadm(['mailbox', 'list', '-u', dst])).stdout.toString().split('\n');
    expect(list).not.toContain('Sent');
  });

  it('a folder whose directory name is not UTF-8 (an old latin1 client\'s) fails, named by its bytes, in copy, dry run and verify; the rest is copied', async () => {
    const md = join(work, 'latin1');
    const b = (s: string) => Buffer.from(s, 'latin1');
    const at = (...parts: Buffer[]) => Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from('/'), p] : [p])));
    for (const dir of [b(md), at(b(md), b('.Archiv-M\xe4rz')), at(b(md), b('Caf\xe9')), at(b(md), b('Good'))]) {
      for (const s of ['cur', 'new', 'tmp']) mkdirSync(at(dir, b(s)), { recursive: true });
    }
    writeFileSync(at(b(md), b('.Archiv-M\xe4rz'), b('cur'), b('1.m.host:2,S')), 'Message-ID: <maerz@latin1.test>\n\nbody\n');
    writeFileSync(at(b(md), b('Caf\xe9'), b('cur'), b('1.c.host:2,S')), 'Message-ID: <cafe@latin1.test>\n\nbody\n');
    writeFileSync(at(b(md), b('Good'), b('cur'), b('1.g.host:2,S')), 'Message-ID: <good@latin1.test>\n\nbody\n');
    const args = [`maildir:${md}`, `maildir:${join(work, 'latin1-out')}`];
    const out = envelope(await runCli(['copy', ...args, '--checkpoint', join(work, 'latin1.cp'), '--json'], { env }));
    expect(out.status).toBe(6);
    expect(out.result.copied).toBe(1);
    const failed = Object.fromEntries((out.result.folders as { folder: string; error?: string }[]).filter((f) => f.error).map((f) => [f.folder, f.error]));
    expect(failed).toEqual({
      'Archiv-M\\xe4rz': `${md}/.Archiv-M\\xe4rz: the folder's name is not UTF-8, so it is not read`,
      'Caf\\xe9': `${md}/Caf\\xe9: the folder's name is not UTF-8, so it is not read`,
    });
    expect(envelope(await runCli(['copy', ...args, '--dry-run', '--json'], { env })).result.failedFolders).toBe(2);
    const v = envelope(await runCli(['verify', ...args, '--json'], { env }));
    expect(v.status).toBe(6);
    expect(v.result.failedFolders).toBe(2);
  });

  it('a path that is not a Maildir is a clear one-line error', async () => {
    const empty = join(work, 'empty');
    mkdirSync(empty, { recursive: true });
    const r = await runCli(['copy', `maildir:${empty}`, `maildir:${join(work, 'x')}`, '--checkpoint', join(work, 'e.journal'), '--json'], { env });
    expect(r.code).toBe(3);
    expect(envelope(r).error?.message).toMatch(/holds no Maildir/);
  });
});

describe('a Maildir source whose mail client changes flags while it is copied', () => {
  it('files renamed again and again under the run (a client marking all read, flagging): none is recorded as gone, and a rerun holds each message exactly once', async () => {
    const src = join(work, 'churn-src');
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(src, sub), { recursive: true });
    const n = 3000;
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      names.push(`170000${String(i).padStart(4, '0')}.M${i}P1.host:2,`);
      writeFileSync(join(src, 'cur', names[i]!), `Message-ID: <churn-${i}@example.org>\nSubject: ${i}\n\nbody ${i}\n`);
    }
    // A client toggling \Seen on every file, over and over, as long as the copy runs.
    let stop = false;
    const churn = (async () => {
      while (!stop) {
        for (let i = 0; i < n && !stop; i++) {
          const now = names[i]!;
          const next = now.endsWith(',S') ? now.slice(0, -1) : `${now}S`;
          await fs.rename(join(src, 'cur', now), join(src, 'cur', next)).then(() => (names[i] = next), () => {});
        }
      }
    })();
    const dst = join(work, 'churn-dst');
    const args = ['copy', `maildir:${src}`, `maildir:${dst}`, '--checkpoint', join(work, 'churn.journal'), '--json'];
    const first = envelope(await runCli(args, { env }));
    stop = true;
    await churn;
    expect(first.status, JSON.stringify(first.error)).toBe(0);
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    const held = readMaildirTree(dst).get('INBOX')!.map((f) => /Message-ID: <([^>]+)>/.exec(f.bytes.toString())![1]);
    expect(held.length).toBe(n);
    expect(new Set(held).size).toBe(n);
  }, 120_000);
});

describe('a Maildir Dovecot stores compressed (its zlib plugin)', () => {
  it('is read as the messages it holds: gzip files arrive byte-exact with their flags (a large one streamed); a bzip2 file fails alone, named', async () => {
    const zsrc = (await h.freshUser('mdzip')).name;
    // Dovecot itself writes the files compressed, as with `mail_plugins = zlib` and `zlib_save`.
    const zlib = (kind: string) => ['-o', 'mail_plugins=zlib', '-o', `plugin/zlib_save=${kind}`];
    const small = Buffer.from('Message-ID: <zip-1@test>\r\nSubject: zipped\r\n\r\nhello compressed world\r\n');
    // Over the 8 MB above which a message is streamed, however small its file.
    const big = Buffer.concat([Buffer.from('Message-ID: <zip-big@test>\r\nSubject: big\r\n\r\n'), Buffer.from('all work and no play makes a large message\r\n'.repeat(220_000))]);
    const noId = Buffer.from('Subject: no id\r\n\r\nzipped, without a Message-ID\r\n');
    for (const m of [small, big, noId]) await h.doveadm([...zlib('gz'), 'save', '-u', zsrc, '-m', 'INBOX'], m);
    await h.doveadm([...zlib('bz2'), 'save', '-u', zsrc, '-m', 'INBOX'], Buffer.from('Message-ID: <zip-bz2@test>\r\nSubject: bzip2\r\n\r\nbzipped\r\n'));
    await h.doveadm([...zlib('gz'), 'flags', 'add', '-u', zsrc, '\\Seen \\Flagged', 'mailbox', 'INBOX', 'header', 'Message-ID', 'zip-1']);
    const files = [...readMaildirTree(h.maildirOf(zsrc)).get('INBOX')!];
    expect(files).toHaveLength(4);
    const gz = files.filter((f) => f.bytes[0] === 0x1f && f.bytes[1] === 0x8b);
    const bz = files.filter((f) => f.bytes.subarray(0, 3).toString('latin1') === 'BZh');
    expect([gz.length, bz.length]).toEqual([3, 1]);
    // What each message is, as Dovecot stored it (its line endings): the files, decompressed.
    const expected = gz.map((f) => sha(gunzipSync(f.bytes))).sort();

    const dst = (await h.freshUser('mdzip-dst')).name;
    const toImap = envelope(await runCli(['copy', `maildir:${h.maildirOf(zsrc)}`, imap(dst), ...tls, '--checkpoint', join(work, 'z1.journal'), '--json'], { env }));
    expect(toImap).toMatchObject({ status: 6, result: { copied: 3, failed: 1 } });
    expect(toImap.result.failures).toHaveLength(1);
    expect(toImap.result.failures[0].error).toMatch(/compressed with bzip2, which mailferry does not read/);
    const stored = readMaildirTree(h.maildirOf(dst)).get('INBOX')!;
    expect(stored.map((f) => sha(f.bytes)).sort()).toEqual(expected);
    const zipped1 = stored.find((f) => f.bytes.includes(Buffer.from('<zip-1@test>')))!;
    expect(zipped1.info).toBe('FS');

    const copy = join(work, 'zcopy');
    const toMaildir = envelope(await runCli(['copy', `maildir:${h.maildirOf(zsrc)}`, `maildir:${copy}`, '--checkpoint', join(work, 'z2.journal'), '--json'], { env }));
    expect(toMaildir).toMatchObject({ status: 6, result: { copied: 3, failed: 1 } });
    expect([...readMaildirTree(copy).get('INBOX')!].map((f) => sha(f.bytes)).sort()).toEqual(expected);
    // Both destinations compare equal to the source (verify reads the files as the copy did).
    const check = envelope(await runCli(['verify', `maildir:${h.maildirOf(zsrc)}`, `maildir:${copy}`, '--json'], { env }));
    expect(check.result).toMatchObject({ missing: 0, unreadable: 1 });
    expect(check.result.unreadableList[0].error).toMatch(/bzip2/);
  });
});
