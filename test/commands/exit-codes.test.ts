// Each exit code of the table, produced by a real situation through the real CLI (130 — interrupted —
// is produced by SIGINT in test/faults/kill-sweep.test.ts, 8 — --max-runtime — on a slow link in
// test/faults/proxy-dovecot.test.ts). And help for every command, with examples.
import { existsSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { destinationLockPath } from '../../src/checkpoint/path.js';
import { destinationKey, destinationLockKey, parseEndpoint } from '../../src/engine/endpoint.js';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/errors.js';
import { envelope, runCli } from '../harness/cli.js';
import { h, srcUrl, tls } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-exit-'));
const env = { MAILFERRY_SOURCE_PASSWORD: h.user.password, XDG_STATE_HOME: join(work, 'state'), NODE_ENV: 'production' };
const copyFx = (dest: string, ...more: string[]) => ['copy', srcUrl(), `maildir:${join(work, dest)}`, ...tls, '--folder', 'Fixtures', '--json', ...more];

describe('exit codes from real situations', () => {
  const table: Array<[number, string, string[], Record<string, string | undefined>?]> = [
    [EXIT.ok, 'a good copy', copyFx('ok', '--checkpoint', join(work, 'ok.j'))],
    [EXIT.usage, 'a flag value out of range', copyFx('u', '--concurrency=0')],
    [EXIT.config, 'no password anywhere', copyFx('c'), { MAILFERRY_SOURCE_PASSWORD: undefined }],
    [EXIT.auth, 'a wrong password', copyFx('a'), { MAILFERRY_SOURCE_PASSWORD: 'wrong' }],
    [EXIT.network, 'nothing listening on the port', ['copy', `imap://x@${h.host}:1`, `maildir:${join(work, 'n')}`, '--json']],
    [EXIT.partial, 'messages over --max-message-size', copyFx('p', '--max-message-size', '1K', '--checkpoint', join(work, 'p.j'))],
    // A limit smaller than the listing's own answers (a Message-ID header) still fails message by message.
    [EXIT.partial, 'every message over a one-byte --max-message-size', copyFx('p1', '--max-message-size', '1', '--checkpoint', join(work, 'p1.j'))],
  ];
  for (const [code, what, args, extra] of table) {
    it(`${code}: ${what}`, async () => {
      const r = await runCli(args, { env: { ...env, ...extra } });
      const out = envelope(r);
      expect(r.code, r.stderr).toBe(code);
      expect(out.status).toBe(code);
      if (code === EXIT.partial) expect(out.result.failures[0]).toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
      else if (code !== EXIT.ok) expect(out.error?.code).toBeTruthy();
    });
  }

  it('7: the checkpoint is held by a running copy, whose --report the refused run leaves as it is', async () => {
    const cp = join(work, 'locked.j');
    writeFileSync(cp + '.lock', JSON.stringify({ pid: 1, host: hostname(), started: 'now' }) + '\n');
    // The running copy's report, being written (the cron job's next run names the same file).
    const report = join(work, 'locked.ndjson');
    const lines = '{"outcome":"copied","key":"1"}\n{"outcome":"copied","key":"2"}\n';
    writeFileSync(report, lines, { mode: 0o600 });
    const r = await runCli(copyFx('l', '--checkpoint', cp, '--report', report), { env });
    expect(r.code).toBe(EXIT.locked);
    expect(envelope(r).error?.code).toBe('CHECKPOINT_LOCKED');
    expect(readFileSync(report, 'utf8')).toBe(lines);
  });

  it('7 without a word with --skip-if-locked (cron: no mail for an overlap), recorded in --log-file', async () => {
    const cp = join(work, 'locked2.j');
    const log = join(work, 'locked2.log');
    writeFileSync(cp + '.lock', JSON.stringify({ pid: 1, host: hostname(), started: 'now' }) + '\n');
    const args = ['copy', srcUrl(), `maildir:${join(work, 'l2')}`, ...tls, '--folder', 'Fixtures', '--checkpoint', cp, '--quiet'];
    const loud = await runCli(args, { env });
    expect(loud.code).toBe(EXIT.locked);
    expect(loud.stderr.trim().split('\n')).toHaveLength(1);
    const r = await runCli([...args, '--skip-if-locked', '--log-file', log], { env });
    expect(r.code).toBe(EXIT.locked);
    expect(r.stdout + r.stderr).toBe('');
    expect(readFileSync(log, 'utf8')).toMatch(/"msg":"run failed: another mailferry run \(pid 1 on [^"]*","code":"CHECKPOINT_LOCKED","exit":7/);
    // still one JSON document for a script
    const j = await runCli([...args, '--skip-if-locked', '--json'], { env });
    expect(envelope(j).error?.code).toBe('CHECKPOINT_LOCKED');
    // an unreadable checkpoint is not an overlap: it is still said
    writeFileSync(cp + '.lock', JSON.stringify({ pid: 999999999, host: hostname(), started: 'now' }) + '\n');
    writeFileSync(cp, '{"t":"mailferry-checkpoint","v":999}\n');
    const bad = await runCli([...args, '--skip-if-locked'], { env });
    expect(bad.code).toBe(EXIT.locked);
    expect(bad.stderr).toMatch(/^mailferry: error: checkpoint .* is unreadable: version 999/);
    // a file that never was a checkpoint (a mistyped path) is a configuration error, also said
    writeFileSync(cp, 'not a checkpoint\n');
    const notOurs = await runCli([...args, '--skip-if-locked'], { env });
    expect(notOurs.code).toBe(EXIT.config);
    expect(notOurs.stderr).toMatch(/^mailferry: error: .* is not a mailferry checkpoint \(check the checkpoint path; the file was not changed\)/);
    expect(readFileSync(cp, 'utf8')).toBe('not a checkpoint\n');
  });

  it('7: another run copies into the same destination under another checkpoint (or another spelling of it)', async () => {
    const dest = join(work, 'shared-dest');
    // the lock the other run holds: pid 1 is alive
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = env.XDG_STATE_HOME;
    const lock = destinationLockPath(destinationKey({ kind: 'maildir', scheme: 'maildir', path: dest })) + '.lock';
    process.env.XDG_STATE_HOME = saved;
    writeFileSync(lock, JSON.stringify({ pid: 1, host: hostname(), started: 'then' }) + '\n');
    try {
      const r = await runCli(['copy', srcUrl(), `maildir:${dest}/`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'another.j'), '--json'], { env });
      expect(r.code).toBe(EXIT.locked);
      expect(envelope(r).error?.message).toMatch(new RegExp(`another mailferry run \\(pid 1 on .*\\) is copying into maildir:${dest}$`));
      expect(existsSync(dest)).toBe(false);
    } finally {
      unlinkSync(lock);
    }
    const ok = await runCli(['copy', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'another.j'), '--json'], { env });
    expect(envelope(ok).status).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });

  it('7: a Maildir another run is copying into under another state directory (cron\'s HOME, an admin\'s sudo): the lock in the Maildir itself', async () => {
    const dest = join(work, 'other-state-dest');
    const first = await runCli(['copy', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'os1.j'), '--json'], { env });
    expect(envelope(first).status).toBe(0);
    expect(existsSync(join(dest, 'tmp', 'mailferry.lock'))).toBe(false);
    // The other run, with its own XDG_STATE_HOME, holds the Maildir's own lock: pid 1 is alive.
    writeFileSync(join(dest, 'tmp', 'mailferry.lock'), JSON.stringify({ pid: 1, host: hostname(), started: 'then' }) + '\n');
    try {
      const r = await runCli(['copy', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'os2.j'), '--json'], { env: { ...env, XDG_STATE_HOME: join(work, 'other-state') } });
      expect(r.code, r.stdout).toBe(EXIT.locked);
      expect(envelope(r).error?.message).toMatch(/another mailferry run \(pid 1 on .*\) is copying into maildir:/);
    } finally {
      unlinkSync(join(dest, 'tmp', 'mailferry.lock'));
    }
  });

  it('7: the same destination spelled through a symbolic link (before it exists), or an IMAP host by another name', async () => {
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = env.XDG_STATE_HOME;
    const real = mkdtempSync(join(work, 'real-'));
    symlinkSync(real, join(work, 'alias'));
    const locks = [
      destinationLockPath(await destinationLockKey(parseEndpoint(`maildir:${join(real, 'backup')}`, 'dest'))) + '.lock',
      destinationLockPath(await destinationLockKey(parseEndpoint(`imap://${h.user.name}@localhost:${h.ports.imap}/Prefix`, 'dest'))) + '.lock',
      destinationLockPath(await destinationLockKey(parseEndpoint(`imap://${h.user.name}@localhost:${h.ports.imap}`, 'dest'))) + '.lock',
    ];
    process.env.XDG_STATE_HOME = saved;
    for (const lock of locks) writeFileSync(lock, JSON.stringify({ pid: 1, host: hostname(), started: 'then' }) + '\n');
    try {
      const viaLink = await runCli(['copy', srcUrl(), `maildir:${join(work, 'alias', 'backup')}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'alias.j'), '--json'], { env });
      expect(viaLink.code, viaLink.stderr + viaLink.stdout).toBe(EXIT.locked);
      const byAddress = await runCli(['copy', srcUrl(), `imap://${h.user.name}@127.0.0.1:${h.ports.imap}/Prefix`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'addr.j'), '--json'], {
        env: { ...env, MAILFERRY_DEST_PASSWORD: h.user.password },
      });
      expect(byAddress.code, byAddress.stderr + byAddress.stdout).toBe(EXIT.locked);
      // The account's INBOX as the prefix: the same INBOX a run without one writes (a POP3
      // source's mail goes there either way): two such runs at once had both copied everything.
      const intoInbox = await runCli(['copy', srcUrl(), `imap://${h.user.name}@127.0.0.1:${h.ports.imap}/inbox`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'inbox.j'), '--json'], {
        env: { ...env, MAILFERRY_DEST_PASSWORD: h.user.password },
      });
      expect(intoInbox.code, intoInbox.stderr + intoInbox.stdout).toBe(EXIT.locked);
    } finally {
      for (const lock of locks) unlinkSync(lock);
    }
  });

  it("7's key: an IMAP account's standard ports 143 and 993 are one destination, other ports another", async () => {
    const key = async (url: string) => destinationLockKey(parseEndpoint(url, 'dest'));
    const plain = await key('imap://alice@127.0.0.1/Backup');
    expect(await key('imaps://alice@127.0.0.1/Backup')).toBe(plain);
    expect(await key('imap://Alice@localhost:993/Backup')).toBe(plain);
    // The loopback and an IPv4 address spelled as IPv6 are the same server: two runs into one
    // account, one through [::1] and one through localhost, had both copied everything.
    expect(await key('imap://alice@[::1]/Backup')).toBe(plain);
    expect(await key('imap://alice@[::ffff:127.0.0.1]/Backup')).toBe(plain);
    expect(await key('imap://alice@[::FFFF:7f00:1]/Backup')).toBe(plain);
    expect(await key('imap://alice@127.0.0.1:1143/Backup')).not.toBe(plain);
    expect(await key('imap://alice@127.0.0.1/Other')).not.toBe(plain);
    // INBOX in any case is one folder: two runs into /inbox/x and /INBOX/x stored everything twice.
    expect(await key('imap://alice@127.0.0.1/inbox/Backup')).toBe(await key('imap://alice@127.0.0.1/INBOX/Backup'));
    expect(await key('imap://alice@127.0.0.1/Inbox')).toBe(await key('imap://alice@127.0.0.1/INBOX'));
    expect(await key('imap://alice@127.0.0.1/INBOX')).toBe(await key('imap://alice@127.0.0.1'));
    expect(await key('imap://alice@127.0.0.1/Backup/inbox')).not.toBe(await key('imap://alice@127.0.0.1/Backup/INBOX'));
  });

  it('3: a folder that does not exist creates nothing: no destination, no checkpoint', async () => {
    const dest = join(work, 'never');
    const r = await runCli(['copy', srcUrl('NoSuchFolder'), `maildir:${dest}`, ...tls, '--checkpoint', join(work, 'never.j'), '--json'], { env });
    expect(r.code).toBe(EXIT.config);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(join(work, 'never.j'))).toBe(false);
  });

  it('--restart checks every message against the destination again (one deleted by hand comes back)', async () => {
    const dest = join(work, 'restart');
    const args = ['copy', srcUrl(), `maildir:${dest}`, ...tls, '--folder', 'Fixtures', '--checkpoint', join(work, 'restart.j'), '--json'];
    const first = envelope(await runCli(args, { env }));
    expect(first.status).toBe(0);
    const cur = join(dest, '.Fixtures', 'cur');
    unlinkSync(join(cur, readdirSync(cur)[0]!));
    expect(envelope(await runCli(args, { env })).result.copied).toBe(0);
    const again = envelope(await runCli([...args, '--restart'], { env }));
    expect(again.result.copied).toBe(1);
    expect(readdirSync(cur)).toHaveLength(first.result.copied);
  });

  it('6: verify when something is missing; 0 when not', async () => {
    const ok = await runCli(['verify', srcUrl(), `maildir:${join(work, 'ok')}`, ...tls, '--folder', 'Fixtures'], { env });
    expect(ok.code, ok.stderr).toBe(EXIT.ok);
    const missing = await runCli(['verify', srcUrl(), `maildir:${join(work, 'p')}`, ...tls, '--folder', 'Fixtures'], { env });
    expect(missing.code, missing.stderr).toBe(EXIT.partial);
  });
});

describe('help', () => {
  for (const id of ['copy', 'verify', 'folders', 'checkpoint show', 'checkpoint reset']) {
    it(`mailferry ${id} --help has a description and real examples`, async () => {
      const r = await runCli([...id.split(' '), '--help'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('DESCRIPTION');
      expect(r.stdout).toContain('EXAMPLES');
      expect(r.stdout).toContain(`$ mailferry ${id} `);
    });
  }
});
