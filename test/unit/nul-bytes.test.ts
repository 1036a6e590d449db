// Which IMAP BODY[] may hide a NUL (Dovecot serves NUL as 0x80), and when a BINARY[] is the same
// message with its NULs back rather than a decoded one.
import { describe, expect, it } from 'vitest';
import { mayHideNul, withNulsRestored } from '../../src/drivers/imap/nul-bytes.js';

const b = (s: string, enc: BufferEncoding = 'latin1') => Buffer.from(s, enc);

describe('mayHideNul', () => {
  it('is false for 0x80 inside UTF-8 characters (’ – … € À Ā 𐀀)', () => {
    expect(mayHideNul(b('Here’s – … € À Ā 𐀀 and more', 'utf8'))).toBe(false);
    expect(mayHideNul(b('plain ascii'))).toBe(false);
  });
  it('is true for an 0x80 that is no part of a UTF-8 character', () => {
    expect(mayHideNul(b('a\x80b'))).toBe(true); // a NUL as Dovecot serves it, or a Windows-1252 euro
    expect(mayHideNul(b('\x80 at the start'))).toBe(true);
    expect(mayHideNul(Buffer.concat([b('é', 'utf8'), b('\x80')]))).toBe(true); // after a complete character
    expect(mayHideNul(b('\xe2\x80'))).toBe(true); // a truncated three-byte character
    expect(mayHideNul(b('\xc0\x80'))).toBe(true); // an overlong encoding is not UTF-8
  });
});

describe('withNulsRestored', () => {
  it('takes BINARY[] when it differs only by NULs where BODY[] had 0x80', () => {
    const body = b('a\x80b\x80\x80c');
    const binary = b('a\x00b\x00\x00c');
    expect(withNulsRestored(body, binary)).toBe(binary);
  });
  it('keeps BODY[] when BINARY[] decoded something or changed nothing', () => {
    expect(withNulsRestored(b('a\x80b'), b('a\x80b'))).toBeUndefined();
    expect(withNulsRestored(b('CTE: base64\n\nQUJD\x80'), b('CTE: binary\n\nABC\x00'))).toBeUndefined();
    expect(withNulsRestored(b('x=80\x80'), b('x=A0\x00'))).toBeUndefined();
  });
});
