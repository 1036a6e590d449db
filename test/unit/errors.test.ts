import { describe, expect, it } from 'vitest';
import { EXIT, MailferryError, errnoCode, exitCodeOf, fileErrorReason, toMailferryError } from '../../src/errors.js';
import { classifyImapError } from '../../src/drivers/imap/connect.js';
import type { NetOptions } from '../../src/drivers/net-options.js';

describe('the exit-code table', () => {
  it('matches the documented table', () => {
    expect(EXIT).toEqual({ ok: 0, internal: 1, usage: 2, config: 3, auth: 4, network: 5, partial: 6, locked: 7, timeUp: 8, interrupted: 130 });
    expect(exitCodeOf('USAGE')).toBe(2);
    expect(exitCodeOf('BAD_URL')).toBe(3);
    expect(exitCodeOf('MISSING_SECRET')).toBe(3);
    expect(exitCodeOf('AUTH_FAILED')).toBe(4);
    expect(exitCodeOf('TLS_FAILED')).toBe(4);
    expect(exitCodeOf('NETWORK')).toBe(5);
    expect(exitCodeOf('TIMEOUT')).toBe(5);
    expect(exitCodeOf('PARTIAL')).toBe(6);
    expect(exitCodeOf('CHECKPOINT_LOCKED')).toBe(7);
    expect(exitCodeOf('CHECKPOINT_MISMATCH')).toBe(3);
    expect(exitCodeOf('INTERRUPTED')).toBe(130);
  });
  it('treats unknown errors as bugs (exit 1) and says so', () => {
    const e = toMailferryError(new TypeError('x is undefined'));
    expect(e.exitCode).toBe(1);
    expect(e.oneLine()).toMatch(/internal error.*bug/);
  });
  it('the open-file limit reached where no driver expected it, or a working directory removed, is the setting (exit 3), not a bug', () => {
    const emfile = toMailferryError(Object.assign(new Error("EMFILE: too many open files, open '/x/search.js'"), { code: 'EMFILE', syscall: 'open' }));
    expect(emfile).toMatchObject({ code: 'BAD_CONFIG', exitCode: 3, hint: expect.stringContaining('ulimit -n') });
    const cwd = toMailferryError(Object.assign(new Error('ENOENT: no such file or directory, uv_cwd'), { code: 'ENOENT', syscall: 'uv_cwd' }));
    expect(cwd).toMatchObject({ code: 'BAD_CONFIG', exitCode: 3 });
  });
  it('network errors are retryable, auth errors are not', () => {
    expect(new MailferryError('NETWORK', 'x').retryable).toBe(true);
    expect(new MailferryError('AUTH_FAILED', 'x').retryable).toBe(false);
  });
  it("a certificate for another host name is not fixed by a CA: the hint says what is", () => {
    const o = { endpoint: { host: 'vm', port: 993, user: 'u', tls: 'implicit' }, timeoutMs: 1000 } as unknown as NetOptions;
    const name = classifyImapError(Object.assign(new Error("Hostname/IP does not match certificate's altnames"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }), o);
    expect(name.code).toBe('TLS_FAILED');
    expect(name.hint).toMatch(/^the certificate is for another host name/);
    const ca = classifyImapError(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), o);
    expect(ca.hint).toMatch(/^trust its CA with --tls-ca FILE/);
  });
  it('a command refused because its connection had already closed was never sent: no server answer is to blame (unsent)', () => {
    const o = { endpoint: { host: 'h', port: 143, user: 'u', tls: 'none' }, timeoutMs: 1000 } as unknown as NetOptions;
    const closed = (rejectedFrom: string) => classifyImapError(Object.assign(new Error('Connection not available'), { code: 'NoConnection', rejectedFrom }), o, 'mailbox');
    for (const where of ['execClosed', 'writeNoSocket', 'sendAfterLogout']) expect(closed(where)).toMatchObject({ code: 'NETWORK', unsent: true });
    // Cut while it ran (BYE, a reset): the server's side of it, as before.
    expect(closed('taggedBye').unsent).toBeUndefined();
    expect(classifyImapError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), o).unsent).toBeUndefined();
  });
});

describe('a disk quota reached (EDQUOT), which Node 20 does not name', () => {
  // As Node gives it: from a callback fsync, from a sync write.
  const fromFsync = Object.assign(new Error('Unknown system error -122: Unknown system error -122, fsync'), { errno: -122, code: 'Unknown system error -122', syscall: 'fsync' });
  const fromWrite = Object.assign(new Error('UNKNOWN: unknown error, write'), { errno: -122, code: 'UNKNOWN', syscall: 'write' });
  it.runIf(process.platform === 'linux')('is known by its number and said as a quota', () => {
    for (const e of [fromFsync, fromWrite]) {
      expect(errnoCode(e)).toBe('EDQUOT');
      expect(fileErrorReason(e)).toBe('disk quota exceeded');
    }
    expect(errnoCode(Object.assign(new Error('x'), { errno: -28, code: 'ENOSPC' }))).toBe('ENOSPC');
    expect(errnoCode(new Error('x'))).toBeUndefined();
  });
});
