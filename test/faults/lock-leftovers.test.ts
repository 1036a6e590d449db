// Runs killed while they make a lock or a checkpoint (SIGKILL injected by strace at the system
// call, through the real CLI): the next run neither waits on what they left nor lets it pile up.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeywords } from '../../src/drivers/maildir/flags.js';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
const work = mkdtempSync(join(tmpdir(), 'mf-lockleft-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** strace killing the CLI (SIGKILL, on entry: the call is not made) at the `when`-th `call` (touching `path`, if given). */
const killAt = (call: string, when: number, path?: string) => [
  'strace', '-f', '-qq', '-o', '/dev/null', ...(path ? ['-P', path] : []), '-e', `trace=${call}`, '-e', `inject=${call}:signal=SIGKILL:when=${when}`,
];

let src: string;
const MESSAGES = 3;
beforeAll(async () => {
  src = (await h.freshUser('lockleft')).name;
  for (let i = 0; i < MESSAGES; i++) {
    const mid = `<lockleft-${i}@test>`;
    await h.doveadm(['save', '-u', src, '-m', 'INBOX'], Buffer.from(`Message-ID: ${mid}\r\nSubject: kw ${i}\r\n\r\nbody ${i}\r\n`));
    // Keywords: the Maildir sink writes its dovecot-keywords under Dovecot's uidlist lock.
    await h.doveadm(['flags', 'add', '-u', src, `$Forwarded Label${i}`, 'mailbox', 'INBOX', 'header', 'Message-ID', mid]);
  }
});

function copyArgs(dest: string, cp: string, json = true): string[] {
  return ['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', cp, ...(json ? ['--json'] : [])];
}

describe("Dovecot's uidlist lock (dovecot-uidlist.lock)", { timeout: 240_000 }, () => {
  it('a run killed while it takes the lock: the rerun takes it at once (no 2-minute wait) and leaves nothing behind', async () => {
    let kills = 0;
    // Killed as it writes the lock's content, and as it puts the lock in place.
    for (const call of ['write', 'link']) {
      const dest = join(work, `killed-${call}`);
      const lock = join(dest, 'dovecot-uidlist.lock');
      const args = copyArgs(dest, join(work, `killed-${call}.journal`));
      const first = await runCli(args, { env, wrap: killAt(call, 1, lock) });
      if (first.signal === 'SIGKILL') kills++;
      else expect(envelope(first).status, first.stderr).toBe(0);
      if (first.signal === 'SIGKILL' && call === 'link') {
        // Killed before the lock was in place: what it was to be is left in tmp/, for the rerun to remove.
        const left = readdirSync(join(dest, 'tmp')).map((n) => readFileSync(join(dest, 'tmp', n), 'latin1'));
        expect(left).toContainEqual(expect.stringMatching(new RegExp(`^\\d+:${hostname()}$`)));
      }

      const t0 = Date.now();
      const again = await runCli(args, { env, timeoutMs: 40_000 });
      const secs = (Date.now() - t0) / 1000;
      expect(again.signal, `${call}: the rerun was still waiting after ${secs} s: ${again.stderr}`).toBeNull();
      expect(envelope(again).status, again.stderr).toBe(0);
      expect(secs, call).toBeLessThan(20);
      expect(existsSync(lock), call).toBe(false);
      expect(readdirSync(join(dest, 'cur')), call).toHaveLength(MESSAGES);
      expect(readdirSync(join(dest, 'tmp')), call).toEqual([]);
      const table = parseKeywords(readFileSync(join(dest, 'dovecot-keywords'), 'utf8'));
      expect(table.filter(Boolean).sort(), call).toEqual(['$Forwarded', 'Label0', 'Label1', 'Label2']);
    }
    expect(kills).toBeGreaterThan(0);
  });

  it('a lock a live process holds: the run says once on stderr that it waits, and goes on when it is let go', async () => {
    const dest = join(work, 'held');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(dest, d), { recursive: true });
    const lock = join(dest, 'dovecot-uidlist.lock');
    // A Dovecot of this host (this test's process: alive) holds it for 5 s.
    writeFileSync(lock, `${process.pid}:${hostname()}`);
    const letGo = setTimeout(() => rmSync(lock, { force: true }), 5000);
    const t0 = Date.now();
    const r = await runCli(copyArgs(dest, join(work, 'held.journal'), false), { env, timeoutMs: 60_000 });
    clearTimeout(letGo);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5000);
    const notices = r.stderr.split('\n').filter((l) => l.includes('dovecot-uidlist.lock'));
    expect(notices, r.stderr).toHaveLength(1);
    expect(notices[0]).toMatch(new RegExp(`^mailferry: warn(ing)?: .*held by process ${process.pid} on ${hostname()}.*wait`));
    expect(readdirSync(join(dest, 'cur'))).toHaveLength(MESSAGES);
    expect(existsSync(lock)).toBe(false);
  });
});
