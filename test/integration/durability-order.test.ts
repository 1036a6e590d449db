// What a power cut may keep: only what was fsynced. A kill (test/faults/kill-sweep.test.ts) keeps
// the page cache, so it cannot show a message recorded as copied before its file and its
// directory entry reached the disk. These tests read the order of the real CLI's system calls
// (strace) instead: a message is recorded as copied, and a POP3 message deleted, only once its
// file was fsynced, renamed into cur/, and that directory fsynced after the rename.
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CORPUS_GROUPS, seedCorpus } from '../harness/corpus.js';
import { harness } from '../harness/env.js';
import { readTrace, runTraced, type TracedCall } from '../harness/strace.js';

const h = harness();
const env = { MAILFERRY_SOURCE_PASSWORD: 'pass' };
const CALLS = ['rename', 'fsync', 'fdatasync', 'write'];
let work: string;

beforeAll(() => {
  // Its real path: strace names files by theirs.
  work = realpathSync(mkdtempSync(join(tmpdir(), 'mf-durable-')));
});

interface Durable {
  /** A message file's name in cur/ (without ":2,…") → the line its rename returned on, and the
   * line on which a later fsync of its directory returned (Infinity if none did). */
  files: Map<string, { renamed: number; dirSynced: number }>;
  /** Message files renamed into cur/ before their own fsync returned. */
  unsyncedRenames: string[];
}

function durability(calls: TracedCall[]): Durable {
  const fileSynced = new Map<string, number>();
  const files = new Map<string, { renamed: number; dirSynced: number; dir: string }>();
  const unsyncedRenames: string[] = [];
  for (const c of calls) {
    if ((c.name === 'fsync' || c.name === 'fdatasync') && c.fdPath !== undefined) {
      if (/\/(cur|new)$/.test(c.fdPath)) {
        for (const f of files.values()) if (f.dir === c.fdPath && f.renamed < c.start) f.dirSynced = Math.min(f.dirSynced, c.end);
      } else fileSynced.set(c.fdPath, c.end);
    } else if (c.name === 'rename' && c.strings.length === 2) {
      const [from, to] = c.strings.map((s) => s.toString('utf8')) as [string, string];
      if (!/\/cur\/[^/]+$/.test(to)) continue;
      if (!((fileSynced.get(from) ?? Infinity) < c.start)) unsyncedRenames.push(to);
      files.set(basename(to).replace(/:2,.*$/, ''), { renamed: c.end, dirSynced: Infinity, dir: dirname(to) });
    }
  }
  return { files, unsyncedRenames };
}

/** The journal's "copied" records, each with the line its write started on. */
function copiedRecords(calls: TracedCall[], checkpoint: string): Array<{ dk: string; written: number }> {
  const out: Array<{ dk: string; written: number }> = [];
  let rest = '';
  for (const c of calls) {
    if (c.name !== 'write' || c.fdPath !== checkpoint || c.strings[0] === undefined) continue;
    const lines = (rest + c.strings[0].toString('utf8')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      const r = JSON.parse(line) as { t: string; dk?: string };
      if (r.t === 'c' && r.dk !== undefined) out.push({ dk: r.dk, written: c.start });
    }
  }
  return out;
}

describe('durable before recorded (the order of system calls, read with strace)', () => {
  it('IMAP → Maildir: each message is recorded as copied only after its file, its rename and its directory were fsynced', async () => {
    const src = (await h.freshUser('durable')).name;
    const seeded = await seedCorpus(h, src, { limitPerGroup: 20 });
    const checkpoint = join(work, 'imap.journal');
    const trace = join(work, 'imap.trace');
    const r = await runTraced(
      ['copy', `imap://${src}@${h.host}:${h.ports.imap}`, `maildir:${join(work, 'M')}`, '--source-tls', 'none', '--checkpoint', checkpoint, '--json'],
      { env, trace, calls: CALLS },
    );
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const copied = JSON.parse(r.stdout).result.copied as number;
    expect(copied).toBe(seeded.length);

    const calls = readTrace(trace);
    const { files, unsyncedRenames } = durability(calls);
    const records = copiedRecords(calls, checkpoint);
    expect(records).toHaveLength(copied);
    expect(unsyncedRenames).toEqual([]);
    const early = records.filter(({ dk, written }) => !((files.get(dk)?.dirSynced ?? Infinity) < written));
    expect(early.map((e) => e.dk)).toEqual([]);
  });

  it('POP3 → Maildir with --delete-source: no message is deleted before as many copies are durable', async () => {
    const pop = (await h.freshUser('durable-pop')).name;
    const seeded = await seedCorpus(h, pop, { limitPerGroup: 12, layout: Object.fromEntries(CORPUS_GROUPS.map((g) => [g, 'INBOX'])) });
    const trace = join(work, 'pop.trace');
    const r = await runTraced(
      ['copy', `pop3://${pop}@${h.host}:${h.ports.pop3}`, `maildir:${join(work, 'P')}`, '--source-tls', 'none', '--checkpoint', join(work, 'pop.journal'), '--delete-source', '--json'],
      { env, trace, calls: CALLS },
    );
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.result.copied + doc.result.skipped).toBe(seeded.length);

    const calls = readTrace(trace);
    const { files, unsyncedRenames } = durability(calls);
    expect(unsyncedRenames).toEqual([]);
    const durableAt = [...files.values()].map((f) => f.dirSynced).sort((a, b) => a - b);
    let deleted = 0;
    const early: number[] = [];
    for (const c of calls) {
      if (c.name !== 'write' || !/^socket:/.test(c.fdPath ?? '') || c.strings[0] === undefined) continue;
      const n = (c.strings[0].toString('latin1').match(/^DELE \d+\r$/gm) ?? []).length;
      if (n === 0) continue;
      deleted += n;
      // The copies durable by the time this DELE was sent: at least one per message deleted.
      const durable = durableAt.filter((at) => at < c.start).length;
      if (durable < deleted - doc.result.skipped) early.push(deleted);
    }
    expect(deleted).toBe(seeded.length);
    expect(early).toEqual([]);
  });
});
