// Faults on the other protocols, real CLI, real Dovecot: the link to an IMAP destination is cut
// in the middle of APPENDs and between an APPEND and its answer (stored, but unconfirmed: it must
// not be sent twice), and a POP3 source's link is cut during RETR. The destination is exact.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { DEFAULT_LAYOUT, seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { expectedByFolder, maildirProblems } from '../harness/expected.js';
import { FaultProxy, type FaultOptions } from '../harness/fault-proxy.js';
import type { ManifestEntry } from '../harness/manifest.js';
import { sandbox } from './helpers.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
let proxy: FaultProxy | undefined;
afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

const served = (e: ManifestEntry) => e.bytes.length + e.bytes.filter((b) => b === 0x0a).length;

describe('IMAP destination through a faulty link', () => {
  let src: string;
  let manifest: ManifestEntry[];
  beforeAll(async () => {
    src = (await h.freshUser('fsrc')).name;
    manifest = await seedCorpus(h, src, { limitPerGroup: 25 });
  });

  async function copyTo(dst: string, opts: FaultOptions, extra: string[] = []) {
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, opts);
    const box = sandbox('mf-append-');
    const r = await runCli(
      ['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `imap://${dst}@${h.host}:${proxy.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--report', join(box, 'report'), '--json', ...extra],
      { env },
    );
    return { r, out: envelope(r), box };
  }

  it('cut every N KB of APPEND uploads: the copy completes, every message once', async () => {
    const dst = (await h.freshUser('fdst')).name;
    const { keep, total } = expectedByFolder(manifest);
    const n = Math.ceil(Math.max(...manifest.map(served)) * 1.5);
    const { r, out } = await copyTo(dst, { trigger: /APPEND/i, direction: 'up', cutAfterBytes: n }, ['--concurrency', '2']);
    expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 2) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy!.cuts).toBeGreaterThanOrEqual(3);
    expect(out.result.copied + out.result.skipped).toBe(total);
    expect(maildirProblems(h.maildirOf(dst), keep, { loose: true })).toEqual([]);
  });

  it('an APPEND stored but never confirmed (link cut before the answer) is found in the destination, not sent twice', async () => {
    const dst = (await h.freshUser('fdst')).name;
    const { keep, total } = expectedByFolder(manifest);
    // Drop the link instead of passing on the server's "OK [APPENDUID …]", three times.
    const { r, out, box } = await copyTo(dst, { trigger: /APPEND/i, cutBeforeDown: /^\S+ OK \[APPENDUID/m, maxCuts: 3 });
    expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 2) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy!.cuts).toBe(3);
    // Each of the three was stored by the server: the retry found it there (skipped as present).
    // APPENDs go out as MULTIAPPEND batches, confirmed as a whole: every message of an unconfirmed
    // batch is found there, so at least three are skipped.
    expect(out.result.skipped).toBeGreaterThanOrEqual(3);
    expect(out.result.copied + out.result.skipped, readFileSync(join(box, 'report'), 'utf8').split('\n').filter((l) => /"key":"1",/.test(l)).join('\n') + r.stderr.slice(-3000)).toBe(total);
    expect(maildirProblems(h.maildirOf(dst), keep, { loose: true })).toEqual([]);
  });

  it('one folder, its APPEND never confirmed: the check before the resend sees what other connections stored since', async () => {
    // The control connection keeps the destination folder selected from the dedupe scan at the
    // folder's start; a server shows a session what others stored only when it syncs the session.
    const dst = (await h.freshUser('fdst')).name;
    const inbox = manifest.filter((m) => m.folder === 'INBOX');
    const ids = new Set(inbox.map((m) => m.messageId));
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { trigger: /APPEND/i, cutBeforeDown: /^\S+ OK \[APPENDUID/m, maxCuts: 1 });
    const box = sandbox('mf-append-');
    const r = await runCli(
      ['copy', `imap://${src}@${h.host}:${h.ports.imap}/INBOX`, `imap://${dst}@${h.host}:${proxy.port}/Moved`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '-j', '1', '--json'],
      { env },
    );
    const out = envelope(r);
    expect(out.status, r.stderr.slice(-1500)).toBe(0);
    expect(proxy.cuts).toBe(1);
    expect(out.result.skipped).toBeGreaterThanOrEqual(1);
    const stored = ['cur', 'new'].flatMap((d) => readdirSync(join(h.maildirOf(dst), '.Moved', d)));
    expect(stored).toHaveLength(ids.size);
  });

  it('a SUBSCRIBE lost with its connection is sent again: every folder made is subscribed', async () => {
    const dst = (await h.freshUser('fdst')).name;
    // The link drops as the SUBSCRIBE after the first CREATE (the prefix folder) goes out: the server never sees it.
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { trigger: /^\S+ SUBSCRIBE /m, direction: 'up', cutAfterBytes: 0, maxCuts: 1 });
    const box = sandbox('mf-sub-');
    const r = await runCli(['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `imap://${dst}@${h.host}:${proxy.port}/Moved`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy!.cuts).toBe(1);
    const made = (await h.doveadm(['mailbox', 'list', '-u', dst])).stdout.toString().split('\n').filter((l) => l && l !== 'INBOX' && !/^(Sent|Sent Items|Drafts|Trash|Junk)$/.test(l));
    const subscribed = new Set((await h.doveadm(['mailbox', 'list', '-s', '-u', dst])).stdout.toString().split('\n'));
    expect(made.length).toBeGreaterThan(0);
    for (const m of made) expect(subscribed.has(m), m).toBe(true);
  });

  it('the control connection (folders, scans) cut twice, each time before the answer to a CREATE: it reconnects, the copy completes, every message once', async () => {
    const dst = (await h.freshUser('fdst')).name;
    const { keep, total } = expectedByFolder(manifest);
    // The folder was made, but its "OK Create completed" never arrives: the link drops instead.
    const { r, out } = await copyTo(dst, { trigger: /^\S+ CREATE /m, cutBeforeDown: /^\S+ OK (\[[^\]]*\] )?Create completed/im, maxCuts: 2 });
    expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 2) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy!.cuts).toBe(2);
    expect(out.warnings.join('\n')).toMatch(/creating .*reconnecting, retry 1\//);
    expect(out.result.copied).toBe(total);
    expect(maildirProblems(h.maildirOf(dst), keep, { loose: true })).toEqual([]);
  });
});

describe('IMAP destination, its control connection cut during a scan', () => {
  it('a rerun without the checkpoint scans the destination again after a reconnect: nothing copied twice', async () => {
    const src = (await h.freshUser('fsrc2')).name;
    const manifest = await seedCorpus(h, src, { limitPerGroup: 10 });
    const { keep, total } = expectedByFolder(manifest);
    const dst = (await h.freshUser('fdst')).name;
    const run = async (opts: FaultOptions) => {
      proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, opts);
      const box = sandbox('mf-scan-');
      const r = await runCli(['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `imap://${dst}@${h.host}:${proxy.port}`, '--source-tls', 'none', '--dest-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env });
      const out = envelope(r);
      expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 2) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
      await proxy.stop();
      return out;
    };
    expect((await run({})).result.copied).toBe(total);
    // A new checkpoint: every destination folder is scanned; the first scan's answer is cut off.
    const again = await run({ trigger: /^\S+ (UID )?FETCH /m, cutBeforeDown: /^\S+ OK (\[[^\]]*\] )?Fetch completed/im, maxCuts: 1 });
    expect(again.result).toMatchObject({ copied: 0, skipped: total });
    expect(again.warnings.join('\n')).toMatch(/reading .*reconnecting, retry 1\//);
    expect(maildirProblems(h.maildirOf(dst), keep, { loose: true })).toEqual([]);
  });
});

describe('POP3 source through a faulty link', () => {
  it('cut three times from the header pass on (pipelined TOP): the listing reconnects and goes on, the copy completes', async () => {
    const user = (await h.freshUser('ftop')).name;
    const inboxOnly = Object.fromEntries(Object.keys(DEFAULT_LAYOUT).map((g) => [g, 'INBOX']));
    const manifest = await seedCorpus(h, user, { limitPerGroup: 20, layout: inboxOnly });
    const { keep, total } = expectedByFolder(manifest);
    // The headers of the whole box are more than 12 KB: each session is cut before its TOPs are done.
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.pop3 }, { trigger: /^TOP /im, cutAfterBytes: 12 * 1024, maxCuts: 3 });
    const box = sandbox('mf-top-');
    const dest = join(box, 'dest');
    // A destination that holds mail already (of another source): the headers are read first, to
    // skip what is there (into an empty one they would come with the bodies).
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dest, sub), { recursive: true });
    writeFileSync(join(dest, 'cur', '1.foreign.host:2,S'), 'Message-ID: <foreign@elsewhere.test>\nSubject: there\n\nx\n');
    const r = await runCli(['copy', `pop3://${user}@${h.host}:${proxy.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, JSON.stringify(out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy.cuts).toBe(3);
    // The first cut falls in the header pass (later ones may fall in the RETRs, retried as batches).
    const relisted = out.warnings.filter((w: string) => /listing the POP3 box: .*reconnecting, retry \d\/5 in \d+ ms \(\d+ of 100 headers read\)/.test(w));
    expect(relisted.length).toBeGreaterThanOrEqual(1);
    // A cut in the RETRs may leave stored messages unconfirmed: found in the destination, skipped.
    expect(out.result.copied + out.result.skipped).toBe(total);
    rmSync(join(dest, 'cur', '1.foreign.host:2,S'));
    expect(maildirProblems(dest, keep, { loose: true })).toEqual([]);
  });

  it('cut every N KB of RETR: the copy completes, every message once', async () => {
    const user = (await h.freshUser('fpop')).name;
    const inboxOnly = Object.fromEntries(Object.keys(DEFAULT_LAYOUT).map((g) => [g, 'INBOX']));
    const manifest = await seedCorpus(h, user, { limitPerGroup: 20, layout: inboxOnly });
    const { keep, total } = expectedByFolder(manifest);
    const n = Math.ceil(Math.max(...manifest.map(served)) * 1.5);
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.pop3 }, { trigger: /^RETR /im, cutAfterBytes: n });
    const box = sandbox('mf-retr-');
    const dest = join(box, 'dest');
    const r = await runCli(['copy', `pop3://${user}@${h.host}:${proxy.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 2) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy.cuts).toBeGreaterThanOrEqual(2);
    expect(out.result.copied).toBe(total);
    expect(maildirProblems(dest, keep, { loose: true })).toEqual([]);
  });
});
