// Signals as terminals, service managers and `timeout` send them, and a standard error that cannot
// be written: the run stops gracefully (the checkpoint saved, the result said) or goes on.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, envelope, runCli } from '../harness/cli.js';

const work = mkdtempSync(join(tmpdir(), 'mf-signals-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A Maildir of `n` small messages. */
function maildir(name: string, n: number): string {
  const dir = join(work, name);
  for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(dir, 'cur', `170000${String(i).padStart(4, '0')}.M${i}P1.host:2,S`), `Message-ID: <sig-${i}@example.org>\nSubject: ${i}\n\nbody ${i}\n`);
  return dir;
}

/** Once the report names a copied message (the copy is under way): `send` the child. */
const whenCopying = (report: string, send: (kill: (s: NodeJS.Signals) => void) => void) => (c: import('node:child_process').ChildProcess) => {
  const poll = setInterval(() => {
    if (existsSync(report) && readFileSync(report, 'utf8').includes('"copied"')) {
      clearInterval(poll);
      send((s) => c.kill(s));
    }
  }, 10);
  c.on('exit', () => clearInterval(poll));
};

describe('signals during a copy', () => {
  const src = maildir('src', 3000);

  it('SIGTERM sent twice at once (coreutils `timeout` signals the process, then its group) is one graceful stop: the result is said, and a rerun completes it', async () => {
    const dst = join(work, 'twice');
    const report = join(work, 'twice.ndjson');
    const args = ['copy', `maildir:${src}`, `maildir:${dst}`, '--checkpoint', join(work, 'twice.journal'), '-j', '1', '--json'];
    const r = await runCli([...args, '--report', report], { onSpawn: whenCopying(report, (kill) => (kill('SIGTERM'), setTimeout(() => kill('SIGTERM'), 5))) });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(130);
    expect(out.error, JSON.stringify(out.error)).toBeUndefined();
    expect(out.result.interrupted).toBe(true);
    const again = envelope(await runCli(args));
    expect(again.status).toBe(0);
    expect(out.result.copied + again.result.copied).toBe(3000);
  });

  it('SIGHUP (the terminal closed) stops the run gracefully, as SIGTERM does', async () => {
    const dst = join(work, 'hup');
    const report = join(work, 'hup.ndjson');
    const log = join(work, 'hup.log');
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${dst}`, '--checkpoint', join(work, 'hup.journal'), '-j', '1', '--json', '--report', report, '--log-file', log], {
      onSpawn: whenCopying(report, (kill) => kill('SIGHUP')),
    });
    expect(r.signal).toBeNull();
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(130);
    expect(out.result.interrupted).toBe(true);
    expect(readFileSync(log, 'utf8')).toMatch(/SIGHUP: finishing messages in flight[\s\S]*finished: exit 130/);
  });
});

describe('a standard error that cannot be written', () => {
  it('(/dev/full, with --verbose writing to it all along) does not end the run: everything is copied, exit 0', () => {
    const src = maildir('full-src', 200);
    const err = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, 'copy', `maildir:${src}`, `maildir:${join(work, 'full-dst')}`, '--checkpoint', join(work, 'full.journal'), '--verbose', '--json'], {
        stdio: ['ignore', 'pipe', err],
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 0, result: { copied: 200 } });
    } finally {
      closeSync(err);
    }
  });
});
