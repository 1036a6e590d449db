// The Maildir source reads many files at once (listing: stat and header; fetch: bodies) and must
// still answer in order, find a file a mail client renamed after the listing (a flag change), and
// leave out one that was deleted meanwhile.
import { mkdirSync, mkdtempSync, renameSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MaildirSource } from '../../src/drivers/maildir/source.js';
import type { MessageRef } from '../../src/drivers/types.js';

const N = 150;

function makeMaildir(): string {
  const root = mkdtempSync(join(tmpdir(), 'mf-mdread-'));
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(root, d));
  for (let i = 0; i < N; i++) {
    const sub = i % 10 === 0 ? 'new' : 'cur';
    const name = `${1_700_000_000 + i}.M${i}P1.host${sub === 'cur' ? ':2,S' : ''}`;
    const path = join(root, sub, name);
    writeFileSync(path, `Message-ID: <m${i}@test>\nSubject: ${i}\n\n${'body '.repeat(i * 50)}${i}\n`);
    const t = new Date((1_700_000_000 + i) * 1000);
    utimesSync(path, t, t);
  }
  return root;
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('MaildirSource: listing and fetching many files at once', () => {
  it('lists every file once, by date, with its Message-ID and flags', async () => {
    const src = await MaildirSource.open(makeMaildir());
    await src.listMailboxes();
    const refs = await all(src.list('INBOX'));
    expect(refs.map((r) => r.messageId)).toEqual(Array.from({ length: N }, (_, i) => `<m${i}@test>`));
    expect(refs.map((r) => r.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
    expect(refs[1]!.flags).toEqual(['\\Seen']);
    expect(refs[0]!.flags).toEqual([]); // from new/
  });

  it('fetch: bodies in the order asked; a file renamed since the listing is found, a deleted one left out', async () => {
    const root = makeMaildir();
    const src = await MaildirSource.open(root);
    await src.listMailboxes();
    const refs: MessageRef[] = await all(src.list('INBOX'));
    // A mail client marks message 7 answered (rename) and deletes message 8.
    renameSync(join(root, 'cur', `${1_700_000_007}.M7P1.host:2,S`), join(root, 'cur', `${1_700_000_007}.M7P1.host:2,RS`));
    unlinkSync(join(root, 'cur', `${1_700_000_008}.M8P1.host:2,S`));
    const reader = await src.reader();
    const got = await all(reader.fetch('INBOX', refs.slice().reverse()));
    const expected = refs.slice().reverse().filter((r) => r.key !== `${1_700_000_008}.M8P1.host`);
    expect(got.map((m) => m.ref.key)).toEqual(expected.map((r) => r.key));
    for (const m of got) {
      const i = Number(m.ref.messageId!.slice(2, -6));
      expect(m.body.equals(Buffer.from(`Message-ID: <m${i}@test>\nSubject: ${i}\n\n${'body '.repeat(i * 50)}${i}\n`)), m.ref.key).toBe(true);
    }
  });
});

describe('MaildirSource: done keys (ListOptions.known)', () => {
  it('are listed without a stat or a header read; the others in full', async () => {
    const root = makeMaildir();
    const src = await MaildirSource.open(root);
    await src.listMailboxes();
    const all1 = await all(src.list('INBOX'));
    const known = new Set(all1.slice(0, 100).map((r) => r.key));
    const refs = await all(src.list('INBOX', { known }));
    expect(refs).toHaveLength(N);
    for (const r of refs) {
      if (known.has(r.key)) expect([r.size, r.internalDate, r.messageId]).toEqual([0, undefined, null]);
      else expect(r.size).toBeGreaterThan(0), expect(r.internalDate).toBeInstanceOf(Date), expect(r.messageId).toMatch(/^<m\d+@test>$/);
    }
    // The rest still come in date order.
    const rest = refs.filter((r) => !known.has(r.key)).map((r) => r.internalDate!.getTime());
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
  });

  it('files that share a key: after a rename, each key still fetches its own file (told apart by inode), never the other', async () => {
    const root = mkdtempSync(join(tmpdir(), 'mf-mdread-'));
    for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'cur', 'K.host:2,S'), 'Message-ID: <first@same>\n\nfirst\n');
    writeFileSync(join(root, 'cur', 'K.host:2,RS'), 'Message-ID: <second@same>\n\nsecond\n');
    const src = await MaildirSource.open(root);
    await src.listMailboxes();
    const refs: MessageRef[] = await all(src.list('INBOX'));
    expect(refs.map((r) => r.key).sort()).toEqual(['K.host', 'K.host:cur/K.host:2,S']);
    // Both renamed by a mail client (flags) after the listing: each is found again by its inode.
    renameSync(join(root, 'cur', 'K.host:2,RS'), join(root, 'cur', 'K.host:2,FRS'));
    renameSync(join(root, 'cur', 'K.host:2,S'), join(root, 'cur', 'K.host:2,ST'));
    const reader = await src.reader();
    const got = await all(reader.fetch('INBOX', refs));
    const byKey = Object.fromEntries(got.map((m) => [m.ref.key, m.ref.messageId + ' ' + m.body.toString().trim().split('\n').pop()]));
    for (const r of refs) expect(byKey[r.key], r.key).toBe(`${r.messageId} ${r.messageId === '<first@same>' ? 'first' : 'second'}`);
  });
});
