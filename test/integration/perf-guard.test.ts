// Speed guard that is not a timing: counts what a copy costs per message, at the wire
// (IMAP commands, through a proxy) and at the kernel (fsync/fdatasync calls, through strace).
// Every message must be fsynced once; nothing else may cost a sync or a command per message.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeMessageId } from '../../src/mail/headers.js';
import { CORPUS_GROUPS, seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { underStrace } from '../harness/strace.js';
import { fetchResponseCounts } from 'imapflow/lib/handler/fetch-response.js';
import { fetchRows } from '../../src/drivers/imap/fetch-rows.js';
import { closeImap, connectImap } from '../../src/drivers/imap/connect.js';
import { plainImapOptions } from '../harness/imap-options.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
const FOLDERS = 5;
const PER_FOLDER = 40;
const MESSAGES = FOLDERS * PER_FOLDER;

/** Runs the real CLI under `strace -f -c` and returns its JSON result and the sync call count. */
async function tracedCopy(args: string[], work: string): Promise<{ status: number; copied: number; skipped: number; syncs: number }> {
  const summary = join(work, `strace-${Date.now()}.txt`);
  const { code, stdout: out, stderr: err } = await underStrace(['-f', '-qq', '-c', '-o', summary, '-e', 'trace=fsync,fdatasync'], [...args, '--json'], env);
  expect(code, err.slice(-2000)).toBe(0);
  const doc = JSON.parse(out.trim().split('\n').at(-1)!);
  let syncs = 0;
  for (const line of readFileSync(summary, 'utf8').split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/.exec(line);
    if (m) syncs += Number(m[1]);
  }
  return { status: doc.status, copied: doc.result.copied, skipped: doc.result.skipped, syncs };
}

describe('cost per message of a copy (counted, not timed)', () => {
  let src: string;
  let work: string;
  let proxy: FaultProxy;
  beforeAll(async () => {
    src = (await h.freshUser('guard')).name;
    await seedCorpus(h, src, { limitPerGroup: PER_FOLDER });
    work = mkdtempSync(join(tmpdir(), 'mf-guard-'));
    // A line ending in a synchronizing literal ("{1234}"): the client then waits for the server's "+".
    // Commands are told by imapflow's tags (hex) and upper-case names: the lines of the messages an
    // APPEND carries pass here too ("Please subscribe ...").
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { watch: /^\S+ (UID )?(FETCH|APPEND) /i, tally: { syncLiteral: /\{\d+\}\r?$/, listAll: /^\S+ LIST .*"\*"/i, list: /^[0-9A-F]+ (LIST|LSUB) /, subscribe: /^[0-9A-F]+ SUBSCRIBE /, noop: /^[0-9A-F]+ NOOP\r?$/, status: /^\S+ STATUS /i, id: /^[0-9A-F]+ ID /, auth: /^[0-9A-F]+ AUTHENTICATE /, authIr: /^[0-9A-F]+ AUTHENTICATE PLAIN [A-Za-z0-9+/]+=*\r?$/ } });
  });
  afterAll(async () => proxy?.stop());

  it('IMAP → Maildir: one fsync per message, a few FETCH commands per folder; the rerun neither fetches nor syncs messages', async () => {
    const args = ['copy', `imap://${src}@${h.host}:${proxy.port}`, `maildir:${join(work, 'M')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp1')];
    const before = proxy.watched;
    const conns = proxy.connections;
    const listsBefore = proxy.tallied.list ?? 0;
    const idsBefore = proxy.tallied.id ?? 0;
    const [authBefore, authIrBefore] = [proxy.tallied.auth ?? 0, proxy.tallied.authIr ?? 0];
    const first = await tracedCopy(args, work);
    expect(first).toMatchObject({ status: 0, copied: MESSAGES });
    // The account's folders are listed once, on the folder connection, by one LIST: no LSUB
    // (imapflow's, for the subscriptions, which a copy does not read); a worker opening a folder
    // does not list it again (imapflow would, before its EXAMINE).
    expect((proxy.tallied.list ?? 0) - listsBefore).toBe(1);
    // One ID per connection: the one before the login, not again after it.
    expect((proxy.tallied.id ?? 0) - idsBefore).toBe(proxy.connections - conns);
    // Each login's credentials on its AUTHENTICATE line (SASL-IR, which Dovecot offers), not sent
    // after a "+" from the server: one round trip, not two.
    expect((proxy.tallied.auth ?? 0) - authBefore).toBe(proxy.connections - conns);
    expect((proxy.tallied.authIr ?? 0) - authIrBefore).toBe(proxy.connections - conns);
    // Each message file is synced (durability), plus per batch and folder: directories and the journal.
    expect(first.syncs).toBeGreaterThanOrEqual(MESSAGES);
    expect(first.syncs).toBeLessThanOrEqual(MESSAGES + 6 * FOLDERS + 10);
    // One metadata FETCH per folder and one body FETCH per batch (≤ 250 messages).
    expect(proxy.watched - before).toBeLessThanOrEqual(3 * FOLDERS);
    // The folder connection and at most one per worker (--concurrency 4), warmed up or not.
    expect(proxy.connections - conns).toBeLessThanOrEqual(1 + 4);

    const connsBefore = proxy.connections;
    const statusBefore = proxy.tallied.status ?? 0;
    const again = await tracedCopy(args, work);
    expect(again).toMatchObject({ status: 0, copied: 0 });
    // Each folder found unchanged from the LIST's own STATUS answers (LIST-STATUS): no STATUS
    // round trip per folder.
    expect((proxy.tallied.status ?? 0) - statusBefore).toBe(0);
    expect(again.syncs).toBeLessThanOrEqual(4);
    expect(proxy.watched - before).toBeLessThanOrEqual(3 * FOLDERS);
    // Nothing to copy: no worker connection is opened ahead of need.
    expect(proxy.connections - connsBefore).toBe(1);
  });

  it("IMAP source: the FETCH rows Dovecot sends for a copy (listing and bodies) are read by the parser's fast path, not its tokenizer", async () => {
    const client = await connectImap(plainImapOptions({ host: h.host, port: h.ports.imap, user: src, timeoutMs: 30_000 }));
    try {
      await client.mailboxOpen('Junk', { readOnly: true });
      const before = fetchResponseCounts.read;
      let rows = 0;
      // What the IMAP source asks for (drivers/imap/source.ts): the listing, then the bodies.
      for await (const row of fetchRows(client, '1:*', { flags: true, internalDate: true, size: true, headerFields: ['MESSAGE-ID'] })) {
        expect(row.header).toBeDefined();
        rows++;
      }
      for await (const row of fetchRows(client, '1:*', { body: 'body' })) {
        expect(row.body?.length).toBeGreaterThan(0);
        rows++;
      }
      expect(rows).toBe(2 * PER_FOLDER);
      expect(fetchResponseCounts.read - before).toBe(rows);
    } finally {
      await closeImap(client, false);
    }
  });

  it('POP3 → Maildir: a first copy into an empty destination reads no header before the bodies; one that may find messages there does', async () => {
    const pop = (await h.freshUser('guard-pop')).name;
    const seeded = await seedCorpus(h, pop, { limitPerGroup: PER_FOLDER, layout: Object.fromEntries(CORPUS_GROUPS.map((g) => [g, 'INBOX'])) });
    const popProxy = await FaultProxy.start({ host: h.host, port: h.ports.pop3 }, { tally: { top: /^TOP /i, retr: /^RETR /i } });
    const count = () => ({ top: popProxy.tallied.top ?? 0, retr: popProxy.tallied.retr ?? 0 });
    try {
      const args = (cp: string) => ['copy', `pop3://${pop}@${h.host}:${popProxy.port}`, `maildir:${join(work, 'P')}`, '--source-tls', 'none', '--checkpoint', join(work, cp)];
      const first = await tracedCopy(args('cp5'), work);
      // Every message once: copied, or skipped as a duplicate of one copied (by the Message-ID of its body).
      expect(first).toMatchObject({ status: 0 });
      expect(first.copied + first.skipped).toBe(seeded.length);
      expect(first.copied).toBe(new Set(seeded.map((m) => normalizeMessageId(m.messageId) ?? m.origin)).size);
      expect(count()).toEqual({ top: 0, retr: seeded.length });

      // One new message: the checkpoint has the rest, so only it is looked at, header first.
      await h.doveadm(['save', '-u', pop, '-m', 'INBOX'], Buffer.from('Message-ID: <guard-pop-new@example.org>\r\nSubject: new\r\n\r\nbody\r\n'));
      let before = count();
      expect(await tracedCopy(args('cp5'), work)).toMatchObject({ status: 0, copied: 1 });
      expect(count()).toEqual({ top: before.top + 1, retr: before.retr + 1 });

      // Without the checkpoint, into the destination that holds them all: headers only, no body.
      before = count();
      expect(await tracedCopy(args('cp5-fresh'), work)).toMatchObject({ status: 0, copied: 0 });
      expect(count()).toEqual({ top: before.top + seeded.length + 1, retr: before.retr });
    } finally {
      await popProxy.stop();
    }
  });

  it('IMAP → IMAP: APPENDs go out in batches (MULTIAPPEND), not one command per message', async () => {
    const dst = (await h.freshUser('guard-dst')).name;
    const before = proxy.watched;
    const syncBefore = proxy.tallied.syncLiteral ?? 0;
    const listsBefore = proxy.tallied.listAll ?? 0;
    const tally = (name: string) => proxy.tallied[name] ?? 0;
    const [listBefore, subscribeBefore, noopBefore] = [tally('list'), tally('subscribe'), tally('noop')];
    const conns = proxy.connections;
    const r = await tracedCopy(
      ['copy', `imap://${src}@${h.host}:${proxy.port}`, `imap://${dst}@${h.host}:${proxy.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(work, 'cp2')],
      work,
    );
    expect(r).toMatchObject({ status: 0, copied: MESSAGES });
    // FETCHes as above; APPEND commands carry many messages each (at least 4 on average).
    expect(proxy.watched - before).toBeLessThanOrEqual(3 * FOLDERS + MESSAGES / 4);
    // Dovecot has LITERAL+: no message waits for a "+" continuation (imapflow, as patched in
    // patches/, sends every literal non-synchronizing then; unpatched, only those up to 4 KiB).
    expect((proxy.tallied.syncLiteral ?? 0) - syncBefore).toBe(0);
    // The account's folders are listed once per side, not again after each folder made in the
    // destination (which made a migration of N folders read N² LIST lines).
    expect((proxy.tallied.listAll ?? 0) - listsBefore).toBeLessThanOrEqual(2);
    // Each folder made costs its CREATE, one SUBSCRIBE, one LIST of it and the SELECT that says
    // which flags it keeps: it is not listed again before that SELECT, and, made empty by this
    // run, not read for dedupe (an EXAMINE and a NOOP: only INBOX, which was there, is read);
    // besides, each side's account LIST (no LSUB). The seeded folders need five made (Archive and
    // Archive/2002, Junk and Junk/Old, Café ☕).
    expect(tally('subscribe') - subscribeBefore).toBe(5);
    expect(tally('list') - listBefore).toBe(2 + 5);
    expect(tally('noop') - noopBefore).toBe(1);
    // One folder connection per side, and per worker at most a reader and a writer, which opens
    // a second APPEND connection when batches wait for its first (more often on a loaded machine:
    // a full run of the suite saw 13).
    expect(proxy.connections - conns).toBeLessThanOrEqual(2 + 4 + 2 * 4);
    // The server stores the messages; mailferry syncs only its journal (per batch).
    expect(r.syncs).toBeLessThanOrEqual(4 * FOLDERS + 10);
  });

  it('IMAP → IMAP rerun: the destination folders are looked at from its LIST (no STATUS each); with one new message, the destination folder is not read whole (only what the checkpoint does not know)', async () => {
    const dst = (await h.freshUser('guard-inc')).name;
    // The destination alone behind this proxy: a FETCH of the Message-IDs of 1:* is the whole
    // folder read again; any other header FETCH names only UIDs the checkpoint did not store.
    const destProxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { tally: { wholeScan: /^\S+ UID FETCH 1:\* .*HEADER\.FIELDS/i, headerFetch: /HEADER\.FIELDS/i, status: /^\S+ STATUS /i } });
    try {
      const args = ['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `imap://${dst}@${h.host}:${destProxy.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(work, 'cp3')];
      expect(await tracedCopy(args, work)).toMatchObject({ status: 0, copied: MESSAGES });
      // A no-op rerun looks at each destination folder it copied into (wiped since?): answered by
      // the LIST's own STATUS (LIST-STATUS), not a STATUS round trip per folder.
      const statuses = destProxy.tallied.status ?? 0;
      expect(await tracedCopy(args, work)).toMatchObject({ status: 0, copied: 0 });
      expect((destProxy.tallied.status ?? 0) - statuses).toBe(0);
      await h.doveadm(['save', '-u', src, '-m', 'INBOX'], Buffer.from('Message-ID: <guard-inc-new@example.org>\r\nSubject: new\r\n\r\nbody\r\n'));
      // Another client put one in the destination too: unknown to the checkpoint, so read.
      await h.doveadm(['save', '-u', dst, '-m', 'INBOX'], Buffer.from('Message-ID: <guard-inc-other@example.org>\r\nSubject: other\r\n\r\nbody\r\n'));
      const whole = destProxy.tallied.wholeScan ?? 0;
      const headers = destProxy.tallied.headerFetch ?? 0;
      expect(await tracedCopy(args, work)).toMatchObject({ status: 0, copied: 1 });
      expect((destProxy.tallied.wholeScan ?? 0) - whole).toBe(0);
      expect((destProxy.tallied.headerFetch ?? 0) - headers).toBeLessThanOrEqual(1);
      // And the dedupe still sees what is there: copied again from scratch, nothing is twice.
      expect(await tracedCopy([...args.slice(0, -1), join(work, 'cp3-fresh')], work)).toMatchObject({ status: 0, copied: 0 });
    } finally {
      await destProxy.stop();
    }
  });

  it('Maildir → IMAP no-op rerun: every folder is listed again, and the destination folders are taken as they are (no SELECT or STATUS each)', async () => {
    const dst = (await h.freshUser('guard-md')).name;
    const md = join(work, 'MD');
    // Every message of the account (an earlier test may have added one).
    const backup = await tracedCopy(['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `maildir:${md}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp6')], work);
    expect(backup).toMatchObject({ status: 0 });
    const destProxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { tally: { select: /^\S+ SELECT /i, status: /^\S+ STATUS /i } });
    try {
      const args = ['copy', `maildir:${md}`, `imap://${dst}@${h.host}:${destProxy.port}`, '--dest-tls', 'none', '--checkpoint', join(work, 'cp7')];
      expect(await tracedCopy(args, work)).toMatchObject({ status: 0, copied: backup.copied });
      const selects = destProxy.tallied.select ?? 0;
      const statuses = destProxy.tallied.status ?? 0;
      expect(await tracedCopy(args, work)).toMatchObject({ status: 0, copied: 0 });
      expect((destProxy.tallied.select ?? 0) - selects).toBe(0);
      expect((destProxy.tallied.status ?? 0) - statuses).toBe(0);
    } finally {
      await destProxy.stop();
    }
  });
});
