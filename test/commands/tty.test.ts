// The terminal side, through a real pseudo-terminal (util-linux `script`): progress bars only on a
// TTY, plain lines elsewhere, none with --json or --quiet; the no-echo password prompt.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, runCli } from '../harness/cli.js';
import { h, seeded, srcUrl, tls } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-tty-'));
const env = { ...process.env, MAILFERRY_SOURCE_PASSWORD: h.user.password, XDG_STATE_HOME: join(work, 'state'), NODE_ENV: 'production' };
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Run the CLI on a pseudo-terminal; `answer` is typed once `prompt` shows. Returns the transcript. */
function onTty(args: string[], o: { env?: NodeJS.ProcessEnv; prompt?: string; answer?: string } = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const cmd = [process.execPath, BIN, ...args].map(q).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: o.env ?? env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let typed = false;
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (o.prompt && !typed && out.includes(o.prompt)) {
        typed = true;
        setTimeout(() => child.stdin.write(o.answer + '\r'), 200);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => (clearTimeout(timer), resolve({ code, out })));
  });
}

describe('progress and prompts', () => {
  const n = seeded('Junk/Old').length;

  it('on a TTY: cli-progress bars (per folder and total, msg/s, MB/s, ETA), then the summary', async () => {
    const r = await onTty(['copy', srcUrl(), `maildir:${join(work, 'a')}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'a.j')]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/ total +\[[█░]+\] \d+\/\d+ msgs \| \d+ msg\/s \| [\d.]+ [KM]?B [\d.]+ [KM]?B\/s \| ETA/);
    expect(r.out).toMatch(/ Junk\/Old +\[[█░]+\] /);
    expect(r.out).toContain(`\x1b[`); // it really drew on the terminal
    // Every listed message moves the bars, skipped duplicates too: they end full.
    expect(r.out).toContain(` ${n}/${n} msgs`);
    expect(r.out).toMatch(/copied \d+ messages .* in 1 folder\b/);
    expect(r.out).not.toMatch(/^Junk\/Old: \d+ copied/m); // no plain lines on a TTY
  });

  it('on a TTY: a warning logged while the bars are drawn is drawn above them whole (line wrap on for it), rates have no long decimals', async () => {
    const r = await onTty(['copy', srcUrl(), `maildir:${join(work, 'w')}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'w.j'), '--max-message-size', '3K']);
    expect(r.code, r.out).toBe(6);
    // The bars turn wrapping off (\x1b[?7l); each logged line turns it on for itself, so a line
    // wider than the terminal is not cut at its edge.
    const warnings = r.out.match(/(\x1b\[\?7h)?mailferry: warn: Junk\/Old: message \d+/g) ?? [];
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.filter((w) => !w.startsWith('\x1b[?7h'))).toEqual([]);
    expect(r.out).not.toMatch(/\d\.\d{3,} B\/s/);
    // Given back as it was: cursor shown, wrapping on.
    expect(r.out.lastIndexOf('\x1b[?25h')).toBeGreaterThan(r.out.lastIndexOf('\x1b[?25l'));
    expect(r.out.lastIndexOf('\x1b[?7h')).toBeGreaterThan(r.out.lastIndexOf('\x1b[?7l'));
  });

  it('on a TTY with a filter: the bars are set to what passed it when the listing ends, and end full', async () => {
    // The folder is copied while it is listed; the source announced every message, the filter
    // let through the later half (dates are distinct: the median's second splits them).
    const dates = seeded('Junk/Old').map((m) => m.internalDate.getTime()).sort((a, b) => a - b);
    const since = new Date(dates[Math.floor(dates.length / 2)]);
    const kept = dates.filter((t) => t >= since.getTime()).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(n);
    const r = await onTty(['copy', srcUrl(), `maildir:${join(work, 'f')}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'f.j'), '--since', since.toISOString().replace(/\.\d+Z$/, 'Z')]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(` ${kept}/${kept} msgs`);
  });

  it('not on a TTY (cron, CI): one plain line per folder and the summary, no escape codes', async () => {
    const r = await runCli(['copy', srcUrl(), `maildir:${join(work, 'b')}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'b.j')], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Junk\/Old: \d+ copied, \d+ skipped, 0 failed \([\d.]+ [KM]?B\)$/m);
    expect(r.stdout).toMatch(/^copied \d+ messages/);
    expect(r.stdout + r.stderr).not.toContain('\x1b');
    const quiet = await runCli(['copy', srcUrl(), `maildir:${join(work, 'b')}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'b.j'), '--quiet'], { env });
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
  });

  it('on a TTY with --json: no bars, just the JSON document', async () => {
    const r = await onTty(['copy', srcUrl(), `maildir:${join(work, 'c')}`, ...tls, '--folder', 'Junk/Old', '--checkpoint', join(work, 'c.j'), '--json']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).not.toContain('msgs |');
    const doc = JSON.parse(r.out.trim());
    expect(doc).toMatchObject({ status: 0, result: { failed: 0 }, warnings: [] });
  });

  it('on a TTY without any password source: a prompt, and what is typed is not echoed', async () => {
    const PW = 'Tty-Typed-Secret-4417';
    const user = (await h.freshUser('tty', PW)).name;
    const { MAILFERRY_SOURCE_PASSWORD: _, ...noPw } = env;
    const r = await onTty(['folders', `imap://${user}@${h.host}:${h.ports.imap}`, ...tls], { env: noPw, prompt: 'Source password: ', answer: PW });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^INBOX\s+0\s/m);
    expect(r.out).not.toContain(PW);
  });
});
