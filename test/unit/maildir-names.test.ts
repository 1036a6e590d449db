import { describe, expect, it } from 'vitest';
import { decodeSegment, encodeSegment, folderDirName, nestedSegment, segmentsOfDirName } from '../../src/drivers/maildir/names.js';
import { flagsToInfo, infoToFlags } from '../../src/drivers/maildir/flags.js';

describe('Maildir++ folder names', () => {
  it('names folders the way Dovecot does', () => {
    expect(folderDirName(['INBOX'])).toBe('');
    expect(folderDirName(['inbox'])).toBe('');
    expect(folderDirName(['Archive', '2002'])).toBe('.Archive.2002');
    expect(folderDirName(['Café ☕'])).toBe('.Caf&AOk- &JhU-');
    expect(folderDirName(['INBOX', 'Sub'])).toBe('.INBOX.Sub');
    expect(folderDirName(['R&D'])).toBe('.R&-D');
    expect(folderDirName(['日本語'])).toBe('.&ZeVnLIqe-');
    expect(folderDirName(['😀'])).toBe('.&2D3eAA-');
  });
  it('never lets a name become a path: dots, slashes and control characters are encoded', () => {
    for (const hostile of [['..'], ['.'], ['../../etc'], ['a/../../b'], ['x\ny'], ['a.b'], ['/abs'], ['\r\n']]) {
      const d = folderDirName(hostile);
      expect(d.startsWith('.')).toBe(true);
      expect(d).not.toContain('/');
      expect(d.slice(1)).not.toMatch(/(^|\.)\.\.?($|\.)/);
      expect(d === '.' || d === '..').toBe(false);
      expect(/[\x00-\x1f]/.test(d)).toBe(false);
      expect(segmentsOfDirName(d)).toEqual(hostile);
    }
  });
  it('refuses NUL and absurd lengths, with a folder-scoped error', () => {
    expect(() => folderDirName(['a\0b'])).toThrow(/NUL/);
    expect(() => folderDirName(['x'.repeat(300)])).toThrow(/too long/);
    // Named in 80 whole characters (an emoji is two UTF-16 units: never cut in half), with a way out.
    try {
      folderDirName(['a' + '📧'.repeat(40), '📧'.repeat(40)]);
      expect.unreachable();
    } catch (e) {
      const err = e as Error & { hint?: string };
      expect(err.message).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      expect(err.message).toContain('a' + '📧'.repeat(40) + '/' + '📧'.repeat(38) + '…');
      expect(err.hint).toMatch(/--exclude|--map/);
    }
    try {
      folderDirName(['a\0b']);
    } catch (e) {
      expect((e as { scope: string }).scope).toBe('mailbox');
    }
  });
  it('round-trips any component', () => {
    for (const s of ['plain', 'Café ☕', 'a&b', '&', '&-', 'x.y/z', 'über.ß', '😀😀', ' lead', 'trail ', 'Sent Items']) {
      expect(decodeSegment(encodeSegment(s))).toBe(s);
    }
  });
});

describe('nested-layout names (mbsync Verbatim, offlineimap)', () => {
  it('valid modified UTF-7 is decoded, anything else is taken literally', () => {
    expect(nestedSegment('Caf&AOk- &JhU-')).toBe('Café ☕');
    expect(nestedSegment('a&-b')).toBe('a&b');
    expect(nestedSegment('R&D')).toBe('R&D');
    expect(nestedSegment('Tom & Jerry')).toBe('Tom & Jerry');
    expect(nestedSegment('plain')).toBe('plain');
    expect(nestedSegment('x&AOk')).toBe('x&AOk');
  });
  it("'&' followed by something that is no modified UTF-7 run keeps the name as it is (offlineimap's utf8foldernames, a hand-made name)", () => {
    expect(nestedSegment('Q&A-Team')).toBe('Q&A-Team'); // the run 'A' is no character
    expect(nestedSegment('R&D-2024')).toBe('R&D-2024');
    expect(nestedSegment('A&B-C')).toBe('A&B-C');
    expect(nestedSegment('x&AAA-y')).toBe('x&AAA-y'); // a NUL
    expect(nestedSegment('Lists&AC4-2024')).toBe('Lists&AC4-2024'); // '.' is never encoded by IMAP
    expect(nestedSegment('a&2D0-b')).toBe('a&2D0-b'); // half a surrogate pair
    expect(nestedSegment('Caf&AOk-&-Co')).toBe('Café&Co');
    expect(nestedSegment('a&-b&AOk')).toBe('a&-b&AOk'); // a run never closed
    expect(nestedSegment('&ZeVnLIqe-')).toBe('日本語');
  });
});

describe('Maildir++ names written by other programs', () => {
  it("mbsync's INBOX subfolders ('..sub', SubFolders Maildir++) are INBOX's", () => {
    expect(segmentsOfDirName('..sub')).toEqual(['INBOX', 'sub']);
    expect(segmentsOfDirName('..sub.subsub')).toEqual(['INBOX', 'sub', 'subsub']);
    expect(segmentsOfDirName('.INBOX.sub')).toEqual(['INBOX', 'sub']);
  });
  it('a run that decodes to no character, or to a NUL, is kept as written', () => {
    expect(segmentsOfDirName('.Q&A-Team')).toEqual(['Q&A-Team']);
    expect(segmentsOfDirName('.x&AAA-y')).toEqual(['x&AAA-y']);
    expect(segmentsOfDirName('.Lists&AC4-2024')).toEqual(['Lists.2024']); // mailferry's own '.'
  });
});

describe('Maildir flags', () => {
  it('maps system flags to sorted info letters and back', () => {
    expect(flagsToInfo(['\\Seen', '\\Flagged', '\\Answered', '\\Draft', '\\Deleted', '$Forwarded', '\\Recent'])).toBe('DFRST');
    expect(flagsToInfo([])).toBe('');
    expect(infoToFlags('123.abc:2,FS')).toEqual(['\\Flagged', '\\Seen']);
    expect(infoToFlags('123.abc:2,')).toEqual([]);
    expect(infoToFlags('123.abc')).toEqual([]);
  });
});
