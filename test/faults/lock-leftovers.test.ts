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
      const again = await runCli(args, { env, timeoutMs: 100_000 });
      const secs = (Date.now() - t0) / 1000;
      expect(again.signal, `${call}: the rerun was still waiting after ${secs} s: ${again.stderr}`).toBeNull();
      expect(envelope(again).status, again.stderr).toBe(0);
      // Waiting the lock out took 119 s; a run on a loaded machine, a few.
      expect(secs, call).toBeLessThan(60);
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
    // A Dovecot of this host (this test's process: alive) holds it, and lets go once the run has
    // said it waits (at the latest after 30 s, when the test fails for want of the notice).
    writeFileSync(lock, `${process.pid}:${hostname()}`);
    const letGo = () => rmSync(lock, { force: true });
    const timer = setTimeout(letGo, 30_000);
    let heard = 0;
    const r = await runCli(copyArgs(dest, join(work, 'held.journal'), false), {
      env,
      timeoutMs: 60_000,
      onSpawn: (child) =>
        child.stderr!.on('data', (d: Buffer) => {
          if (String(d).includes('dovecot-uidlist.lock') && heard++ === 0) setTimeout(letGo, 1000);
        }),
    });
    clearTimeout(timer);
    expect(r.code, r.stderr).toBe(0);
    const notices = r.stderr.split('\n').filter((l) => l.includes('dovecot-uidlist.lock'));
    expect(notices, r.stderr).toHaveLength(1);
    expect(notices[0]).toMatch(new RegExp(`^mailferry: warn(ing)?: .*held by process ${process.pid} on ${hostname()}.*wait`));
    expect(readdirSync(join(dest, 'cur'))).toHaveLength(MESSAGES);
    expect(existsSync(lock)).toBe(false);
  });
});

describe('what a run killed while making a lock or compacting the checkpoint leaves', { timeout: 240_000 }, () => {
  /** Files of `dir` whose names match `re` (none when the directory is not there). */
  const matching = (dir: string, re: RegExp) => (existsSync(dir) ? readdirSync(dir).filter((n) => re.test(n)) : []);

  it('the copy of the checkpoint a compaction was writing is removed by the next run; files of a live process and other names stay', async () => {
    const dest = join(work, 'compact');
    const cp = join(work, 'compact.journal');
    const args = copyArgs(dest, cp);
    const first = envelope(await runCli(args, { env }));
    expect(first.status).toBe(0);
    // History the state does not need (a key forgotten that was never done): the next open compacts.
    appendFileSync(cp, '{"t":"f","s":"INBOX","k":"0"}\n'.repeat(12_000));
    const leftover = /^\.compact\.journal\.\d+\.[0-9a-f]{12}\.tmp$/;
    const live = `.compact.journal.${process.pid}.0123456789ab.tmp`;
    const other = '.compact.journal.999999999.tmp';
    writeFileSync(join(work, live), 'a live process is writing this\n');
    writeFileSync(join(work, other), 'not a name mailferry makes\n');

    // The first rename of a run with nothing new to copy is the compaction's (strace's -P does not
    // see a rename by its second path).
    const killed = await runCli(args, { env, wrap: killAt('rename', 1) });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(matching(work, leftover).filter((n) => n !== live)).toHaveLength(1);

    const again = await runCli(args, { env });
    expect(envelope(again).status, again.stderr).toBe(0);
    expect(matching(work, leftover)).toEqual([live]);
    expect(existsSync(join(work, other))).toBe(true);
    // Compacted: the history is gone.
    expect(readFileSync(cp, 'utf8').split('\n').length).toBeLessThan(100);
  });

  it("the files locks are made from (checkpoint's, destination's, the Maildir's own) are removed by the next run; files of a live process or another host stay", async () => {
    const dest = join(work, 'locks');
    const cp = join(work, 'locks.journal');
    const state = join(work, 'locks-state');
    const args = copyArgs(dest, cp);
    const envs = { ...env, XDG_STATE_HOME: state };
    const places = [
      { dir: work, re: /^locks\.journal\.lock\.\d+\.[0-9a-f]{8}$/ },
      { dir: join(state, 'mailferry', 'locks'), re: /^[0-9a-f]{16}\.lock\.\d+\.[0-9a-f]{8}$/ },
      { dir: join(dest, 'tmp'), re: /^mailferry\.lock\.\d+\.[0-9a-f]{8}$/ },
    ];
    // Not leftovers: being written by a live process; written by a process of another host; not a name of ours.
    const keep = [
      [`locks.journal.lock.${process.pid}.0123abcd`, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() })],
      ['locks.journal.lock.999999999.0123abcd', JSON.stringify({ pid: 999999999, host: 'elsewhere', started: new Date().toISOString() })],
      ['locks.journal.lock.999999999.mine', JSON.stringify({ pid: 999999999, host: hostname(), started: new Date().toISOString() })],
    ];
    for (const [name, text] of keep) writeFileSync(join(work, name!), text!);

    // Killed as each of the three locks was to be put in place. First at the second link of a run
    // that finds no lock (the checkpoint's is made, the destination's is not): that leaves the
    // name of the destination's lock (a digest of its key) for -P; the others by their own names.
    const kill = async (wrap: string[], place: number) => {
      const r = await runCli(args, { env: envs, wrap });
      expect(r.signal, `${place}: ${r.stderr}`).toBe('SIGKILL');
      expect(matching(places[place]!.dir, places[place]!.re).length, `lock ${place}`).toBeGreaterThan(0);
    };
    await kill(killAt('link', 2), 1);
    const destLock = join(places[1]!.dir, matching(places[1]!.dir, places[1]!.re)[0]!.replace(/\.\d+\.[0-9a-f]{8}$/, ''));
    await kill(killAt('link', 1, `${cp}.lock`), 0);
    await kill(killAt('link', 1, destLock), 1);
    await kill(killAt('link', 1, join(dest, 'tmp', 'mailferry.lock')), 2);
    const left = () => places.flatMap((p) => matching(p.dir, p.re));

    const again = await runCli(args, { env: envs });
    expect(envelope(again).status, again.stderr).toBe(0);
    expect(left().sort()).toEqual(keep.map(([k]) => k!).filter((k) => places[0]!.re.test(k)).sort());
    for (const [name] of keep) expect(existsSync(join(work, name!)), name).toBe(true);
  });
});
