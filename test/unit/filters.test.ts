// Filter values, folder maps and job-file parsing: the pure parts of the command surface.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJobFile } from '../../src/engine/config-file.js';
import { buildFilter, filterReason, parseDate, parseMap, parseSize } from '../../src/engine/filters.js';
import { planFolders } from '../../src/engine/plan.js';
import type { MailboxInfo, MessageRef } from '../../src/drivers/types.js';

const ref = (size: number, date: string): MessageRef => ({ mailbox: 'INBOX', key: '1', seq: 1, size, internalDate: new Date(date), flags: [], messageId: null });
const box = (...segments: string[]): MailboxInfo => ({ path: segments.join('.'), segments, delimiter: '.' });

describe('filters', () => {
  it('dates: YYYY-MM-DD is midnight UTC, ISO date-times pass, nonsense is a usage error', () => {
    expect(parseDate('since', '2024-02-29').toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseDate('since', '2024-01-31T08:30:00+02:00').toISOString()).toBe('2024-01-31T06:30:00.000Z');
    // Without an offset: UTC whatever the machine's time zone (Date() would take it as local time).
    const tz = process.env.TZ;
    try {
      for (const zone of ['Pacific/Kiritimati', 'America/St_Johns', 'UTC']) {
        process.env.TZ = zone;
        expect(parseDate('since', '2024-01-31T00:00').toISOString(), zone).toBe('2024-01-31T00:00:00.000Z');
        expect(parseDate('since', '2024-01-31T08:30:15').toISOString(), zone).toBe('2024-01-31T08:30:15.000Z');
      }
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    for (const bad of ['2023-02-29', '2024-02-30T00:00:00Z', '2024-04-31T12:00', '2024-13-01', '31.01.2024', 'yesterday', '', '2024-1-1']) {
      expect(() => parseDate('since', bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });

  it('sizes: binary units, case-insensitive; zero, negative and unknown units refused', () => {
    expect(parseSize('max-size', '2048')).toBe(2048);
    expect(parseSize('max-size', '512K')).toBe(512 * 1024);
    expect(parseSize('max-size', '10mb')).toBe(10 * 1024 * 1024);
    expect(parseSize('max-size', '1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('max-size', '4MiB')).toBe(4 * 1024 * 1024);
    for (const bad of ['0', '-1', '10Q', 'M', 'ten']) expect(() => parseSize('max-size', bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('filterReason: size, then --since (inclusive), then --before (exclusive)', () => {
    const f = buildFilter({ since: '2024-01-01', before: '2024-02-01', maxSize: '1K' });
    expect(filterReason(f, ref(100, '2024-01-01T00:00:00Z'))).toBeNull();
    expect(filterReason(f, ref(2000, '2024-01-15T00:00:00Z'))).toBe('larger than --max-size');
    expect(filterReason(f, ref(100, '2023-12-31T23:59:59Z'))).toBe('older than --since');
    expect(filterReason(f, ref(100, '2024-02-01T00:00:00Z'))).toBe('not before --before');
    expect(() => buildFilter({ since: '2024-02-01', before: '2024-01-01' })).toThrow(/earlier than --before/);
  });

  it('filterReason: a message with no date of its own is dated now (as its copy is); one whose header is unread cannot be decided', () => {
    const undated = { ...ref(100, '2024-01-01T00:00:00Z'), internalDate: undefined };
    expect(filterReason(buildFilter({ before: '2000-01-01' }), undated)).toBe('not before --before');
    expect(filterReason(buildFilter({ since: '2030-01-01' }), undated)).toBe('older than --since');
    expect(filterReason(buildFilter({ since: '2000-01-01' }), undated)).toBeNull();
    expect(filterReason(buildFilter({ before: '2000-01-01' }), { ...undated, headerUnread: true })).toBeNull();
    // Its header read from the body since (the ref still says unread): undated, so dated now.
    expect(filterReason(buildFilter({ before: '2000-01-01' }), { ...undated, headerUnread: true }, true)).toBe('not before --before');
  });

  it('--map: OLD=NEW, subfolders follow, the longest match wins; a map of a missing folder is an error', () => {
    expect(parseMap('Sent Items=Sent')).toEqual({ from: ['Sent Items'], to: ['Sent'] });
    expect(() => parseMap('Sent Items')).toThrow(/is not SOURCE=DEST/);
    expect(() => parseMap('=Sent')).toThrow(/is not SOURCE=DEST/);
    const boxes = [box('INBOX'), box('Old'), box('Old', 'A'), box('Old', 'A', 'B'), box('Keep')];
    const plans = planFolders(boxes, { include: [], exclude: [], map: [parseMap('Old=Archive/Old'), parseMap('Old/A=Special')] });
    expect(Object.fromEntries(plans.map((p) => [p.name, p.destSegments.join('/')]))).toEqual({
      INBOX: 'INBOX', Old: 'Archive/Old', 'Old/A': 'Special', 'Old/A/B': 'Special/B', Keep: 'Keep',
    });
    expect(() => planFolders(boxes, { include: [], exclude: [], map: [parseMap('Nope=X')] })).toThrow(expect.objectContaining({ code: 'NO_SUCH_MAILBOX' }));
  });

  it('--folder/--exclude: INBOX in any case is INBOX, other names match case-sensitively', () => {
    const boxes = [box('INBOX'), box('INBOX', 'Sub'), box('Keep'), box('inboxes')];
    const names = (include: string[], exclude: string[] = []) => planFolders(boxes, { include, exclude }).map((p) => p.name);
    expect(names(['inbox'])).toEqual(['INBOX']);
    expect(names(['Inbox/*'])).toEqual(['INBOX/Sub']);
    expect(names([], ['inbox', 'inbox/**'])).toEqual(['Keep', 'inboxes']);
    expect(() => names(['keep'])).toThrow(expect.objectContaining({ code: 'NO_SUCH_MAILBOX' }));
  });

  it('a folder in the source URL that only holds other folders says so, and how to copy them', () => {
    const boxes = [box('INBOX'), { ...box('Parent'), noselect: true }, box('Parent', 'Child')];
    expect(() => planFolders(boxes, { include: [], exclude: [], only: ['Parent'] })).toThrow(
      expect.objectContaining({ code: 'NO_SUCH_MAILBOX', message: "the source folder 'Parent' holds no messages, only other folders", hint: "to copy the folders under it, drop it from the URL and add --folder 'Parent/**'" }),
    );
  });

  it('a hint listing the source folders says how many it leaves out', () => {
    const boxes = Array.from({ length: 14 }, (_, i) => box(`F${String(i).padStart(2, '0')}`));
    expect(() => planFolders(boxes, { include: ['nope'], exclude: [] })).toThrow(expect.objectContaining({ hint: expect.stringMatching(/F11 and 2 more \(mailferry folders lists them\)$/) }));
  });
});

describe('job files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mf-jobunit-'));
  const file = (text: string) => {
    const p = join(dir, `j${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(p, text);
    return p;
  };
  const schema = {
    source: { kind: 'string' as const },
    'source-password-file': { kind: 'string' as const, path: true },
    concurrency: { kind: 'integer' as const, min: 1, max: 64 },
    insecure: { kind: 'boolean' as const },
    dedupe: { kind: 'option' as const, options: ['message-id', 'content'] },
    folder: { kind: 'strings' as const },
    map: { kind: 'strings' as const, pairs: true },
  };

  it('types, relative paths, list-or-string, mapping form of map', async () => {
    const v = await readJobFile(file('source: imaps://a@b\nsource-password-file: pw\nconcurrency: 3\ninsecure: false\nfolder: INBOX\nmap:\n  Sent Items: Sent\n  Old: Archive/Old\n'), schema);
    expect(v).toEqual({ source: 'imaps://a@b', 'source-password-file': join(dir, 'pw'), concurrency: 3, insecure: false, folder: ['INBOX'], map: ['Sent Items=Sent', 'Old=Archive/Old'] });
    expect(await readJobFile(file(''), schema)).toEqual({});
  });

  it('a value its flag reads as a number may be a number (max-size: 1048576), checked as the flag checks it', async () => {
    const sized = { ...schema, 'max-size': { kind: 'string' as const, check: (v: string) => parseSize('max-size', v) } };
    expect(await readJobFile(file('max-size: 1048576\n'), sized)).toEqual({ 'max-size': '1048576' });
    await expect(readJobFile(file('max-size: -5\n'), sized)).rejects.toThrow(/line 1: 'max-size': '-5' is not a size/);
    await expect(readJobFile(file('source: 42\n'), sized)).rejects.toThrow(/line 1: 'source' must be a string/);
  });

  it('errors name the file, the line and the key', async () => {
    const p = file('source: imaps://a@b\n\nconcurrency: 65\n');
    await expect(readJobFile(p, schema)).rejects.toThrow(`${p} line 3: 'concurrency' must be at most 64`);
    await expect(readJobFile(file('insecure: "yes"\n'), schema)).rejects.toThrow(/line 1: 'insecure' must be true or false/);
    await expect(readJobFile(file('folder: [1, 2]\n'), schema)).rejects.toThrow(/line 1: 'folder' must be a list of strings/);
    const oneLine = async (text: string) => {
      try {
        await readJobFile(file(text), schema);
      } catch (err) {
        return (err as { oneLine(): string }).oneLine();
      }
      return 'no error';
    };
    expect(await oneLine('sourc: x\n')).toMatch(/line 1: unknown key 'sourc' \(did you mean 'source'\?\)$/);
    expect(await oneLine('zzzzzz: x\n')).toMatch(/unknown key 'zzzzzz' \(keys are the long flag names/);
  });
});
