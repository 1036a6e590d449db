// POP3 as a source, through the real CLI against the harness's Dovecot: POP3 → IMAP of the whole
// corpus (exactly once, byte-exact modulo CRLF and the final newline), the no-op rerun,
// --delete-source, and POP3 → Maildir.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageIdOf, normalizeMessageId } from '../../src/mail/headers.js';
import { envelope, runCli } from '../harness/cli.js';
import { CORPUS_GROUPS, seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { seedFixtures } from '../harness/fixtures.js';
import type { ManifestEntry } from '../harness/manifest.js';
import { readMaildirTree } from '../harness/maildir-read.js';
import { importMessages } from '../harness/stage.js';

const h = harness();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** POP3 cannot carry a message without a final newline: it gains one. */
const withFinalNewline = (b: Buffer) => (b.length > 0 && b[b.length - 1] === 0x0a ? b : Buffer.concat([b, Buffer.from('\n')]));
const allToInbox = Object.fromEntries(CORPUS_GROUPS.map((g) => [g, 'INBOX']));
const tls = ['--tls-ca', h.certPem];
const work = mkdtempSync(join(tmpdir(), 'mf-pop3-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What Message-ID dedupe keeps of a folder (first in order) and what it skips as duplicates. */
function dedupe(entries: ManifestEntry[]): { keep: ManifestEntry[]; dups: ManifestEntry[] } {
  const seen = new Set<string>();
  const keep: ManifestEntry[] = [];
  const dups: ManifestEntry[] = [];
  for (const e of entries) {
    const mid = normalizeMessageId(e.messageId);
    if (mid && seen.has(mid)) dups.push(e);
    else (mid && seen.add(mid), keep.push(e));
  }
  return { keep, dups };
}

function countBy(bufs: Buffer[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const b of bufs) m.set(sha(b), (m.get(sha(b)) ?? 0) + 1);
  return m;
}

/**
 * Byte-equal, except where Dovecot's own LF storage is ambiguous: it stores "\r\r\r\n" as
 * "\r\r\n" and serves that unchanged (the LF already has a CR), so a message with CR CR LF loses
 * one CR per line on any round trip through it (one corpus message, spam-2/00083). Those, and only
 * those, are compared with CRs before LF dropped.
 */
function expectSameMessages(got: Buffer[], want: Buffer[]): void {
  const crcrlf = (b: Buffer) => b.includes('\r\r\n');
  const loose = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r+\n/g, '\n'), 'latin1');
  const ambiguous = new Set(want.filter(crcrlf).map((w) => sha(loose(w))));
  const isAmbiguous = (b: Buffer) => ambiguous.size > 0 && ambiguous.has(sha(loose(b)));
  expect(countBy(got.filter((b) => !isAmbiguous(b)))).toEqual(countBy(want.filter((w) => !crcrlf(w))));
  expect(countBy(got.filter(isAmbiguous).map(loose))).toEqual(countBy(want.filter(crcrlf).map(loose)));
}

describe('POP3 → IMAP, the whole corpus', () => {
  let manifest: ManifestEntry[];
  let src: string;
  let dst: string;
  const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
  const checkpoint = join(work, 'p2i.journal');
  const args = () => ['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', checkpoint, '--json'];

  beforeAll(async () => {
    src = (await h.freshUser('p3src')).name;
    dst = (await h.freshUser('p3dst')).name;
    manifest = [...(await seedCorpus(h, src, { layout: allToInbox })), ...(await seedFixtures(h, src, 'INBOX'))];
  });

  it('copies every message exactly once into INBOX, byte-exact modulo CRLF and the final newline', async () => {
    const t0 = Date.now();
    const r = await runCli(args(), { env, timeoutMs: 300_000 });
    const secs = (Date.now() - t0) / 1000;
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    const { keep, dups } = dedupe(manifest);
    expect(out.result.copied).toBe(keep.length);
    expect(out.result.skipped).toBe(dups.length);
    expect(out.result.failed).toBe(0);
    const stored = readMaildirTree(h.maildirOf(dst));
    expect([...stored.keys()]).toEqual(['INBOX']);
    const inbox = stored.get('INBOX')!;
    expect(inbox.length).toBe(keep.length);
    expectSameMessages(inbox.map((f) => f.bytes), keep.map((e) => withFinalNewline(e.bytes)));
    // every duplicate's Message-ID is there (its first copy)
    const ids = new Set(inbox.map((f) => messageIdOf(f.bytes)));
    for (const d of dups) expect(ids.has(normalizeMessageId(d.messageId))).toBe(true);
    process.stderr.write(`POP3→IMAP: ${manifest.length} messages in ${secs.toFixed(1)} s (CLI wall time)\n`);
  });

  it('a rerun copies nothing and leaves the destination as it is', async () => {
    const before = readMaildirTree(h.maildirOf(dst)).get('INBOX')!.length;
    const r = await runCli(args(), { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(0);
    expect(readMaildirTree(h.maildirOf(dst)).get('INBOX')!.length).toBe(before);
  });

  it('a rerun without the checkpoint copies nothing either (header-first dedupe against the destination)', async () => {
    const r = await runCli([...args().filter((a) => a !== checkpoint && a !== '--checkpoint'), '--checkpoint', join(work, 'other.journal')], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(0);
    expect(out.result.skipped).toBe(manifest.length);
  });

  it('--dry-run --delete-source says how many messages the copy would delete, and deletes none', async () => {
    const r = await runCli([...args(), '--delete-source', '--dry-run'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.delete).toBe(manifest.length);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')!.length).toBe(manifest.length);
  });

  it('--delete-source empties the POP3 box and nothing is missing in IMAP', async () => {
    const before = readMaildirTree(h.maildirOf(dst)).get('INBOX')!;
    const r = await runCli([...args(), '--delete-source'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(0);
    expect(out.result.deleted).toBe(manifest.length);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')!.length).toBe(0);
    const after = readMaildirTree(h.maildirOf(dst)).get('INBOX')!;
    expect(countBy(after.map((f) => f.bytes))).toEqual(countBy(before.map((f) => f.bytes)));
  });
});

describe('POP3 → IMAP --delete-source in one run', () => {
  it('copies and then deletes what it copied in the same run (the check sees what this run stored)', async () => {
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
    const src = (await h.freshUser('p3once')).name;
    const dst = (await h.freshUser('p3oncedst')).name;
    const seeded = await seedCorpus(h, src, { layout: allToInbox, limitPerGroup: 4 });
    const { keep } = dedupe(seeded);
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `imap://${dst}@${h.host}:${h.ports.imap}/Migrated`, ...tls, '--checkpoint', join(work, 'once.journal'), '--delete-source', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(keep.length);
    expect(out.result.deleted).toBe(seeded.length);
    expect(out.result.keptOnSource).toBe(0);
    expect(out.warnings).toEqual([]);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')?.length ?? 0).toBe(0);
    expect(readMaildirTree(h.maildirOf(dst)).get('Migrated')!.length).toBe(keep.length);
  });
});

describe('POP3 --delete-source', () => {
  const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };

  it('deletes in the same run as the copy, only what was copied, and never for an IMAP source', async () => {
    const src = (await h.freshUser('p3del')).name;
    const seeded = await seedCorpus(h, src, { layout: allToInbox, limitPerGroup: 4 });
    const dest = join(work, 'del-md');
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'del.journal'), '--delete-source', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(dedupe(seeded).keep.length);
    expect(out.result.deleted).toBe(seeded.length);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')!.length).toBe(0);

    const imap = await runCli(['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `maildir:${join(work, 'x')}`, ...tls, '--delete-source', '--json'], { env });
    const e = envelope(imap);
    expect(imap.code).toBe(2);
    expect(e.error?.message).toMatch(/only with a POP3 source/);
  });
});

describe('POP3 source and IMAP destination of one account', () => {
  it("is refused when the POP3 mailbox would be copied into its own INBOX (every message there already: --delete-source deleted them all); a folder of it is a move", async () => {
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
    const me = (await h.freshUser('p3self')).name;
    const seeded = await seedCorpus(h, me, { layout: allToInbox, limitPerGroup: 2 });
    const pop = `pop3://${me}@${h.host}:${h.ports.pop3}`;
    for (const dest of [`imap://${me}@localhost:${h.ports.imap}`, `imap://${me.toUpperCase()}@${h.host}:${h.ports.imap}/inbox`]) {
      for (const extra of [['--delete-source'], ['--dry-run', '--delete-source']]) {
        const r = await runCli(['copy', pop, dest, ...tls, '--checkpoint', join(work, 'p3self.journal'), ...extra, '--json'], { env });
        const out = envelope(r);
        expect(out.status, `${dest} ${extra.join(' ')}: ${r.stdout}`).toBe(3);
        expect(out.error?.message).toMatch(/same account/);
      }
    }
    expect(readMaildirTree(h.maildirOf(me)).get('INBOX')!.length).toBe(seeded.length);
    const v = envelope(await runCli(['verify', pop, `imap://${me}@${h.host}:${h.ports.imap}`, ...tls, '--json'], { env }));
    expect(v.status).toBe(3);
    // Into a folder of the same account: the POP3 mail is moved there.
    const moved = envelope(await runCli(['copy', pop, `imap://${me}@${h.host}:${h.ports.imap}/Migrated`, ...tls, '--checkpoint', join(work, 'p3self-moved.journal'), '--delete-source', '--json'], { env }));
    expect(moved.status, JSON.stringify(moved.error)).toBe(0);
    expect(moved.result.deleted).toBe(seeded.length);
    expect(readMaildirTree(h.maildirOf(me)).get('Migrated')!.length).toBe(dedupe(seeded).keep.length);
  });
});

describe('POP3 --delete-source keeps what is not durably copied', () => {
  const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };

  it('messages that failed (here: over --max-message-size) stay on the server; the run is partial (6)', async () => {
    const src = (await h.freshUser('p3keep')).name;
    const seeded = await seedCorpus(h, src, { layout: allToInbox, limitPerGroup: 6 });
    const limit = 4000;
    // LIST sizes count CRLF line endings: the stored LF bytes plus one per line
    const tooBig = seeded.filter((e) => e.bytes.length + (e.bytes.toString('latin1').match(/\n/g)?.length ?? 0) > limit);
    expect(tooBig.length).toBeGreaterThan(0);
    expect(tooBig.length).toBeLessThan(seeded.length);
    const dest = join(work, 'keep-md');
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'keep.journal'), '--max-message-size', String(limit), '--delete-source', '--json'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(6);
    expect(out.result.failed).toBe(tooBig.length);
    expect(out.result.deleted).toBe(seeded.length - tooBig.length);
    const left = readMaildirTree(h.maildirOf(src)).get('INBOX')!;
    expect(countBy(left.map((f) => f.bytes))).toEqual(countBy(tooBig.map((e) => e.bytes)));
  });

  it('a copy deleted from the destination since the copy stays on the server; --restart copies it, then it is deleted', async () => {
    const src = (await h.freshUser('p3gone')).name;
    const msg = (i: number) => Buffer.from(`From: a@example.test\nMessage-ID: <m${i}@gone.test>\nSubject: ${i}\n\nmessage ${i}\n`);
    await importMessages(h, src, [1, 2, 3].map((i) => ({ folder: 'INBOX', bytes: msg(i), letters: '', internalDate: new Date('2020-02-02T00:00:00Z') })));
    const dest = join(work, 'gone-md');
    const base = ['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'gone.journal'), '--json'];
    expect(envelope(await runCli(base, { env })).result.copied).toBe(3);
    // Someone deletes the copy of message 2 from the backup; the checkpoint still has it as copied.
    rmSync(readMaildirTree(dest).get('INBOX')!.find((f) => f.bytes.includes('message 2'))!.path);
    const r = await runCli([...base, '--delete-source'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result).toMatchObject({ copied: 0, deleted: 2, keptOnSource: 1 });
    expect(out.warnings.some((w: string) => /: 1 message the checkpoint has as copied is not in the destination now: left on the server/.test(w))).toBe(true);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')!.map((f) => f.bytes.toString())).toEqual([msg(2).toString()]);
    const again = envelope(await runCli([...base, '--delete-source', '--restart'], { env }));
    expect(again.result).toMatchObject({ copied: 1, deleted: 1, keptOnSource: 0 });
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX') ?? []).toEqual([]);
    expect(readMaildirTree(dest).get('INBOX')!.length).toBe(3);
  });

  it('deletes what an earlier run copied under --map from where it put it, a run without the --map (no false warning)', async () => {
    const src = (await h.freshUser('p3map')).name;
    const msg = (i: number) => Buffer.from(`From: a@example.test\nMessage-ID: <m${i}@map.test>\nSubject: ${i}\n\nmessage ${i}\n`);
    await importMessages(h, src, [1, 2, 3].map((i) => ({ folder: 'INBOX', bytes: msg(i), letters: '', internalDate: new Date('2020-02-02T00:00:00Z') })));
    const dest = join(work, 'map-md');
    const base = ['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'map.journal'), '--json'];
    expect(envelope(await runCli([...base, '--map', 'INBOX=Fetched'], { env })).result.copied).toBe(3);
    const r = await runCli([...base, '--delete-source'], { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result).toMatchObject({ copied: 0, deleted: 3, keptOnSource: 0 });
    expect(out.warnings).toEqual([]);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX') ?? []).toEqual([]);
    const tree = readMaildirTree(dest);
    expect(tree.get('Fetched')!.length).toBe(3);
    expect(tree.get('INBOX') ?? []).toEqual([]);
  });

  it('--dry-run with --delete-source deletes nothing', async () => {
    const src = (await h.freshUser('p3dry')).name;
    const seeded = await seedCorpus(h, src, { layout: allToInbox, limitPerGroup: 2 });
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${join(work, 'dry')}`, ...tls, '--checkpoint', join(work, 'dry.journal'), '--delete-source', '--dry-run', '--json'], { env });
    expect(envelope(r).status, r.stderr).toBe(0);
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')!.length).toBe(seeded.length);
  });
});

describe('POP3 → Maildir', () => {
  it('lands in the Maildir INBOX, LF line endings, byte-exact modulo the final newline; pop3s works too', async () => {
    const src = (await h.freshUser('p3md')).name;
    const seeded = [...(await seedCorpus(h, src, { layout: allToInbox, limitPerGroup: 10 })), ...(await seedFixtures(h, src, 'INBOX'))];
    const dest = join(work, 'p2m');
    const r = await runCli(['copy', `pop3s://${src}@${h.host}:${h.ports.pop3s}`, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'p2m.journal'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
    });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    const { keep } = dedupe(seeded);
    const tree = readMaildirTree(dest);
    expect([...tree.keys()]).toEqual(['INBOX']);
    expectSameMessages(tree.get('INBOX')!.map((f) => f.bytes), keep.map((e) => withFinalNewline(e.bytes)));
    // mail stays on the server by default
    expect(readMaildirTree(h.maildirOf(src)).get('INBOX')!.length).toBe(seeded.length);
  });
});

describe('large messages', () => {
  it('a 12 MB message (above the streaming threshold) goes POP3 → Maildir → Maildir byte-exact', async () => {
    const src = (await h.freshUser('p3big')).name;
    const lines: string[] = ['Message-ID: <big@example.org>', 'Subject: big', ''];
    for (let i = 0, size = 0; size < 12 * 1024 * 1024; i++) {
      const line = i % 7 === 0 ? `.dot line ${i} \xe9\xff` : `line ${i} ${'x'.repeat(70)}`;
      lines.push(line);
      size += line.length + 1;
    }
    const big = Buffer.from(lines.join('\n') + '\n', 'latin1');
    await importMessages(h, src, [{ folder: 'INBOX', bytes: big, letters: 'S', internalDate: new Date('2019-09-09T09:09:09Z') }]);
    const first = join(work, 'big1');
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${first}`, ...tls, '--checkpoint', join(work, 'big1.journal'), '--json'], {
      env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
    });
    expect(envelope(r).status, r.stderr).toBe(0);
    const got = readMaildirTree(first).get('INBOX')!;
    expect(got.length).toBe(1);
    expect(got[0]!.bytes.equals(big)).toBe(true);

    const second = join(work, 'big2');
    const r2 = await runCli(['copy', `maildir:${first}`, `maildir:${second}`, '--checkpoint', join(work, 'big2.journal'), '--json']);
    expect(envelope(r2).status, r2.stderr).toBe(0);
    const again = readMaildirTree(second).get('INBOX')!;
    expect(again.length).toBe(1);
    expect(again[0]!.bytes.equals(big)).toBe(true);
    // POP3 has no INTERNALDATE: the first copy is dated when written; a Maildir source reads whole seconds
    expect(again[0]!.mtimeMs).toBe(Math.floor(got[0]!.mtimeMs / 1000) * 1000);
  });
});

describe('dates', () => {
  // POP3 has no INTERNALDATE: a copy is dated by the topmost Received: header (the provider's
  // delivery), else by Date:, else when it is written; --since/--before filter by that date.
  const msg = (id: string, head: string[]) => Buffer.from([`Message-ID: <${id}@dates.example.org>`, ...head, 'Subject: dates', '', `body ${id}`, ''].join('\n'), 'latin1');
  const received = msg('received', [
    'Received: from mx.example.org by pop.example.net;',
    '\tThu, 05 Sep 2024 08:00:01 +0200',
    'Received: from a by mx.example.org; Wed, 04 Sep 2024 23:59:00 +0000',
    'Date: Wed, 04 Sep 2024 20:00:00 -0400',
  ]);
  const dated = msg('dated', ['Date: Sat, 01 Feb 2020 10:20:30 -0000']);
  const undated = msg('undated', []);
  const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
  const mtimeById = (files: Array<{ bytes: Buffer; mtimeMs: number }>) => new Map(files.map((f) => [messageIdOf(f.bytes), f.mtimeMs]));
  let src: string;

  beforeAll(async () => {
    src = (await h.freshUser('p3dates')).name;
    // the POP3 server's own received dates are the import's: all today, none of the header's
    const now = new Date();
    await importMessages(h, src, [received, dated, undated].map((bytes) => ({ folder: 'INBOX', bytes, letters: '', internalDate: now })));
  });

  it('POP3 → IMAP: INTERNALDATE from Received:, else Date:, else the time of the copy', async () => {
    const dst = (await h.freshUser('p3datesdst')).name;
    const t0 = Date.now();
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', join(work, 'dates-imap.journal'), '--json'], { env });
    expect(envelope(r).status, r.stderr).toBe(0);
    // Dovecot keeps a message's INTERNALDATE as its file's mtime
    const got = mtimeById(readMaildirTree(h.maildirOf(dst)).get('INBOX')!);
    expect(got.get('<received@dates.example.org>')).toBe(Date.parse('2024-09-05T06:00:01Z'));
    expect(got.get('<dated@dates.example.org>')).toBe(Date.parse('2020-02-01T10:20:30Z'));
    expect(got.get('<undated@dates.example.org>')).toBeGreaterThanOrEqual(Math.floor(t0 / 1000) * 1000);
  });

  it('POP3 → Maildir: the same dates as file times; --since and --before filter by them', async () => {
    const out = join(work, 'dates-md');
    const r = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${out}`, ...tls, '--checkpoint', join(work, 'dates-md.journal'), '--since', '2024-01-01', '--json'], { env });
    const res = envelope(r);
    expect(res.status, r.stderr).toBe(0);
    // dated (2020) is older than --since; undated has no date and passes
    expect(res.result.copied).toBe(2);
    let got = mtimeById(readMaildirTree(out).get('INBOX')!);
    expect(got.get('<received@dates.example.org>')).toBe(Date.parse('2024-09-05T06:00:01Z'));
    expect(got.has('<dated@dates.example.org>')).toBe(false);

    const r2 = await runCli(['copy', `pop3://${src}@${h.host}:${h.ports.pop3}`, `maildir:${out}`, ...tls, '--checkpoint', join(work, 'dates-md.journal'), '--before', '2024-01-01', '--json'], { env });
    expect(envelope(r2).status, r2.stderr).toBe(0);
    expect(envelope(r2).result.copied).toBe(1);
    got = mtimeById(readMaildirTree(out).get('INBOX')!);
    expect(got.get('<dated@dates.example.org>')).toBe(Date.parse('2020-02-01T10:20:30Z'));
    expect(got.size).toBe(3);
  });
});
