import { describe, expect, it } from 'vitest';
import { EXIT, MailferryError, exitCodeOf, toMailferryError } from '../../src/errors.js';

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
  it('network errors are retryable, auth errors are not', () => {
    expect(new MailferryError('NETWORK', 'x').retryable).toBe(true);
    expect(new MailferryError('AUTH_FAILED', 'x').retryable).toBe(false);
  });
});
