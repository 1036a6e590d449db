// The real CLI against the real Dovecot through a fault-injecting TCP proxy: the link is cut every
// N kilobytes of FETCH, the control connection drops in the middle of a listing, the link is slow,
// a reader stalls. Each copy completes (or exits with its documented code and a rerun completes)
// and the destination is exact: every message once, byte-equal.
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { expectedByFolder, maildirProblems } from '../harness/expected.js';
import { FaultProxy, type FaultOptions } from '../harness/fault-proxy.js';
import { seedFixtures } from '../harness/fixtures.js';
import type { ManifestEntry } from '../harness/manifest.js';
import { sandbox } from './helpers.js';

const h = harness();
let user: string;
let manifest: ManifestEntry[];
let proxy: FaultProxy | undefined;

beforeAll(async () => {
  user = (await h.freshUser('fault')).name;
  manifest = [...(await seedCorpus(h, user, { limitPerGroup: 40 })), ...(await seedFixtures(h, user, 'Fixtures'))];
});

afterEach(async () => {
  await proxy?.stop();
  proxy = undefined;
});

/** Served size (CRLF) of the largest seeded message: a cut every N bytes above it always makes progress. */
const largest = () => Math.max(...manifest.map((e) => e.bytes.length + e.bytes.filter((b) => b === 0x0a).length));

async function copyVia(opts: FaultOptions | null, extra: string[] = [], box = sandbox('mf-proxy-')) {
  if (opts && proxy) proxy.opts = opts;
  const port = opts ? (proxy ??= await FaultProxy.start({ host: h.host, port: h.ports.imap }, opts)).port : h.ports.imap;
  const dest = join(box, 'dest');
  const started = Date.now();
  const r = await runCli(['copy', `imap://${user}@${h.host}:${port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', join(box, 'cp'), '--json', ...extra], {
    env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
  });
  return { r, out: envelope(r), dest, box, seconds: (Date.now() - started) / 1000 };
}

const BODY_FETCH = /BODY\.PEEK\[\]/i;

describe('through a faulty link to the real Dovecot', () => {
  it('cut every N KB of body FETCH: the copy completes, every message once, byte-equal', async () => {
    const { keep, total } = expectedByFolder(manifest);
    const n = Math.max(32 * 1024, Math.ceil(largest() * 1.2));
    const { r, out, dest } = await copyVia({ trigger: BODY_FETCH, cutAfterBytes: n, recount: true }, ['--concurrency', '2']);
    expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 3) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy!.cuts).toBeGreaterThanOrEqual(3);
    expect(out.result.copied).toBe(total);
    expect(maildirProblems(dest, keep)).toEqual([]);
    // Each cut is said: the message the FETCH broke off at is asked for alone, then the rest.
    expect(out.warnings.some((w: string) => /lost.*(retry|fetching message \d+ alone)/.test(w))).toBe(true);
  });

  it('the control connection drops in the middle of listings (3 times): it reconnects, the copy completes', async () => {
    const { keep, total } = expectedByFolder(manifest);
    const { r, out, dest } = await copyVia({ trigger: /RFC822\.SIZE/i, cutAfterBytes: 3000, maxCuts: 3 });
    expect(out.status, r.stderr.slice(-2000)).toBe(0);
    expect(proxy!.cuts).toBe(3);
    expect(out.result.copied).toBe(total);
    expect(maildirProblems(dest, keep)).toEqual([]);
    expect(out.warnings.filter((w: string) => /listing .*reconnecting/.test(w)).length).toBe(3);
  });

  it("links lost while readers open their folder (the EXAMINE answer never arrives): retried as the connection's failure, no message blamed", async () => {
    const { keep, total } = expectedByFolder(manifest);
    const { r, out, dest } = await copyVia({ trigger: /^\S+ EXAMINE /m, cutBeforeDown: /^\S+ OK \[READ-ONLY\]/m, maxCuts: 4, spareConnections: 1 }, ['--concurrency', '1']);
    expect(out.status, JSON.stringify(out.result?.failures?.slice(0, 3) ?? out.error) + r.stderr.slice(-1500)).toBe(0);
    expect(proxy!.cuts).toBe(4);
    expect(out.result).toMatchObject({ copied: total, failed: 0 });
    expect(maildirProblems(dest, keep)).toEqual([]);
  });

  it('with --retries 0 the cut copy exits 6 listing what failed; a rerun completes it exactly', async () => {
    const { keep, total } = expectedByFolder(manifest);
    const box = sandbox('mf-proxy-rerun-');
    const first = await copyVia({ trigger: BODY_FETCH, cutAfterBytes: Math.ceil(largest() * 1.2) }, ['--retries', '0'], box);
    expect(first.out.status, first.r.stderr.slice(-2000)).toBe(6);
    expect(first.out.result.failed).toBeGreaterThan(0);
    expect(first.out.result.failures[0].code).toBe('NETWORK');
    expect(first.out.result.copied).toBeLessThan(total);
    // The same source URL (same proxy, now faultless): the checkpoint belongs to this job.
    const second = await copyVia({}, [], box);
    expect(second.out.status, JSON.stringify(second.out.error ?? second.out.result.failures.slice(0, 3)) + second.r.stderr.slice(-2000)).toBe(0);
    expect(first.out.result.copied + second.out.result.copied).toBe(total);
    expect(maildirProblems(second.dest, keep)).toEqual([]);
  });

  it('a reader that stalls mid-FETCH is timed out (--timeout 2) and the batch resumes on a new connection', async () => {
    const { keep, total } = expectedByFolder(manifest);
    const { r, out, dest, seconds } = await copyVia({ trigger: BODY_FETCH, stallAfterBytes: 20 * 1024, stallCount: 2 }, ['--timeout', '2']);
    expect(out.status, r.stderr.slice(-2000)).toBe(0);
    expect(proxy!.stalls).toBe(2);
    expect(out.warnings.filter((w: string) => /sent nothing for 2 s/.test(w)).length, out.warnings.join('\n')).toBe(2);
    expect(out.result.copied).toBe(total);
    expect(maildirProblems(dest, keep)).toEqual([]);
    expect(seconds).toBeLessThan(60);
  });

  it('a slow link (every chunk delayed 20 ms) changes nothing but the time', async () => {
    const { keep, total } = expectedByFolder(manifest);
    const { r, out, dest } = await copyVia({ delayMs: 20 });
    expect(out.status, r.stderr.slice(-2000)).toBe(0);
    expect(out.result.copied).toBe(total);
    expect(maildirProblems(dest, keep)).toEqual([]);
  });

  it('--max-runtime on a slow link: stops in time with exit 8, what it copied is kept, the rerun continues to an exact copy', async () => {
    const { keep, total } = expectedByFolder(manifest);
    const box = sandbox('mf-runtime-');
    const first = await copyVia({ delayMs: 40 }, ['--max-runtime', '2s'], box);
    expect(first.out.status, first.r.stderr.slice(-2000)).toBe(8);
    expect(first.out.result).toMatchObject({ interrupted: true, stoppedBy: 'max-runtime' });
    expect(first.out.warnings.some((w: string) => /--max-runtime 2s reached/.test(w))).toBe(true);
    expect(first.seconds).toBeLessThan(15);
    const copiedFirst = first.out.result.copied as number;
    expect(copiedFirst).toBeLessThan(total);
    const rest = await copyVia({}, ['--max-runtime', '10m'], box);
    expect(rest.out.status, rest.r.stderr.slice(-2000)).toBe(0);
    expect(rest.out.result.copied).toBe(total - copiedFirst);
    expect(maildirProblems(rest.dest, keep)).toEqual([]);
  });

  it('SIGTERM while verify, folders or a dry run reads a slow server: exit 130 at once, with one JSON document', async () => {
    proxy ??= await FaultProxy.start({ host: h.host, port: h.ports.imap }, { delayMs: 100 });
    proxy.opts = { delayMs: 100 };
    const url = `imap://${user}@${h.host}:${proxy.port}`;
    const box = sandbox('mf-sig-');
    for (const args of [
      ['verify', url, `maildir:${box}`],
      ['folders', url],
      ['copy', url, `maildir:${join(box, 'dry')}`, '--dry-run', '--checkpoint', join(box, 'cp')],
    ]) {
      const started = Date.now();
      let signalled = 0;
      const r = await runCli([...args, '--source-tls', 'none', '--json'], {
        env: { MAILFERRY_SOURCE_PASSWORD: 'pass' },
        // Once it is talking to the server (each chunk takes 100 ms there).
        onSpawn: (c) => {
          const t = setInterval(() => {
            if (proxy!.connections > 0) {
              clearInterval(t);
              signalled = Date.now();
              c.kill('SIGTERM');
            }
          }, 5);
          c.on('exit', () => clearInterval(t));
        },
      });
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(130);
      expect(envelope(r), args[0]).toMatchObject({ status: 130, error: { code: 'INTERRUPTED' } });
      expect(Date.now() - signalled, args[0]).toBeLessThan(2000);
      expect(signalled).toBeGreaterThan(started);
      proxy.connections = 0;
    }
  });

  it('--max-message-size: larger messages are not fetched, each is reported with the reason (exit 6)', async () => {
    const { keep } = expectedByFolder(manifest);
    const limit = 4096;
    const big = [...keep.values()].flat().filter((e) => e.bytes.length + e.bytes.filter((b) => b === 0x0a).length > limit + 200);
    const { r, out, dest } = await copyVia(null, ['--max-message-size', '4K', '--folder', 'Archive/*']);
    expect(out.status, r.stderr.slice(-2000)).toBe(6);
    const failed = out.result.failures as Array<{ code: string; error: string }>;
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.length).toBeLessThanOrEqual(big.filter((e) => e.folder === 'Archive/2002').length);
    for (const f of failed) {
      expect(f.code).toBe('MESSAGE_TOO_LARGE');
      expect(f.error).toMatch(/the limit is 4096 \(--max-message-size\); not copied/);
    }
    expect(out.result.copied + failed.length).toBe(keep.get('Archive/2002')!.length);
    void dest;
  });
});

describe('the link cut inside the STARTTLS handshake (after the server said "Begin TLS negotiation now")', () => {
  it('is a network failure (exit 5, rerun), not a server without STARTTLS (exit 4, whose hint is to send the password in clear); the rerun copies', async () => {
    // Every connection is cut 60 bytes after its STARTTLS, so within the server's TLS hello.
    proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { trigger: /^\S+ STARTTLS/i, direction: 'down', cutAfterBytes: 60 });
    const box = sandbox('mf-starttls-cut-');
    const args = ['copy', `imap://${user}@${h.host}:${proxy.port}/Fixtures`, `maildir:${join(box, 'dest')}`, '--tls-ca', h.certPem, '--checkpoint', join(box, 'cp'), '--json'];
    const r = await runCli(args, { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } });
    const out = envelope(r);
    expect(proxy.cuts).toBeGreaterThan(0);
    expect(out.status, JSON.stringify(out.error)).toBe(5);
    expect(out.error?.code).toBe('NETWORK');
    expect(JSON.stringify(out.error)).not.toMatch(/does not offer STARTTLS|in clear/);
    // Through the server itself, the same copy works.
    const direct = envelope(await runCli(args.map((a) => a.replace(`:${proxy!.port}/`, `:${h.ports.imap}/`)), { env: { MAILFERRY_SOURCE_PASSWORD: 'pass' } }));
    expect(direct.status, JSON.stringify(direct.error)).toBe(0);
  });
});
