// An IMAP destination's writers send their APPEND batches on two connections each, the second
// logged in when batches wait with the first busy. Against a server that limits connections per
// account (Dovecot's mail_max_userip_connections), the extra connections are what goes without:
// quietly, with nothing throttled or retried, and every message stored once.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedCorpus } from '../harness/corpus.js';
import { startDovecot, type Dovecot } from '../harness/dovecot.js';
import { expectedByFolder } from '../harness/expected.js';
import { FaultProxy } from '../harness/fault-proxy.js';
import { messageCounts } from '../harness/stage.js';
import { sandbox } from '../faults/helpers.js';

const LIMIT_MET = /Maximum number of connections from user\+IP exceeded/;
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };

/** 1,000 messages in one folder: four batches at once, so four writers, each wanting its second connection. */
const ONE_FOLDER = { 'easy-ham-1': 'INBOX', 'easy-ham-2': 'INBOX', 'hard-ham-1': 'INBOX', 'spam-1': 'INBOX', 'spam-2': 'INBOX' } as const;

async function withLimit(limit: number, users: string[], seedUser: string): Promise<{ dc: Dovecot; kept: Map<string, unknown[]> }> {
  const dc = await startDovecot({ users, maxUserIpConnections: limit });
  return { dc, kept: expectedByFolder(await seedCorpus(dc, seedUser, { limitPerGroup: 200, layout: ONE_FOLDER })).keep };
}

const totalOf = (kept: Map<string, unknown[]>) => [...kept.values()].reduce((a, l) => a + l.length, 0);
const log = (dc: Dovecot) => readFileSync(join(dc.dir, 'dovecot.log'), 'utf8');

describe("APPEND on a second connection per writer, against a server's limit on connections per account", () => {
  const started: Dovecot[] = [];
  const proxies: FaultProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.stop()));
    await Promise.all(started.map((d) => d.stop()));
  });

  it('another account allowing 5 connections (a control connection and 4 writers): the extra ones are refused, nothing is throttled, each message stored once', async () => {
    const { dc, kept } = await withLimit(5, ['from', 'to'], 'from');
    started.push(dc);
    // The destination answers through a proxy that delays every chunk: a writer's first
    // connection is still waiting for its answer when the next batch is ready, so the second
    // connection is wanted (as on a real server busy storing), whatever the load on this machine.
    const proxy = await FaultProxy.start({ host: dc.host, port: dc.ports.imap }, { delayMs: 20 });
    proxies.push(proxy);
    const r = await runCli(['copy', `imap://from@${dc.host}:${dc.ports.imap}`, `imap://to@127.0.0.1:${proxy.port}`, '--tls-ca', dc.certPem, '--dest-tls', 'none', '--checkpoint', join(sandbox('mf-lanes-'), 'cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, `${r.stderr} ${JSON.stringify(out.error)}`).toBe(0);
    expect(out.result).toMatchObject({ copied: totalOf(kept), failed: 0 });
    // The limit was met, by the extra connections alone: the copy never noticed.
    expect(log(dc)).toMatch(LIMIT_MET);
    expect(out.warnings.join('\n')).not.toMatch(/throttl|retry/i);
    const counts = await messageCounts(dc, 'to');
    for (const [folder, list] of kept) expect(counts.get(folder.replaceAll('/', '.')), folder).toBe(list.length);
  });

  it("one account into a folder of itself at Dovecot's default limit (10: its readers and writers share it): no extra connection is tried", async () => {
    const { dc, kept } = await withLimit(10, ['one'], 'one');
    started.push(dc);
    const url = (folder = '') => `imap://one@${dc.host}:${dc.ports.imap}${folder}`;
    const r = await runCli(['copy', url(), url('/Backup'), '--tls-ca', dc.certPem, '--checkpoint', join(sandbox('mf-lanes-'), 'cp'), '--json'], { env });
    const out = envelope(r);
    expect(out.status, `${r.stderr} ${JSON.stringify(out.error)}`).toBe(0);
    expect(out.result).toMatchObject({ copied: totalOf(kept), failed: 0 });
    expect(log(dc)).not.toMatch(LIMIT_MET);
    expect(out.warnings.join('\n')).not.toMatch(/throttl|retry/i);
    const counts = await messageCounts(dc, 'one');
    // INBOX lands in the prefix folder itself.
    for (const [folder, list] of kept) expect(counts.get(folder === 'INBOX' ? 'Backup' : `Backup.${folder.replaceAll('/', '.')}`), folder).toBe(list.length);
  });
});
