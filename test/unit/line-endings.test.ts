import { describe, expect, it } from 'vitest';
import { crlfToLf, lfToCrlf } from '../../src/mail/line-endings.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('line endings', () => {
  it('CRLF → LF, lone CR kept, 8-bit bytes untouched', () => {
    expect(crlfToLf(b('a\r\nb\rc\r\n\xff\xfe\r\n'))).toEqual(b('a\nb\rc\n\xff\xfe\n'));
    expect(crlfToLf(b('\r\n'))).toEqual(b('\n'));
    expect(crlfToLf(b('no newline'))).toEqual(b('no newline'));
  });
  it('keeps CR CR LF, which a Maildir reader serves unchanged', () => {
    expect(crlfToLf(b('x\r\r\ny\r\n'))).toEqual(b('x\r\r\ny\n'));
  });
  it('LF → CRLF leaves existing CRLF alone', () => {
    expect(lfToCrlf(b('a\nb\r\nc\rd\n'))).toEqual(b('a\r\nb\r\nc\rd\r\n'));
    expect(lfToCrlf(b('\n\n'))).toEqual(b('\r\n\r\n'));
  });
  it('CRLF → LF equals the rule, byte by byte, for every mix of CR, LF and text', () => {
    // The rule, written the slow way: drop a CR that is followed by LF and not preceded by CR.
    const slow = (x: Buffer) => Buffer.from([...x].filter((c, k) => !(c === 0x0d && x[k + 1] === 0x0a && x[k - 1] !== 0x0d)));
    const alphabet = ['\r', '\n', 'a'];
    let level = [''];
    for (let len = 1; len <= 8; len++) {
      level = level.flatMap((s) => alphabet.map((c) => s + c));
      for (const s of level) expect(crlfToLf(b(s)), JSON.stringify(s)).toEqual(slow(b(s)));
    }
  });
  it('round-trips every mix of CR, LF and text without bare LFs', () => {
    const alphabet = ['\r', '\n', 'a'];
    const all: string[] = [''];
    for (let len = 1; len <= 7; len++) for (const s of all.filter((x) => x.length === len - 1)) for (const c of alphabet) all.push(s + c);
    for (const s of all) {
      const served = lfToCrlf(b(s)); // what a server sends: no bare LF
      expect(lfToCrlf(crlfToLf(served)), JSON.stringify(s)).toEqual(served);
    }
  });
});
