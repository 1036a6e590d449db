// A run killed (SIGKILL) whose parent has not reaped it yet is a zombie: its pid still answers
// kill(pid, 0), but it holds nothing any more. A script that kills a background copy and runs it
// again before it waits for it (or a parent that never waits) must not find its locks held: the
// rerun takes them over at once, and copies each message once.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, runCli } from '../harness/cli.js';
import { harness } from '../harness/env.js';
import { FaultProxy } from '../harness/fault-proxy.js';

const h = harness();
const work = mkdtempSync(join(tmpdir(), 'mf-zombie-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * A parent that starts the CLI, writes its pid to MF_CHILD_PID_FILE, and never reaps it: bash
 * starts it in the background, then becomes `sleep`, which waits for nothing.
 */
const NO_REAP = ['bash', '-c', '"$@" & echo $! > "$MF_CHILD_PID_FILE"; exec sleep 600', 'no-reap'];

const MESSAGES = 30;
let src: string;
beforeAll(async () => {
  src = (await h.freshUser('zombie')).name;
  for (let i = 0; i < MESSAGES; i++) await h.doveadm(['save', '-u', src, '-m', 'INBOX'], Buffer.from(`Message-ID: <zombie-${i}@test>\r\nSubject: ${i}\r\n\r\nbody ${i}\r\n`));
});

const until = async (what: string, ok: () => boolean, ms = 60_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

const state = (pid: number): string | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
};

describe('a killed run not yet reaped (a zombie)', { timeout: 180_000 }, () => {
  it('holds no lock: the rerun takes the checkpoint and the destination at once, and copies each message once', async () => {
    // Slow enough (each chunk held 30 ms) that the run is killed while it holds its locks.
    const proxy = await FaultProxy.start({ host: h.host, port: h.ports.imap }, { delayMs: 30 });
    const dest = join(work, 'dest');
    const cp = join(work, 'cp.journal');
    const pidFile = join(work, 'pid');
    const env = { MAILFERRY_SOURCE_PASSWORD: 'pass', XDG_STATE_HOME: join(work, 'state') };
    const args = ['copy', `imap://${src}@${h.host}:${proxy.port}`, `maildir:${dest}`, '--source-tls', 'none', '--checkpoint', cp, '--json'];
    let parent: { kill(signal: NodeJS.Signals): boolean } | undefined;
    const first = runCli(args, { env: { ...env, MF_CHILD_PID_FILE: pidFile }, wrap: NO_REAP, onSpawn: (c) => (parent = c) });
    try {
      const locks = join(work, 'state', 'mailferry', 'locks');
      const destLocked = () => existsSync(locks) && readdirSync(locks).some((n) => n.endsWith('.lock'));
      await until('the first run to hold its locks', () => existsSync(`${cp}.lock`) && destLocked() && existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'));
      const pid = Number(readFileSync(pidFile, 'utf8'));
      process.kill(pid, 'SIGKILL');
      await until('the killed run to be a zombie', () => state(pid) === 'Z');
      // Killed holding its locks, and still a process to kill(pid, 0).
      expect(existsSync(`${cp}.lock`)).toBe(true);
      expect(destLocked()).toBe(true);
      expect(() => process.kill(pid, 0)).not.toThrow();

      const again = await runCli(args, { env, timeoutMs: 120_000 });
      expect(envelope(again).status, again.stderr).toBe(0);
      expect(state(pid)).toBe('Z');
      const files = readdirSync(join(dest, 'cur'));
      expect(files).toHaveLength(MESSAGES);
    } finally {
      parent?.kill('SIGKILL');
      await first;
      await proxy.stop();
    }
  });
});
