import { describe, expect, it } from 'vitest';
import { crlfToLf, lfToCrlf } from '../../src/mail/line-endings.js';

const b = (s: string) => Buffer.from(s, 'latin1');

// The rules, written the slow way. CRLF → LF: drop a CR that is followed by LF and not preceded by CR.
const dropCr = (x: Buffer) => Buffer.from([...x].filter((c, k) => !(c === 0x0d && x[k + 1] === 0x0a && x[k - 1] !== 0x0d)));
// LF → CRLF: a CR before every LF that has none.
const addCr = (x: Buffer) => Buffer.from([...x].flatMap((c, k) => (c === 0x0a && x[k - 1] !== 0x0d ? [0x0d, 0x0a] : [c])));

/** Every string of CR, LF and 'a' of 1 to `max` characters. */
function* everyMix(max: number): Generator<string> {
  let level = [''];
  for (let len = 1; len <= max; len++) {
    level = level.flatMap((s) => ['\r', '\n', 'a'].map((c) => s + c));
    yield* level;
  }
}

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
    for (const s of everyMix(8)) expect(crlfToLf(b(s)), JSON.stringify(s)).toEqual(dropCr(b(s)));
  });
  it('LF → CRLF equals the rule, byte by byte, for every mix of CR, LF and text', () => {
    for (const s of everyMix(8)) expect(lfToCrlf(b(s)), JSON.stringify(s)).toEqual(addCr(b(s)));
  });
  it('both ways equal the rule on long lines and long runs of line ends', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    for (let t = 0; t < 300; t++) {
      const parts: string[] = [];
      for (let k = rand(40); k >= 0; k--) parts.push(['\r\n', '\n', '\r', '\r\r\n', 'x'.repeat(rand(3) === 0 ? rand(5000) : rand(80))][rand(5)]!);
      const x = b(parts.join(''));
      expect(crlfToLf(x).equals(dropCr(x)), JSON.stringify(parts)).toBe(true);
      expect(lfToCrlf(x).equals(addCr(x)), JSON.stringify(parts)).toBe(true);
    }
  });
  it('round-trips every mix of CR, LF and text without bare LFs', () => {
    for (const s of ['', ...everyMix(7)]) {
      const served = lfToCrlf(b(s)); // what a server sends: no bare LF
      expect(lfToCrlf(crlfToLf(served)), JSON.stringify(s)).toEqual(served);
    }
  });
});
