/**
 * Mailbox names in modified UTF-7 (patches/imapflow+2.10.2.patch, dist/esm/utf7-imap.js), which
 * imapflow had from iconv-lite: the codec must give what iconv-lite gives, for every name, malformed
 * ones from a server included, so that a folder keeps its name (and its Maildir path, its
 * checkpoint) from one version to the next.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { random } from '../harness/random.js';
import { decodeUtf7Imap, encodeUtf7Imap } from 'imapflow/lib/utf7-imap.js';

/** The iconv-lite imapflow itself would load (its own, wherever npm put it). */
const iconv = createRequire(createRequire(import.meta.url).resolve('imapflow'))('iconv-lite') as typeof import('iconv-lite');

const iconvEncode = (s: string) => iconv.encode(s, 'utf-7-imap').toString();
const iconvDecode = (s: string) => iconv.decode(Buffer.from(s), 'utf-7-imap');

/** Characters that matter to the codec: its markers, base64's, BOMs, surrogates, controls, 8-bit. */
const PARTS = ['a', 'Z', '0', 'A', 'O', 'k', '&', '-', ',', '/', '+', '=', ' ', '.', '\t', '\0', '\x7f', '\x80', 'é', '☕', '\ufeff', '\ud83d', '\udca9', '\uffff', '&-', '&AOk-', '&Jh', '&/v8-'];

function names(n: number, seed: number): string[] {
  const next = random(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let s = '';
    const len = Math.floor(next() * 12);
    for (let k = 0; k < len; k++) s += next() < 0.3 ? String.fromCharCode(Math.floor(next() * 0x10000)) : PARTS[Math.floor(next() * PARTS.length)]!;
    out.push(s);
  }
  return out;
}

describe('modified UTF-7 mailbox names', () => {
  it('encodes and decodes the names a user has', () => {
    expect(encodeUtf7Imap('Café ☕')).toBe('Caf&AOk- &JhU-');
    expect(decodeUtf7Imap('Caf&AOk- &JhU-')).toBe('Café ☕');
    expect(encodeUtf7Imap('Tom & Jerry')).toBe('Tom &- Jerry');
    expect(decodeUtf7Imap('Tom &- Jerry')).toBe('Tom & Jerry');
    expect(encodeUtf7Imap('台北')).toBe('&U,BTFw-');
    expect(decodeUtf7Imap('&U,BTFw-')).toBe('台北');
    expect(encodeUtf7Imap('💩')).toBe('&2D3cqQ-');
    expect(encodeUtf7Imap('INBOX')).toBe('INBOX');
  });

  it('gives what iconv-lite gives, for 20,000 names and for what it makes of each', () => {
    let compared = 0;
    for (const s of names(20_000, 7)) {
      const encoded = iconvEncode(s);
      expect(encodeUtf7Imap(s), JSON.stringify(s)).toBe(encoded);
      expect(decodeUtf7Imap(encoded), encoded).toBe(iconvDecode(encoded));
      // The name as a server might send it: anything, malformed included.
      expect(decodeUtf7Imap(s), JSON.stringify(s)).toBe(iconvDecode(s));
      compared++;
    }
    expect(compared).toBe(20_000);
  });

  it('reads malformed names as iconv-lite does', () => {
    for (const s of ['&', '&-', '&AOk', '&AOk&-', 'Caf\u00e9&', '&/v8-x', 'a&/v8-x', '&/v/+/w', '&AGEA-', '&&-', '&-&', '&A', '&AO', '&AOkA6QDp', '&AOkA6QDpAOk', '-&,,,,-', '&2D3cqQ']) {
      expect(decodeUtf7Imap(s), JSON.stringify(s)).toBe(iconvDecode(s));
    }
  });
});
