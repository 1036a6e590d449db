// --source-password-command that never answers: stopped at its time limit together with what it
// started (a grandchild holding the output pipe open once kept the run waiting for good).
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runPasswordCommand } from '../../src/cli/password-command.js';

const running = (marker: string) => execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(marker) && !l.includes('ps -eo')).length;

describe('a password command that never answers', () => {
  it('is stopped at its time limit with its grandchildren, and says so', async () => {
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.123`;
    const t0 = Date.now();
    // sh runs sleep as its child: killing sh alone left sleep holding stdout open.
    await expect(runPasswordCommand('source', `sleep ${marker}; echo never`, 400)).rejects.toMatchObject({
      code: 'MISSING_SECRET',
      message: '--source-password-command gave no answer within 0.4 s and was stopped',
    });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(running(`sleep ${marker}`)).toBe(0);
  });

  it('a command that answers in time gives its one line', async () => {
    await expect(runPasswordCommand('dest', 'sleep 0.1; printf "s3cret\\n"', 5000)).resolves.toBe('s3cret');
  });

  it("the command's environment holds neither password variable", async () => {
    process.env.MAILFERRY_DEST_PASSWORD = 'dest-secret';
    process.env.MAILFERRY_SOURCE_PASSWORD = 'src-secret';
    try {
      await expect(runPasswordCommand('source', 'printf "%s|%s|x\\n" "$MAILFERRY_DEST_PASSWORD" "$MAILFERRY_SOURCE_PASSWORD"', 5000)).resolves.toBe('||x');
    } finally {
      delete process.env.MAILFERRY_DEST_PASSWORD;
      delete process.env.MAILFERRY_SOURCE_PASSWORD;
    }
  });

  it('a command that answered and exited, leaving behind a process that holds its output open (an agent it started), is taken at its word', async () => {
    const marker = `${1000 + Math.floor(Math.random() * 8000)}.321`;
    const t0 = Date.now();
    try {
      await expect(runPasswordCommand('source', `printf "s3cret\\n"; (sleep ${marker} &)`, 20_000)).resolves.toBe('s3cret');
      expect(Date.now() - t0).toBeLessThan(10_000);
      // Left running: it is the command's (gpg-agent, say), not a stuck part of it.
      expect(running(`sleep ${marker}`)).toBe(1);
    } finally {
      execFileSync('pkill', ['-f', `sleep ${marker}`]);
    }
  });

  it('a command killed at once says so, without guessing at a time limit', async () => {
    await expect(runPasswordCommand('source', 'kill -9 $$', 60_000)).rejects.toMatchObject({ message: '--source-password-command was killed by SIGKILL' });
  });
});
