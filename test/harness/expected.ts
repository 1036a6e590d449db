// What a Message-ID-deduplicating copy of seeded mail should produce, and a check of a Maildir
// against it: every kept message exactly once, as an IMAP client would see it.
import { createHash } from 'node:crypto';
import { normalizeMessageId } from '../../src/mail/headers.js';
import { lfToCrlf } from '../../src/mail/line-endings.js';
import type { ManifestEntry } from './manifest.js';
import { readMaildirTree } from './maildir-read.js';

const strict = (b: Buffer) => createHash('sha256').update(lfToCrlf(b)).digest('hex');
export const served = (b: Buffer) => createHash('sha256').update(lfToCrlf(b)).digest('hex');

/**
 * For a destination that is itself an IMAP server: ignores trailing newlines (POP3 gives a
 * message without one a final CRLF) and CRs just before a line end (Dovecot stores an appended
 * "\r\r\n" as "\r\n": its save path strips one CR per line end; no client can prevent it).
 */
export const servedLoose = (b: Buffer) => {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d)) end--;
  return createHash('sha256').update(Buffer.from(b.subarray(0, end).toString('latin1').replace(/\r+\n/g, '\n'), 'latin1')).digest('hex');
};

/** Per folder, first in UID order wins; later messages with the same Message-ID are duplicates. */
export function expectedByFolder(entries: ManifestEntry[]) {
  const keep = new Map<string, ManifestEntry[]>();
  const dups: ManifestEntry[] = [];
  const seen = new Map<string, Set<string>>();
  for (const e of entries) {
    const ids = seen.get(e.folder) ?? new Set<string>();
    seen.set(e.folder, ids);
    const mid = normalizeMessageId(e.messageId);
    if (mid && ids.has(mid)) {
      dups.push(e);
      continue;
    }
    if (mid) ids.add(mid);
    keep.set(e.folder, [...(keep.get(e.folder) ?? []), e]);
  }
  return { keep, dups, total: [...keep.values()].reduce((a, l) => a + l.length, 0) };
}

/** Problems found comparing a Maildir with what it should hold (empty when exact). */
export function maildirProblems(root: string, keep: Map<string, ManifestEntry[]>, opts: { loose?: boolean } = {}): string[] {
  const served = opts.loose ? servedLoose : strict;
  const tree = readMaildirTree(root);
  const problems: string[] = [];
  for (const [folder, entries] of keep) {
    const files = tree.get(folder) ?? [];
    const counts = new Map<string, number>();
    for (const f of files) counts.set(served(f.bytes), (counts.get(served(f.bytes)) ?? 0) + 1);
    for (const e of entries) {
      const n = counts.get(served(e.bytes)) ?? 0;
      if (n === 0) problems.push(`${folder}: missing ${e.origin}`);
      counts.set(served(e.bytes), n - 1);
    }
    for (const [h, n] of counts) if (n > 0) problems.push(`${folder}: ${n} extra copies of ${h.slice(0, 12)}`);
  }
  return problems;
}
