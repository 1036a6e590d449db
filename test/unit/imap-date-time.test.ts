import { describe, expect, it } from 'vitest';
import { formatDateTime } from 'imapflow/lib/tools.js';
import { imapDateTime } from '../../src/drivers/imap/multiappend.js';

describe("an APPEND's date-time", () => {
  it('is the RFC 3501 form in UTC, a space before a one-digit day', () => {
    expect(imapDateTime(new Date('2024-01-05T08:09:10.999Z'))).toBe(' 5-Jan-2024 08:09:10 +0000');
    expect(imapDateTime(new Date('1999-12-31T23:59:59Z'))).toBe('31-Dec-1999 23:59:59 +0000');
    expect(imapDateTime(new Date('1970-01-01T00:00:00Z'))).toBe(' 1-Jan-1970 00:00:00 +0000');
  });
  it("says what imapflow's formatDateTime says, for dates across the four-digit years", () => {
    let seed = 11;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed / 0x7fffffff);
    const lo = Date.parse('0000-01-01T00:00:00Z');
    const hi = Date.UTC(9999, 11, 31, 23, 59, 59);
    for (let k = 0; k < 20000; k++) {
      const d = new Date(Math.floor(k < 10000 ? Date.UTC(1960, 0, 1) + rand() * 100 * 365.25 * 864e5 : lo + rand() * (hi - lo)));
      expect(imapDateTime(d), d.toISOString()).toBe(formatDateTime(d));
    }
  });
  it('has none for an invalid date or a year that four digits cannot say', () => {
    expect(imapDateTime(new Date(NaN))).toBeUndefined();
    expect(imapDateTime(new Date(Date.UTC(10000, 0, 1)))).toBeUndefined();
    expect(imapDateTime(new Date(Date.parse('0000-01-01T00:00:00Z') - 1))).toBeUndefined();
  });
});
