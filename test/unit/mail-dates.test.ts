import { describe, expect, it } from 'vitest';
import { arrivalDateOf, parseMailDate } from '../../src/mail/dates.js';

const iso = (d: Date | undefined) => d?.toISOString();
const head = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
const NOW = Date.parse('2026-11-26T12:00:00Z');

describe('parseMailDate', () => {
  it('reads RFC 5322 date-times with numeric zones, comments, no weekday, no seconds', () => {
    expect(iso(parseMailDate('Mon, 25 Nov 2024 10:11:12 +0100 (CET)'))).toBe('2024-11-25T09:11:12.000Z');
    expect(iso(parseMailDate('25 Nov 2024 10:11:12 -0000'))).toBe('2024-11-25T10:11:12.000Z');
    expect(iso(parseMailDate('Tue,  3 Sep 2002 05:06 +0530'))).toBe('2002-09-02T23:36:00.000Z');
    expect(iso(parseMailDate('Sat, 31 Aug 2002 21:04:37 -0400'))).toBe('2002-09-01T01:04:37.000Z');
  });

  it('reads the obsolete forms: two- and three-digit years, zone names, a leap second', () => {
    expect(iso(parseMailDate('Wed, 21 Aug 02 10:56:22 PST'))).toBe('2002-08-21T18:56:22.000Z');
    expect(iso(parseMailDate('1 Jan 99 00:00:00 GMT'))).toBe('1999-01-01T00:00:00.000Z');
    expect(iso(parseMailDate('1 Jan 102 00:00:00 UT'))).toBe('2002-01-01T00:00:00.000Z');
    expect(iso(parseMailDate('31 Dec 2016 23:59:60 +0000'))).toBe('2016-12-31T23:59:59.000Z');
    // no zone, or one it does not know: UTC
    expect(iso(parseMailDate('2 Sep 2002 01:12:00'))).toBe('2002-09-02T01:12:00.000Z');
    expect(iso(parseMailDate('2 Sep 2002 01:12:00 XYZ'))).toBe('2002-09-02T01:12:00.000Z');
  });

  it('is no date for anything else', () => {
    for (const bad of ['', 'yesterday', '2024-11-25T10:11:12Z', '31 Feb 2024 10:00:00 +0000', '1 Foo 2024 10:00:00', '32 Jan 2024 10:00:00', '1 Jan 2024 24:00:00', '1 Jan 2024 10:00:00 +0199', 'id 12 from x']) {
      expect(parseMailDate(bad), bad).toBeUndefined();
    }
  });
});

describe('arrivalDateOf', () => {
  it('takes the topmost Received: header (folded, date after its last ";")', () => {
    const h = head([
      'Received: from mx.example.org (mx [192.0.2.1]) by pop.example.net;',
      '\tThu, 05 Sep 2024 08:00:01 +0200',
      'Received: from a; Wed, 04 Sep 2024 23:59:00 +0000',
      'Date: Wed, 04 Sep 2024 20:00:00 -0400',
      'Subject: x',
    ]);
    expect(iso(arrivalDateOf(h, NOW))).toBe('2024-09-05T06:00:01.000Z');
  });

  it('falls back to Date: when Received: has no usable date, and to nothing without either', () => {
    expect(iso(arrivalDateOf(head(['Received: by localhost (no date here)', 'Date: 1 Jan 2020 00:00:00 +0000']), NOW))).toBe('2020-01-01T00:00:00.000Z');
    expect(iso(arrivalDateOf(head(['Received: by x; garbage', 'Date: 1 Jan 2020 00:00:00 +0000']), NOW))).toBe('2020-01-01T00:00:00.000Z');
    expect(arrivalDateOf(head(['Subject: none']), NOW)).toBeUndefined();
  });

  it('ignores dates before 1970 or more than a day ahead', () => {
    expect(iso(arrivalDateOf(head(['Received: by x; 1 Jan 2099 00:00:00 +0000', 'Date: 1 Jan 2020 00:00:00 +0000']), NOW))).toBe('2020-01-01T00:00:00.000Z');
    expect(arrivalDateOf(head(['Date: 1 Jan 1960 00:00:00 +0000']), NOW)).toBeUndefined();
    expect(iso(arrivalDateOf(head(['Date: Thu, 26 Nov 2026 20:00:00 +0000']), NOW))).toBe('2026-11-26T20:00:00.000Z');
  });
});
