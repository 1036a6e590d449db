// Password sources through the real CLI: a password command (run once, its output never shown),
// a failing one, and a distinctive password that must appear in no output and no log at any level.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { secretResolver } from '../../src/cli/secrets.js';
import { silentLogger } from '../../src/log.js';
import { envelope, runCli } from '../harness/cli.js';
import { FakeImapServer } from '../harness/fake-imap.js';
import { FakePop3Server } from '../harness/fake-pop3.js';
import { seedFixtures } from '../harness/fixtures.js';
import { expectOneLineError, h, srcUrl, tls } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mf-secret-'));
const base = { MAILFERRY_SOURCE_PASSWORD: undefined, MAILFERRY_DEST_PASSWORD: undefined, XDG_STATE_HOME: join(work, 'state') };
const PW = 'Zq9-distinctive-Pw-7781';

describe('password sources', () => {
  let user: string;
  beforeAll(async () => {
    user = (await h.freshUser('pw', PW)).name;
    await seedFixtures(h, user, 'INBOX');
  });
  const url = () => `imap://${user}@${h.host}:${h.ports.imap}`;

  it('--source-password-command: run once, stdout used (trailing newline stripped)', async () => {
    const counter = join(work, 'runs');
    const cmd = `echo run >> ${counter}; printf '%s\\n' '${PW}'`;
    const r = await runCli(['copy', url(), `maildir:${join(work, 'md1')}`, ...tls, '--source-password-command', cmd, '-j', '3', '--json'], { env: base });
    expect(envelope(r).status, r.stderr).toBe(0);
    expect(readFileSync(counter, 'utf8')).toBe('run\n');
    expect(r.stdout + r.stderr).not.toContain(PW);
  });

  it('--source-password-file: the first line is the password (a second line, CRLF, are not part of it)', async () => {
    const file = join(work, 'pw-two-lines');
    writeFileSync(file, `${PW}\r\nsecond line: a note\n`, { mode: 0o600 });
    const r = await runCli(['folders', url(), ...tls, '--source-password-file', file, '--json'], { env: base });
    expect(envelope(r).status, r.stderr).toBe(0);
  });

  it('a password file or command output that is not UTF-8 (saved in latin1) is exit 3 saying so, not a failed login (it would be sent as other bytes)', async () => {
    const file = join(work, 'pw-latin1');
    writeFileSync(file, Buffer.concat([Buffer.from('Gr'), Buffer.from([0xfc]), Buffer.from('n-Pw\n')]), { mode: 0o600 });
    const fromFile = await runCli(['folders', url(), ...tls, '--source-password-file', file], { env: base });
    expectOneLineError(fromFile, 3, new RegExp(`--source-password-file ${file} is not valid UTF-8`));
    const fromCommand = await runCli(['folders', url(), ...tls, '--source-password-command', `printf 'Gr\\374n-Pw\\n'`], { env: base });
    expectOneLineError(fromCommand, 3, /--source-password-command printed a password that is not valid UTF-8/);
    expect(fromFile.stdout + fromFile.stderr + fromCommand.stdout + fromCommand.stderr).not.toMatch(/Gr.n-Pw/);
  });

  it('--source-password-file from a pipe (bash\'s <(pass show …)) is read as its writer writes; a FIFO nobody writes is exit 3 at once; one held open in silence yields to SIGTERM', async () => {
    const piped = await runCli(['folders', url(), ...tls, '--json'], {
      env: base,
      wrap: ['bash', '-c', `exec "$@" --source-password-file <(sleep 0.5; printf '%s\\n' '${PW}')`, 'mailferry'],
    });
    expect(envelope(piped).status, piped.stderr).toBe(0);
    // A FIFO no one writes: a blocking open (or a synchronous read) waited for ever, deaf to every
    // signal but SIGKILL.
    const fifo = join(work, 'pw-fifo');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    const none = await runCli(['folders', url(), ...tls, '--source-password-file', fifo, '--json'], { env: base, timeoutMs: 20_000 });
    expect(envelope(none)).toMatchObject({ status: 3, error: { code: 'MISSING_SECRET', message: `--source-password-file ${fifo} is empty` } });
    expect(Date.now() - started).toBeLessThan(15_000);
    // A writer that holds it open and never writes: the run waits, and a signal still ends it.
    const writer = spawn('sh', ['-c', `exec 3>"${fifo}"; sleep 60`], { stdio: 'ignore' });
    try {
      const waiting = await runCli(['folders', url(), ...tls, '--source-password-file', fifo, '--json'], {
        env: base,
        timeoutMs: 20_000,
        onSpawn: (child) => setTimeout(() => child.kill('SIGTERM'), 1500),
      });
      expect(envelope(waiting)).toMatchObject({ status: 130, error: { code: 'INTERRUPTED' } });
    } finally {
      writer.kill('SIGKILL');
    }
  });

  it('TLS turned off for a server that is not this machine is said (the password would cross the network in clear)', async () => {
    // TEST-NET-1: nothing answers; the warning comes before the connection is tried.
    const r = await runCli(['folders', 'imap://u@192.0.2.1:143', '--source-tls', 'none', '--timeout', '1', '--json'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: PW } });
    expect(envelope(r).warnings).toContain('TLS is off for the source (--source-tls none): the password and the mail cross the network to 192.0.2.1 in clear');
    const local = await runCli(['folders', `imap://${user}@${h.host}:${h.ports.imap}`, '--source-tls', 'none', '--json'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: PW } });
    expect(envelope(local)).toMatchObject({ status: 0, warnings: [] });
  });

  it('a failing command: exit 3, one line, its output never echoed', async () => {
    const r = await runCli(['folders', url(), ...tls, '--source-password-command', `echo leaked-${PW}; echo err-${PW} >&2; exit 7`], { env: base });
    expectOneLineError(r, 3, /--source-password-command failed with exit status 7/);
    expect(r.stderr).not.toContain(PW);
    const empty = await runCli(['folders', url(), ...tls, '--source-password-command', 'true'], { env: base });
    expectOneLineError(empty, 3, /printed nothing/);
  });

  it('no password anywhere: stdout, stderr, --log-file (debug) and --report, success and failure', async () => {
    const log = join(work, 'run.log');
    const report = join(work, 'report.ndjson');
    const pwFile = join(work, 'pwfile');
    writeFileSync(pwFile, PW + '\n', { mode: 0o600 });
    const runs = [
      await runCli(['copy', url(), `maildir:${join(work, 'md2')}`, ...tls, '--verbose', '--log-file', log, '--report', report], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: PW } }),
      await runCli(['copy', url(), `maildir:${join(work, 'md3')}`, ...tls, '--verbose', '--log-file', log, '--json', '--source-password-file', pwFile], { env: base }),
      await runCli(['verify', url(), `maildir:${join(work, 'md2')}`, ...tls, '--verbose', '--log-file', log, '--source-password-command', `printf ${PW}`], { env: base }),
      await runCli(['folders', url(), ...tls, '--verbose', '--log-file', log], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: PW } }),
      // A wrong password: the server's refusal must not echo what was sent.
      await runCli(['copy', url(), `maildir:${join(work, 'md4')}`, ...tls, '--verbose', '--log-file', log], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: PW + 'x' } }),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0, 4]);
    const logText = readFileSync(log, 'utf8');
    expect(logText).toMatch(/"msg":"run failed: login as .* failed/); // the failing run is in the log, without the password
    for (const r of runs) {
      expect(r.stdout).not.toContain(PW);
      expect(r.stderr).not.toContain(PW);
    }
    expect(logText).not.toContain(PW);
    expect(readFileSync(report, 'utf8')).not.toContain(PW);
    // And the password is not in the process arguments either: it never was in argv.
  });

  it('xoauth2: the token command runs again on every connect; a password command only once', async () => {
    const counter = join(work, 'tok');
    const token = secretResolver('source', { command: `echo x >> ${counter}; echo tok-$(wc -l < ${counter})`, auth: 'xoauth2' }, silentLogger);
    expect([await token(), await token(), await token()]).toEqual(['tok-1', 'tok-2', 'tok-3']);
    const counter2 = join(work, 'pwc');
    const pw = secretResolver('source', { command: `echo x >> ${counter2}; echo secret`, auth: 'password' }, silentLogger);
    expect(await Promise.all([pw(), pw(), pw()])).toEqual(['secret', 'secret', 'secret']);
    expect(readFileSync(counter2, 'utf8')).toBe('x\n');
  });

  it('--source-auth xoauth2 against a server without it: the token is fetched, the login fails with exit 4', async () => {
    // The test Dovecot offers XOAUTH2 (xoauth2.test.ts); this server offers LOGIN alone.
    const srv = await FakeImapServer.start({ mailboxes: [{ name: 'INBOX', messages: [] }] });
    try {
      const counter = join(work, 'xo');
      const r = await runCli(['folders', `imap://u@127.0.0.1:${srv.port}`, '--source-tls', 'none', '--source-auth', 'xoauth2', '--source-password-command', `echo x >> ${counter}; echo ya29.token-${PW}`], { env: base });
      expectOneLineError(r, 4, /does not offer the XOAUTH2 login method/);
      expect(readFileSync(counter, 'utf8').length).toBeGreaterThan(0);
      expect(r.stderr).not.toContain(PW);
    } finally {
      await srv.stop();
    }
  });

  it('POP3 --source-auth xoauth2 against a server without it: exit 4, and the token is never sent (not as a password either)', async () => {
    const srv = await FakePop3Server.start({ user: 'u', pass: `ya29.token-${PW}`, saslPlain: true });
    try {
      const r = await runCli(['folders', `pop3://u@127.0.0.1:${srv.port}`, '--source-tls', 'none', '--source-auth', 'xoauth2'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: `ya29.token-${PW}` } });
      expectOneLineError(r, 4, /does not offer the XOAUTH2 login method/);
      expect(srv.commands.join('\n')).not.toMatch(/^(AUTH|USER|PASS)\b/m);
      expect(r.stderr).not.toContain(PW);
    } finally {
      await srv.close();
    }
  });

  it('servers that echo what they were sent: an OAUTHBEARER response and a non-ASCII LOGIN are masked in the error, --json and --log-file', async () => {
    const token = `ya29.token-${PW}`;
    const echo = await FakeImapServer.start({
      mailboxes: [{ name: 'INBOX', messages: [] }],
      capabilities: ['AUTH=OAUTHBEARER', 'SASL-IR'],
      hook: (s, tag, name, args) => (name === 'AUTHENTICATE' || name === 'LOGIN' ? (s.send(`${tag} NO you sent ${tag} ${name} ${args}\r\n`), true) : false),
    });
    try {
      const log = join(work, 'echo.log');
      const oauth = await runCli(['folders', `imap://u@127.0.0.1:${echo.port}`, '--source-tls', 'none', '--source-auth', 'xoauth2', '--json', '--log-file', log, '--verbose'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: token } });
      const sent = echo.commands.find((c) => / AUTHENTICATE OAUTHBEARER /.test(c))!.split(' ').pop()!;
      expect(Buffer.from(sent, 'base64').toString()).toContain(token); // what the server had, and echoed
      const nonAscii = 'pässwörd€-7781';
      const login = await runCli(['folders', `imap://u@127.0.0.1:${echo.port}`, '--source-tls', 'none', '--json', '--log-file', log, '--verbose'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: nonAscii } });
      expect(envelope(oauth).status).toBe(4);
      expect(envelope(login).status).toBe(4);
      const everything = [oauth.stdout, oauth.stderr, login.stdout, login.stderr, readFileSync(log, 'utf8')].join('\n');
      expect(everything).toContain('***');
      for (const leak of [sent, token, nonAscii, Buffer.from(nonAscii).toString('latin1'), 'sswörd', 'ssw\\u00f6rd']) expect(everything).not.toContain(leak);
    } finally {
      await echo.stop();
    }
  });

  it('POP3 USER/PASS with a password beyond ASCII: sent as UTF-8 (the bytes a server stores), so the login works', async () => {
    const pass = 'pässwörd€-7781';
    const srv = await FakePop3Server.start({ user: 'u', pass, messages: [] });
    try {
      const r = await runCli(['folders', `pop3://u@127.0.0.1:${srv.port}`, '--source-tls', 'none', '--json'], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: pass } });
      expect(envelope(r).status, r.stdout).toBe(0);
    } finally {
      await srv.close();
    }
  });

  it('no TTY and nothing given: the missing-secret error, never a prompt', async () => {
    expectOneLineError(await runCli(['folders', srcUrl(), ...tls], { env: base }), 3, /no password for the source \(set MAILFERRY_SOURCE_PASSWORD, or use --source-password-file FILE or --source-password-command CMD\)/);
  });
});

describe('a server that puts the password in its answer to a message', () => {
  it('--report, --json, --log-file and stderr all mask it', async () => {
    const srv = await FakeImapServer.start({
      pass: PW,
      mailboxes: [{ name: 'INBOX', messages: [{ uid: 1, body: Buffer.from('Message-ID: <echo@x>\r\nSubject: x\r\n\r\nbody\r\n') }] }],
      hook: (s, tag, name, args) => (name === 'UID FETCH' && /BODY\.PEEK\[\]|BINARY\.PEEK\[\]/i.test(args) ? (s.send(`${tag} NO cannot read message, password was ${PW}\r\n`), true) : false),
    });
    try {
      const report = join(work, 'echo-report.ndjson');
      const log = join(work, 'echo-msg.log');
      const r = await runCli(['copy', `imap://u@127.0.0.1:${srv.port}`, `maildir:${join(work, 'echo-md')}`, '--source-tls', 'none', '--retries', '0', '--json', '--report', report, '--log-file', log], { env: { ...base, MAILFERRY_SOURCE_PASSWORD: PW } });
      expect(envelope(r).status, r.stderr).toBe(6);
      expect(readFileSync(report, 'utf8')).toMatch(/password was \*\*\*/);
      for (const text of [readFileSync(report, 'utf8'), r.stdout, r.stderr, readFileSync(log, 'utf8')]) expect(text).not.toContain(PW);
    } finally {
      await srv.stop();
    }
  });
});
