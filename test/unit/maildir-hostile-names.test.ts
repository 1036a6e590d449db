// Folder names from a server are data, never paths: every hostile component is encoded so the
// directory is one direct child of the root, and names that cannot be stored are refused.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSegment, folderDirName, segmentsOfDirName } from '../../src/drivers/maildir/names.js';
import { MaildirSink } from '../../src/drivers/maildir/sink.js';

const HOSTILE: string[][] = [
  ['..', '..', 'x'],
  ['a', '..', '..', 'b'],
  ['.'],
  ['..'],
  ['...'],
  ['a/b'],
  ['/etc/passwd'],
  ['cr\r\nlf'],
  ['tab\tand\x7fdel'],
  ['\\..\\..\\win'],
  ['~', '$HOME'],
  ['&', '&-', '&AC4-'],
  ['Café ☕', '日本'],
];

describe('folderDirName on hostile names', () => {
  it.each(HOSTILE.map((s) => [JSON.stringify(s), s]))('%s stays one child of the root and round-trips', (_label, segments) => {
    const name = folderDirName(segments as string[]);
    expect(name.startsWith('.')).toBe(true);
    expect(name).not.toContain('/');
    expect(name).not.toContain('..');
    expect(name).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(name === '.' || name === '..').toBe(false);
    const root = '/srv/backup';
    expect(dirname(resolve(root, name))).toBe(root);
    expect(segmentsOfDirName(name)).toEqual(segments);
  });

  it('refuses NUL, empty and over-long names with a mailbox-scoped error', () => {
    for (const bad of [['a\0b'], [], [''], ['x'.repeat(300)]]) {
      let err: { code?: string; scope?: string } | undefined;
      try {
        folderDirName(bad);
      } catch (e) {
        err = e as { code?: string; scope?: string };
      }
      expect(err?.code, JSON.stringify(bad)).toBe('BAD_MAILBOX_NAME');
      expect(err?.scope).toBe('mailbox');
    }
  });

  it('decodes an invalid encoding literally rather than into a path', () => {
    expect(decodeSegment('&Lw-')).toBe('&Lw-'); // odd byte count: not UTF-16, kept as it is
    expect(decodeSegment('&AC8-')).toBe('/'); // a '/' hidden in an encoding is data, encoded again on write
    expect(folderDirName([decodeSegment('&AC8-')])).toBe('.&AC8-');
    expect(folderDirName([decodeSegment('&AC4ALg-')])).toBe('.&AC4ALg-');
  });
});

describe('MaildirSink refuses sink folder names outside the root', () => {
  it('scan() of a name that is a path fails with BAD_MAILBOX_NAME and touches nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mf-names-'));
    const sink = await MaildirSink.open(join(root, 'dest'));
    for (const bad of ['..', '.', '../x', '.a/../../b', 'x', '.\0']) {
      const it = sink.scan(bad)[Symbol.asyncIterator]();
      await expect(it.next(), bad).rejects.toMatchObject({ code: 'BAD_MAILBOX_NAME' });
    }
    expect(readdirSync(root)).toEqual(['dest']);
  });
});
