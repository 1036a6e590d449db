// A source may let go of what it keeps to read a folder's messages once the copy of that folder
// is over (Source.release): a Maildir source keeps each listed file's name by key, and held those
// of every folder to the end of the run. What still reads the folder after a release (a message
// that waited on a duplicate's outcome and is stored in its place) finds its file the slow way.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Journal } from '../../src/checkpoint/journal.js';
import { MaildirSource } from '../../src/drivers/maildir/source.js';
import type { MessageRef, Sink, SinkWriter } from '../../src/drivers/types.js';
import { copy } from '../../src/engine/copy.js';
import type { FolderPlan } from '../../src/engine/plan.js';
import { silentLogger } from '../../src/log.js';

const msg = (id: string) => Buffer.from(`Message-ID: <${id}@release.test>\nSubject: ${id}\n\nbody ${id}\n`);

function maildir(folders: Record<string, string[]>): string {
  const root = join(mkdtempSync(join(tmpdir(), 'mf-release-')), 'Maildir');
  for (const [folder, ids] of Object.entries(folders)) {
    const dir = folder === 'INBOX' ? root : join(root, '.' + folder);
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(dir, sub), { recursive: true });
    ids.forEach((id, i) => writeFileSync(join(dir, 'cur', `1700000000.M${i}P1.${id},S=${msg(id).length}:2,S`), msg(id)));
  }
  return root;
}

describe('Source.release', () => {
  it('a Maildir source released of a folder still reads its messages', async () => {
    const source = await MaildirSource.open(maildir({ INBOX: ['a', 'b', 'c'] }));
    await source.listMailboxes();
    const refs: MessageRef[] = [];
    for await (const r of source.list('INBOX')) refs.push(r);
    source.release('INBOX');
    const reader = await source.reader();
    const got: string[] = [];
    for await (const m of reader.fetch('INBOX', refs)) got.push(m.body.toString('latin1'));
    expect(got).toEqual(['a', 'b', 'c'].map((id) => msg(id).toString('latin1')));
    await source.close();
  });

  it('a released folder still reads two files that share a unique name (told apart by inode)', async () => {
    const root = maildir({ INBOX: [] });
    // One unique part, two files: a sync conflict, one in cur/ and one in new/.
    writeFileSync(join(root, 'cur', '1700000000.M9P9.twin,S=40:2,S'), msg('twin-a'));
    writeFileSync(join(root, 'new', '1700000000.M9P9.twin,S=40'), msg('twin-b'));
    const source = await MaildirSource.open(root);
    await source.listMailboxes();
    const refs: MessageRef[] = [];
    for await (const r of source.list('INBOX')) refs.push(r);
    expect(refs).toHaveLength(2);
    source.release('INBOX');
    const reader = await source.reader();
    const got: string[] = [];
    for await (const m of reader.fetch('INBOX', refs)) got.push(m.body.toString('latin1'));
    expect(got.sort()).toEqual([msg('twin-a'), msg('twin-b')].map((b) => b.toString('latin1')).sort());
    await source.close();
  });

  it('the engine releases each folder once every message of it is stored, not before', async () => {
    const source = await MaildirSource.open(maildir({ INBOX: ['a', 'b'], One: ['c', 'd', 'e'], Two: ['f'] }));
    const boxes = await source.listMailboxes();
    const events: string[] = [];
    const release = source.release.bind(source);
    source.release = (box: string) => {
      events.push(`release ${box}`);
      release(box);
    };
    const sink: Sink = {
      caps: { lineEndings: 'lf' },
      ensureMailbox: async (segments: string[]) => segments.join('/'),
      async *scan() {},
      writer: async (): Promise<SinkWriter> => ({
        put: async (box, body) => {
          await new Promise((r) => setTimeout(r, 5));
          events.push(`put ${box} ${/Subject: (\w+)/.exec(body.toString('latin1'))![1]}`);
          return String(events.length);
        },
        flush: async () => {},
        close: async () => {},
      }),
      close: async () => {},
    };
    const plans: FolderPlan[] = boxes.map((b) => ({ source: b, name: b.segments.join('/'), destSegments: b.segments }));
    const journal = Journal.open(join(mkdtempSync(join(tmpdir(), 'mf-release-')), 'cp'), { header: { job: 'j', source: 's', dest: 'd' } });
    const result = await copy({ source, sink, plans, journal, concurrency: 2, batchMessages: 1, dedupe: 'message-id', retries: 0, log: silentLogger });
    journal.close();
    expect(result.copied).toBe(6);
    const at = (e: string) => events.indexOf(e);
    for (const [box, ids] of [['INBOX', ['a', 'b']], ['.One', ['c', 'd', 'e']], ['.Two', ['f']]] as const) {
      expect(at(`release ${box}`)).toBeGreaterThan(-1);
      const dest = box === 'INBOX' ? 'INBOX' : box.slice(1);
      for (const id of ids) expect(at(`put ${dest} ${id}`)).toBeLessThan(at(`release ${box}`));
    }
    await source.close();
  });
});
