import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeLogs, createLogger, registerSecret } from '../../src/log.js';
import { printable } from '../../src/strings.js';

const dirs: string[] = [];
const logFile = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'mf-log-'));
  dirs.push(d);
  return path.join(d, 'log.jsonl');
};
afterEach(() => {
  closeLogs();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('logger', () => {
  it('says which levels it writes, and writes exactly those', () => {
    const file = logFile();
    const log = createLogger({ stderrLevel: 'off', file, fileLevel: 'debug' });
    expect(log.enabled('trace')).toBe(false);
    expect(log.enabled('debug')).toBe(true);
    expect(log.enabled('error')).toBe(true);
    log.trace({ msg: 'not written' });
    log.debug({ msg: 'written' });
    closeLogs();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { msg: string });
    expect(lines.map((l) => l.msg)).toEqual(['written']);
    expect(createLogger({ stderrLevel: 'off' }).enabled('error')).toBe(false);
    expect(createLogger({ stderrLevel: 'warn' }).enabled('info')).toBe(false);
    expect(createLogger({ stderrLevel: 'warn' }).enabled('warn')).toBe(true);
  });

  it('masks a registered secret in the log file', () => {
    const file = logFile();
    registerSecret('s3cret-Passw0rd');
    const log = createLogger({ stderrLevel: 'off', file, fileLevel: 'debug' });
    log.warn({ msg: 'login with s3cret-Passw0rd failed' });
    closeLogs();
    expect(readFileSync(file, 'utf8')).not.toContain('s3cret-Passw0rd');
    expect(readFileSync(file, 'utf8')).toContain('login with *** failed');
  });

  it('masks a secret with quotes and backslashes also as a server echoes it (IMAP-quoted), and as JSON escapes it', () => {
    const file = logFile();
    const secret = 'Quo"te\\Secret-99';
    registerSecret(secret);
    const log = createLogger({ stderrLevel: 'off', file, fileLevel: 'debug' });
    // what a server that echoes the LOGIN command sends back: the password as an IMAP quoted string
    log.error({ msg: `NO [AUTHENTICATIONFAILED] LOGIN "alice" "${secret.replace(/[\\"]/g, '\\$&')}" failed` });
    log.error({ msg: `raw ${secret}` });
    closeLogs();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('Secret-99');
    expect(text.trim().split('\n').map((l) => JSON.parse(l).msg)).toEqual(['NO [AUTHENTICATIONFAILED] LOGIN "alice" "***" failed', 'raw ***']);
  });

  it('masks a secret inside any base64 a server echoes (an OAUTHBEARER response: its form holds the host and port too)', () => {
    const file = logFile();
    const token = 'ya29.A0ARrdaM-SecretToken_1234567890';
    registerSecret(token);
    const sasl = Buffer.from(`n,a=sec,\x01host=mail.example.org\x01port=993\x01auth=Bearer ${token}\x01\x01`).toString('base64');
    const log = createLogger({ stderrLevel: 'off', file, fileLevel: 'debug' });
    log.error({ msg: `NO you sent 1 AUTHENTICATE OAUTHBEARER ${sasl}` });
    log.info({ msg: 'an unrelated run AAAABBBBCCCCDDDD stays' });
    closeLogs();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(sasl);
    expect(text.trim().split('\n').map((l) => JSON.parse(l).msg)).toEqual(['NO you sent 1 AUTHENTICATE OAUTHBEARER ***', 'an unrelated run AAAABBBBCCCCDDDD stays']);
  });

  it('masks a non-ASCII password also as its UTF-8 bytes read one per character (a server echo read back so)', () => {
    const file = logFile();
    const secret = 'pässwörd€x';
    registerSecret(secret);
    const log = createLogger({ stderrLevel: 'off', file, fileLevel: 'debug' });
    log.error({ msg: `NO you sent 1 LOGIN "u" "${Buffer.from(secret).toString('latin1')}"` });
    closeLogs();
    expect(JSON.parse(readFileSync(file, 'utf8')).msg).toBe('NO you sent 1 LOGIN "u" "***"');
  });

  it('a short secret that looks like a number never breaks a JSON line', () => {
    const file = logFile();
    registerSecret('42');
    const log = createLogger({ stderrLevel: 'off', file, fileLevel: 'debug' });
    log.info({ msg: 'code 42 here', copied: 42 });
    closeLogs();
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ msg: 'code *** here', copied: 42 });
  });
});

describe('printable', () => {
  it('shows control characters from a server as \\xNN: no escape sequence reaches the terminal', () => {
    expect(printable('Evil\x1b]0;PWNED\x07\x1b[2K\x1b[1A\x1b[31mFAKE-OK')).toBe('Evil\\x1b]0;PWNED\\x07\\x1b[2K\\x1b[1A\\x1b[31mFAKE-OK');
    expect(printable('two\nlines\r\u009b6n')).toBe('two\\x0alines\\x0d\\x9b6n');
    expect(printable('Café ☕\ttab')).toBe('Café ☕\ttab');
  });
});
