import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeLogs, createLogger, registerSecret } from '../../src/log.js';

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
});
