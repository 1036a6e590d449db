// Exactly once under kill -9: the real CLI is SIGKILLed at 20+ points across a copy of the corpus
// (after the N-th stored message through MAILFERRY_CRASH_AFTER, and at wall-clock instants), then
// rerun to completion; the destination must hold every message exactly once, byte-exact.
import { cpSync, mkdtempSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { expectedByFolder, maildirProblems } from '../harness/expected.js';
import { CORPUS_GROUPS, seedCorpus } from '../harness/corpus.js';
import { seedFixtures } from '../harness/fixtures.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password };
const src = `imap://${h.user.name}@${h.host}:${h.ports.imap}`;
const tls = ['--tls-ca', h.certPem];

describe('kill -9 sweep: IMAP → Maildir', { timeout: 300_000 }, () => {
  it('SIGKILL at 20 points, rerun: every message exactly once, byte-exact; then a rerun copies 0', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-sweep-'));
    const dest = join(work, 'Maildir');
    const args = ['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp.journal'), '--json'];
    const { keep, total } = expectedByFolder(h.manifest());
    let kills = 0;
    // Kills at wall-clock instants: during start-up, listing, scanning, fetching and storing.
    for (const ms of [40, 90, 140, 200, 260, 330, 400, 480]) {
      const r = await runCli(args, { env, onSpawn: (c) => setTimeout(() => c.kill('SIGKILL'), ms) });
      if (r.signal === 'SIGKILL') kills++;
      else expect(r.code, r.stderr).toBe(0);
    }
    // Kills after the N-th message stored in that run (before its record is durable).
    for (const n of [1, 2, 17, 120, 249, 250, 251, 333, 500, 600, 640, 700]) {
      const r = await runCli(args, { env: { ...env, MAILFERRY_CRASH_AFTER: String(n) } });
      expect(r.signal, r.stderr).toBe('SIGKILL');
      kills++;
    }
    expect(kills).toBeGreaterThanOrEqual(20);
    const done = await runCli(args, { env });
    expect(envelope(done).status, done.stderr).toBe(0);
    expect(maildirProblems(dest, keep)).toEqual([]);
    const again = envelope(await runCli(args, { env }));
    expect(again.status).toBe(0);
    expect(again.result.copied).toBe(0);
    expect(total).toBeGreaterThan(6000);
    // No stray temp files are left where a reader would look, nor in tmp/: what the killed runs
    // left there (created, never renamed) was removed by the runs after them.
    expect(existsSync(join(dest, 'cur'))).toBe(true);
    const tmps = [join(dest, 'tmp'), ...readdirSync(dest).filter((d) => d.startsWith('.')).map((d) => join(dest, d, 'tmp'))];
    expect(tmps.flatMap((t) => readdirSync(t))).toEqual([]);
  });
});

/** The sweep for a direction whose destination is a fresh Dovecot user (IMAP): its Maildir is read back. */
async function sweepToImap(srcUrl: string, manifest: ReturnType<typeof h.manifest>, opts: { loose?: boolean; hookKills: number[]; timedKills: number[] }) {
  const work = mkdtempSync(join(tmpdir(), 'mf-sweep-imap-'));
  const dst = (await h.freshUser('sweepdst')).name;
  const args = ['copy', srcUrl, `imap://${dst}@${h.host}:${h.ports.imap}`, ...tls, '--checkpoint', join(work, 'cp.journal'), '--json'];
  const envs = { MAILFERRY_SOURCE_PASSWORD: 'pass', MAILFERRY_DEST_PASSWORD: 'pass' };
  let kills = 0;
  // Timed kills first (start-up, listing, the first batches), while most of the work is still
  // ahead; then kills after N stored messages, N summing to well under what is left.
  for (const ms of opts.timedKills) {
    const r = await runCli(args, { env: envs, onSpawn: (c) => setTimeout(() => c.kill('SIGKILL'), ms) });
    if (r.signal === 'SIGKILL') kills++;
    else expect(r.code, r.stderr).toBe(0);
  }
  for (const n of opts.hookKills) {
    const r = await runCli(args, { env: { ...envs, MAILFERRY_CRASH_AFTER: String(n) } });
    expect(r.signal, r.stdout + r.stderr).toBe('SIGKILL');
    kills++;
  }
  expect(kills).toBeGreaterThanOrEqual(20);
  const done = await runCli(args, { env: envs });
  expect(envelope(done).status, done.stderr).toBe(0);
  const { keep } = expectedByFolder(manifest);
  expect(maildirProblems(h.maildirOf(dst), keep, { loose: opts.loose })).toEqual([]);
  const again = envelope(await runCli(args, { env: envs }));
  expect(again.status).toBe(0);
  expect(again.result.copied).toBe(0);
}

describe('kill -9 sweep: IMAP, Maildir and POP3 → IMAP', { timeout: 300_000 }, () => {
  it('IMAP → IMAP: SIGKILL at 20 points, rerun: every message exactly once', async () => {
    await sweepToImap(`imap://${h.user.name}@${h.host}:${h.ports.imap}`, h.manifest(), {
      loose: true,
      hookKills: [1, 3, 40, 100, 150, 200, 249, 250, 251, 300, 333, 400],
      timedKills: [40, 90, 140, 200, 260, 330, 400, 480],
    });
  });

  it('Maildir → IMAP (a restore): SIGKILL at 20 points, rerun: every message exactly once', async () => {
    // A private copy of the seeded user's Maildir as Dovecot wrote it: the source reads many
    // files at once, and no other test's session can rename one under it.
    const copy = join(mkdtempSync(join(tmpdir(), 'mf-sweep-md-')), 'Maildir');
    cpSync(h.maildirOf(h.user.name), copy, { recursive: true });
    await sweepToImap(`maildir:${copy}`, h.manifest(), {
      loose: true,
      hookKills: [1, 3, 40, 100, 150, 200, 249, 250, 251, 300, 333, 400],
      timedKills: [40, 90, 140, 200, 260, 330, 400, 480],
    });
  });

  it('POP3 → IMAP: SIGKILL at 20 points, rerun: every message exactly once in INBOX', async () => {
    const src = (await h.freshUser('sweeppop')).name;
    const layout = Object.fromEntries(CORPUS_GROUPS.map((g) => [g, 'INBOX'])) as Record<(typeof CORPUS_GROUPS)[number], string>;
    const manifest = [...(await seedCorpus(h, src, { layout, limitPerGroup: 600 })), ...(await seedFixtures(h, src, 'INBOX'))];
    await sweepToImap(`pop3://${src}@${h.host}:${h.ports.pop3}`, manifest, {
      loose: true,
      hookKills: [1, 2, 10, 30, 45, 60, 90, 100, 101, 150, 199, 200],
      timedKills: [40, 90, 140, 200, 260, 330, 400, 480],
    });
  });
});

describe('interruption and locking', () => {
  it('SIGINT stops cleanly with exit 130, flushes the checkpoint, and the rerun finishes the job', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-int-'));
    const dest = join(work, 'Maildir');
    const args = ['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'cp.journal'), '--json'];
    const r = await runCli(args, {
      env,
      onSpawn: (c) => {
        // Interrupt once messages are landing.
        const t = setInterval(() => {
          const any = existsSync(dest) && readdirSync(dest).some((d) => d.startsWith('.') && existsSync(join(dest, d, 'cur')) && readdirSync(join(dest, d, 'cur')).length > 50);
          if (any) {
            clearInterval(t);
            c.kill('SIGINT');
          }
        }, 5);
        c.on('exit', () => clearInterval(t));
      },
    });
    const out = envelope(r);
    expect(out.status).toBe(130);
    expect(out.result.interrupted).toBe(true);
    const copiedBefore = out.result.copied;
    expect(copiedBefore).toBeGreaterThan(0);
    const { keep, total } = expectedByFolder(h.manifest());
    const rest = envelope(await runCli(args, { env }));
    expect(rest.status).toBe(0);
    expect(maildirProblems(dest, keep)).toEqual([]);
    expect(rest.result.copied).toBeLessThanOrEqual(total - copiedBefore);
  });

  it('a second run on the same checkpoint exits 7 naming the holder; a lock of a dead run is taken over', async () => {
    const work = mkdtempSync(join(tmpdir(), 'mf-lock-'));
    const dest = join(work, 'Maildir');
    const cp = join(work, 'cp.journal');
    const args = ['copy', src, `maildir:${dest}`, ...tls, '--checkpoint', cp];
    let firstPid = 0;
    const first = runCli(args, { env, onSpawn: (c) => (firstPid = c.pid ?? 0) });
    for (let i = 0; i < 200 && !existsSync(cp + '.lock'); i++) await new Promise((r) => setTimeout(r, 10));
    const second = await runCli([...args, '--json'], { env });
    const out = envelope(second);
    expect(out.status).toBe(7);
    expect(out.error?.message).toContain(`pid ${firstPid}`);
    expect((await first).code).toBe(0);
    // A run killed with SIGKILL leaves its lock behind; the next run takes it over.
    const args2 = ['copy', src, `maildir:${join(work, 'M2')}`, ...tls, '--checkpoint', cp];
    const killed = await runCli([...args2, '--restart'], { env: { ...env, MAILFERRY_CRASH_AFTER: '5' } });
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(cp + '.lock')).toBe(true);
    const next = await runCli(args2, { env });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/stale lock/);
  });
});
