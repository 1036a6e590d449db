// Where results go, when that goes wrong: a --log-file or --report on a full disk (the copy goes on
// and says so; it was an internal error, exit 1, two JSON documents), standard output on a full disk
// (one line on stderr and exit 3, not a stack trace), a --report that is a link to another file (not
// followed), a checkpoint made wider by hand (0600 again), HOME set empty (no state under the current
// directory) and TERM=dumb (no cursor movement). Real CLI, Maildir to Maildir.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, envelope, runCli } from '../harness/cli.js';

const work = mkdtempSync(join(tmpdir(), 'mf-outputs-'));
const src = join(work, 'src');
const env = { XDG_STATE_HOME: join(work, 'state'), NODE_ENV: 'production' };
let n = 0;
const copy = (...more: string[]) => ['copy', `maildir:${src}`, `maildir:${join(work, `dest${++n}`)}`, '--checkpoint', join(work, `cp${n}`), ...more];

beforeAll(() => {
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(src, d), { recursive: true });
  for (let i = 1; i <= 300; i++) writeFileSync(join(src, 'cur', `${i}.a.host:2,S`), `Message-ID: <m${i}@outputs>\n\nbody ${i}\n`);
});

describe('outputs that cannot be written', () => {
  it('a --log-file on a full disk: the copy goes on, exit 0, one JSON document with a warning', async () => {
    const r = await runCli(copy('--json', '--log-file', '/dev/full'), { env });
    const out = envelope(r);
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.copied).toBe(300);
    expect(out.warnings).toEqual(['cannot write --log-file /dev/full (no space left): nothing more is logged there']);
    expect(r.stderr).toBe('');
  });

  it('a --report on a full disk: the copy goes on, exit 0, the warning said (also under --quiet)', async () => {
    const j = envelope(await runCli(copy('--json', '--report', '/dev/full'), { env }));
    expect(j.status).toBe(0);
    expect(j.result.copied).toBe(300);
    expect(j.warnings[0]).toMatch(/cannot write --report \/dev\/full \(no space left\): it stops after 0 outcomes; the result has them all/);
    const q = await runCli(copy('--quiet', '--report', '/dev/full'), { env });
    expect(q.code).toBe(0);
    expect(q.stderr).toMatch(/^mailferry: warn: cannot write --report \/dev\/full/);
  });

  it('standard output on a full disk: the copy is done, one line on stderr, exit 3 (no stack trace); a reader that goes away is no failure', async () => {
    for (const json of [['--json'], []]) {
      const r = await runCli(copy(...json), { env, wrap: ['sh', '-c', 'exec "$@" >/dev/full', 'sh'] });
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr.trim().split('\n').filter((l) => !/copied, \d+ skipped/.test(l))).toEqual(['mailferry: error: cannot write the result to standard output (no space left)']);
      expect(existsSync(join(work, `dest${n}`, 'cur'))).toBe(true);
    }
    const head = await runCli(copy('--json'), { env, wrap: ['sh', '-c', '"$@" | head -c1 >/dev/null; exit "${PIPESTATUS:-0}"', 'sh'] });
    expect(head.stderr).toBe('');
  });

  it("what oclif writes itself (--version, --help, its last flush) to a full disk: one line, exit 3, or the run's own exit code; never a stack trace", async () => {
    const full = { env, wrap: ['sh', '-c', 'exec "$@" >/dev/full', 'sh'] };
    for (const args of [['--version'], ['copy', '--help']]) {
      const r = await runCli(args, full);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toBe('mailferry: error: cannot write to standard output (ENOSPC)\n');
    }
    const failed = await runCli(['copy', `maildir:${join(work, 'no-such')}`, `maildir:${join(work, 'nowhere')}`], full);
    expect(failed.code).toBe(3);
    expect(failed.stderr.trim().split('\n')).toEqual([`mailferry: error: ${join(work, 'no-such')} does not exist (check the maildir: path)`]);
  });

  it('a --report that is a link to a file is not followed (the file is neither truncated nor re-moded); one to /dev/stderr is', async () => {
    const victim = join(work, 'victim');
    writeFileSync(victim, 'keep me', { mode: 0o644 });
    symlinkSync(victim, join(work, 'report-link'));
    const r = await runCli(copy('--json', '--report', join(work, 'report-link')), { env });
    expect(envelope(r).status).toBe(3);
    expect(envelope(r).error?.message).toMatch(/report-link is a symbolic link to a file: not followed/);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(statSync(victim).mode & 0o777).toBe(0o644);
    // (stderr a pipe, as in a shell: the test runner's is a socket, which /dev/stderr cannot open)
    const toStderr = await runCli(copy('--quiet', '--report', '/dev/stderr'), { env, wrap: ['sh', '-c', '"$@" 2>&1 | cat', 'sh'] });
    expect(toStderr.code).toBe(0);
    expect(toStderr.stdout.split('\n').filter((l) => l.includes('"outcome":"copied"'))).toHaveLength(300);
    // Standard error sent to a file by the shell (cron: 2>>log), the log to /dev/stderr: that file, appended.
    const cronLog = join(work, 'cron.log');
    writeFileSync(cronLog, 'earlier\n');
    const appended = await runCli(copy('--log-file', '/dev/stderr'), { env, wrap: ['sh', '-c', `"$@" 2>>'${cronLog}'`, 'sh'] });
    expect(appended.code, appended.stderr).toBe(0);
    const text = readFileSync(cronLog, 'utf8');
    expect(text.startsWith('earlier\n')).toBe(true);
    expect(text).toMatch(/"msg":"finished: exit 0"/);
    // The report to /dev/stderr in that file: appended too, never emptied (it is the shell's file, not the report's).
    const reported = await runCli(copy('--quiet', '--report', '/dev/stderr'), { env, wrap: ['sh', '-c', `"$@" 2>>'${cronLog}'`, 'sh'] });
    expect(reported.code, reported.stderr).toBe(0);
    expect(readFileSync(cronLog, 'utf8').startsWith(text)).toBe(true);
  });

  it('a --report or --log-file to /dev/stdout or /dev/stderr sent by the shell to a file (`>out`, not appended): every line whole, none written over by the run\'s own output', async () => {
    const lines = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    for (const [flag, stream, redirect] of [['--report', '/dev/stdout', '>'], ['--report', '/dev/stderr', '2>'], ['--log-file', '/dev/stderr', '2>']] as const) {
      const out = join(work, `shell-${++n}.out`);
      const r = await runCli(copy(flag, stream), { env, wrap: ['sh', '-c', `"$@" ${redirect}'${out}'`, 'sh'] });
      expect(r.code, `${flag} ${stream}: ${r.stderr}`).toBe(0);
      const got = lines(out);
      // The report's lines and the log's are JSON; the run's own lines (the summary) are whole lines too.
      const json = got.filter((l) => l.startsWith('{'));
      for (const l of json) expect(() => JSON.parse(l), `${flag} ${stream}: ${l.slice(0, 120)}`).not.toThrow();
      if (flag === '--report') expect(json.filter((l) => l.includes('"outcome":"copied"')), `${flag} ${stream}`).toHaveLength(300);
      else expect(json.some((l) => l.includes('"msg":"finished: exit 0"')), `${flag} ${stream}`).toBe(true);
      expect(got.filter((l) => !l.startsWith('{') && !/^(copied \d+ messages|\S+: \d+ copied)/.test(l) && !/^mailferry: /.test(l)), `${flag} ${stream}`).toEqual([]);
    }
  });

  it('with --json, a --report or --log-file to standard output is refused (exit 2): the one JSON document would have other lines in it', async () => {
    for (const flag of ['--report', '--log-file']) {
      for (const stream of ['/dev/stdout', '/proc/self/fd/1']) {
        // (standard output a pipe, as to a program reading the JSON: the exit code is cat's, the status the run's)
        const r = await runCli(copy('--json', flag, stream), { env, wrap: ['sh', '-c', '"$@" | cat', 'sh'] });
        expect(envelope(r).status, `${flag} ${stream}`).toBe(2);
        expect(envelope(r).error?.message, `${flag} ${stream}`).toMatch(/is standard output, where --json writes its one document/);
        expect(existsSync(join(work, `dest${n}`)), 'nothing copied').toBe(false);
      }
    }
  });

  it('a --report or --log-file that another user made (in a shared directory such as /tmp) is not written: exit 3, the file as it was', async () => {
    const shared = join(work, 'sticky');
    mkdirSync(shared, { mode: 0o1777 });
    chmodSync(shared, 0o1777);
    for (const flag of ['--report', '--log-file']) {
      const planted = join(shared, `planted${flag}`);
      writeFileSync(planted, 'theirs\n', { mode: 0o666 });
      chmodSync(planted, 0o666);
      chownSync(planted, 65534, 65534);
      const r = await runCli(copy('--json', flag, planted), { env });
      expect(envelope(r).status, flag).toBe(3);
      expect(envelope(r).error?.message).toMatch(/belongs to another user/);
      const st = statSync(planted);
      expect([readFileSync(planted, 'utf8'), st.mode & 0o777, st.uid]).toEqual(['theirs\n', 0o666, 65534]);
    }
  });
});

describe('files and places', () => {
  it('a checkpoint made readable by others is 0600 again after the next run', async () => {
    const args = copy('--json');
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    const cp = join(work, `cp${n}`);
    chmodSync(cp, 0o644);
    expect(envelope(await runCli(args, { env })).status).toBe(0);
    expect(statSync(cp).mode & 0o777).toBe(0o600);
  });

  it('HOME set empty or XDG_STATE_HOME relative: the default checkpoint is under the account home, never the current directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mf-cwd-'));
    const r = await runCli(['copy', `maildir:${src}`, `maildir:${join(work, 'home-dest')}`, '--json'], { env: { HOME: '', XDG_STATE_HOME: 'relative-state' }, cwd });
    const out = envelope(r);
    // The account's own state directory: the checkpoint made there is not left behind.
    if (typeof out.result?.checkpoint === 'string') rmSync(out.result.checkpoint, { force: true });
    expect(out.status, r.stderr).toBe(0);
    expect(out.result.checkpoint).toMatch(/^\/.*\/\.local\/state\/mailferry\//);
    expect(existsSync(join(cwd, '.local'))).toBe(false);
    expect(existsSync(join(cwd, 'relative-state'))).toBe(false);
  });

  it('XDG_STATE_HOME or HOME not valid UTF-8 (a latin1 path): exit 3 naming it, no state kept in a directory of another name', async () => {
    // Bytes a JS string cannot carry into the environment: set by the shell the CLI runs under.
    const base = mkdtempSync(join(tmpdir(), 'mf-latin1-'));
    for (const [name, extra] of [
      ['XDG_STATE_HOME', ''],
      ['HOME', 'unset XDG_STATE_HOME; '],
    ] as const) {
      const wrap = ['sh', '-c', `${extra}${name}="$(printf '%s/st\\344t-${name}' "$BASE")"; export ${name}; exec "$0" "$@"`];
      const r = await runCli(['copy', `maildir:${src}`, `maildir:${join(base, `dest-${name}`)}`, '--json'], { env: { BASE: base }, wrap });
      const out = envelope(r);
      expect(out.status, r.stderr).toBe(3);
      expect(out.error?.code).toBe('BAD_CONFIG');
      expect(out.error?.message).toContain(`${name} is not valid UTF-8`);
      // Node reads the byte as U+FFFD: nothing was made under that other name.
      expect(existsSync(join(base, `st\uFFFDt-${name}`))).toBe(false);
      expect(existsSync(join(base, `dest-${name}`))).toBe(false);
    }
  });

  it('TERM=dumb on a terminal: progress as plain lines, no cursor movement', async () => {
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, BIN, ...copy()].map(q).join(' ');
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, ...env, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => (text += d.toString('utf8')));
      child.on('error', reject);
      child.on('close', () => resolve(text));
      child.stdin.end();
    });
    expect(out).toMatch(/copied 300 messages/);
    expect(out).not.toMatch(/\x1b\[/);
  });
});

describe('--report lines', () => {
  it('a destination without UIDPLUS gives no key for what it stored: the line has no destKey (not an empty one)', async () => {
    const { FakeImapServer } = await import('../harness/fake-imap.js');
    const dst = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [] }], noUidplus: true, store: true });
    try {
      const report = join(work, 'no-uidplus.jsonl');
      const r = await runCli(['copy', `maildir:${src}`, `imap://u@127.0.0.1:${dst.port}`, '--dest-tls', 'none', '--checkpoint', join(work, 'no-uidplus.cp'), '--report', report, '--json'], {
        env: { ...env, MAILFERRY_DEST_PASSWORD: 'pass' },
      });
      expect(envelope(r)).toMatchObject({ status: 0, result: { copied: 300 } });
      const lines = readFileSync(report, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const copied = lines.filter((l) => l.outcome === 'copied');
      expect(copied).toHaveLength(300);
      for (const l of copied) expect(l).not.toHaveProperty('destKey');
    } finally {
      await dst.stop();
    }
  });
});

describe('Message-IDs in UTF-8 (RFC 6532)', () => {
  it('are shown as UTF-8 in verify\'s lines, --json and --report, not as their bytes read one by one', async () => {
    const md = join(work, 'utf8-src');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(md, d), { recursive: true });
    writeFileSync(join(md, 'cur', '1700000000.u8.host:2,S'), Buffer.from('Message-ID: <grüße@example.org>\nSubject: x\n\nbody\n', 'utf8'));
    const empty = join(work, 'utf8-empty');
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(empty, d), { recursive: true });
    const human = await runCli(['verify', `maildir:${md}`, `maildir:${empty}`], { env });
    expect(human.code, human.stderr).toBe(6);
    expect(human.stdout).toContain('missing: INBOX #1700000000.u8.host <grüße@example.org>');
    const json = envelope(await runCli(['verify', `maildir:${md}`, `maildir:${empty}`, '--json'], { env }));
    expect(json.result.missingList[0]).toMatchObject({ messageId: '<grüße@example.org>', identity: 'mid:<grüße@example.org>' });
    const report = join(work, 'utf8.ndjson');
    const r = envelope(await runCli(['copy', `maildir:${md}`, `maildir:${join(work, 'utf8-dest')}`, '--checkpoint', join(work, 'utf8.cp'), '--report', report, '--json'], { env }));
    expect(r.status).toBe(0);
    const line = JSON.parse(readFileSync(report, 'utf8').trim().split('\n')[0]!);
    expect(line).toMatchObject({ outcome: 'copied', messageId: '<grüße@example.org>', identity: 'mid:<grüße@example.org>' });
  });
});
