// A no-op rerun over the whole corpus downloads no message bodies: counted at the wire, through a
// proxy that watches the client's commands.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { FaultProxy } from '../harness/fault-proxy.js';

const h = harness();
const BODY_FETCH = /FETCH .*(BODY\.PEEK\[\]|BINARY\.PEEK\[\]|BODY\[\]|RFC822[ )])/i;

describe('no-op rerun', () => {
  let proxy: FaultProxy;
  const work = mkdtempSync(join(tmpdir(), 'mf-noop-'));
  const cp = join(work, 'cp.journal');
  const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password };
  let args: string[];

  beforeAll(async () => {
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { trigger: BODY_FETCH, watch: BODY_FETCH });
    args = ['copy', `imap://${h.user.name}@127.0.0.1:${proxy.port}`, `maildir:${join(work, 'M')}`, '--source-tls', 'none', '--checkpoint', cp, '--json'];
  });
  afterAll(async () => proxy.stop());

  it('the first run fetches bodies; the rerun fetches none and copies 0', async () => {
    const first = envelope(await runCli(args, { env }));
    expect(first.status).toBe(0);
    expect(proxy.triggered).toBeGreaterThan(0);
    expect(proxy.watched).toBeGreaterThan(20); // ~6,000 messages in batches of at most 250
    const before = proxy.triggered;
    const fetchesBefore = proxy.watched;
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result.copied).toBe(0);
    expect(proxy.triggered).toBe(before);
    expect(proxy.watched).toBe(fetchesBefore);
  });

  it('without the checkpoint, only messages lacking a Message-ID are downloaded (to digest them)', async () => {
    rmSync(cp);
    const before = proxy.watched;
    const rebuilt = envelope(await runCli(args, { env }));
    expect(rebuilt.status).toBe(0);
    expect(rebuilt.result.copied).toBe(0);
    const noMid = h.manifest().filter((e) => e.messageId === null).length;
    expect(noMid).toBeGreaterThan(0);
    // One batched body FETCH per folder holding such messages (plus BINARY refetches), never the corpus's ~30.
    const folders = new Set(h.manifest().filter((e) => e.messageId === null).map((e) => e.folder)).size;
    expect(proxy.watched - before).toBeLessThanOrEqual(2 * folders);
  });

  it('with --max-size (messages left out by it): the rerun under the same filter lists no folder again; another filter does', async () => {
    const fcp = join(work, 'filtered.journal');
    const fargs = (size: string) => ['copy', `imap://${h.user.name}@127.0.0.1:${proxy.port}`, `maildir:${join(work, 'F')}`, '--source-tls', 'none', '--checkpoint', fcp, '--max-size', size, '--json'];
    const first = envelope(await runCli(fargs('4K'), { env }));
    expect(first.status).toBe(0);
    expect(first.result.filtered).toBeGreaterThan(0);
    const again = envelope(await runCli(fargs('4K'), { env }));
    expect(again.result.folders.every((f: { unchanged: boolean }) => f.unchanged), JSON.stringify(again.result.folders)).toBe(true);
    expect(again.result.filtered).toBe(0);
    const plan = envelope(await runCli([...fargs('4K'), '--dry-run'], { env }));
    expect(plan.result.folders.every((f: { unchanged: boolean }) => f.unchanged)).toBe(true);
    // A wider filter: the folders are listed again in full, and what it lets in now is copied.
    const wider = envelope(await runCli(fargs('8K'), { env }));
    expect(wider.result.folders.some((f: { unchanged: boolean }) => f.unchanged)).toBe(false);
    expect(wider.result.copied).toBeGreaterThan(0);
    expect(wider.result.copied).toBe(first.result.filtered - wider.result.filtered);
  });
});

describe('rerun of a folder that is not complete', () => {
  it('one message failed (over --max-message-size): the rerun asks the server for the metadata of that message alone, not of every message done', async () => {
    // A metadata FETCH (the listing) naming more than one UID.
    const proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { tally: { wideListing: /UID FETCH \S*[:,]\S* .*HEADER\.FIELDS/i, listing: /UID FETCH .*HEADER\.FIELDS/i } });
    try {
      const work = mkdtempSync(join(tmpdir(), 'mf-partial-'));
      const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password };
      // The size the server gives (CRLF line endings): only the largest message of the corpus is over the limit.
      const sizes = h.manifest().map((e) => e.bytes.length + (e.bytes.toString('latin1').match(/(?<!\r)\n/g)?.length ?? 0)).sort((a, b) => b - a);
      expect(sizes[0]).toBeGreaterThan(sizes[1]! + 1);
      const args = ['copy', `imap://${h.user.name}@127.0.0.1:${proxy.port}`, `maildir:${join(work, 'M')}`, '--source-tls', 'none', '--checkpoint', join(work, 'cp'), '--max-message-size', String(sizes[1]! + 1), '--json'];
      const first = envelope(await runCli(args, { env }));
      expect(first.status).toBe(6);
      expect(first.result.failed).toBe(1);
      expect(proxy.tallied.wideListing).toBeGreaterThan(0);
      const wide = proxy.tallied.wideListing ?? 0;
      const listings = proxy.tallied.listing ?? 0;
      const again = envelope(await runCli(args, { env }));
      expect(again.status).toBe(6);
      expect(again.result).toMatchObject({ copied: 0, failed: 1 });
      // The other folders are complete (unchanged); the one with the failure is listed again.
      const partial = again.result.folders.filter((f: { unchanged: boolean }) => !f.unchanged);
      expect(partial).toHaveLength(1);
      expect(partial[0]).toMatchObject({ failed: 1, listed: partial[0].already + 1 });
      expect(partial[0].already).toBeGreaterThan(100);
      // Its folder is listed again (no `end` record), but only the failed message is asked about.
      expect(proxy.tallied.wideListing ?? 0).toBe(wide);
      expect((proxy.tallied.listing ?? 0) - listings).toBe(1);
    } finally {
      await proxy.stop();
    }
  });
});
