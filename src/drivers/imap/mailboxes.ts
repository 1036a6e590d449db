/** LIST entries to MailboxInfo, UID-set compaction, and work inside an open folder. */
import type { ImapFlow, ListResponse } from 'imapflow';
import type { MailboxInfo } from '../types.js';

export function toMailboxInfo(e: ListResponse): MailboxInfo {
  const delimiter = e.delimiter ?? '';
  const segments = e.path.toUpperCase() === 'INBOX' ? ['INBOX'] : delimiter ? e.path.split(delimiter) : [e.path];
  const flags = e.flags ?? new Set<string>();
  return {
    path: e.path,
    segments,
    delimiter,
    specialUse: e.specialUse || undefined,
    noselect: flags.has('\\Noselect') || flags.has('\\NonExistent'),
  };
}

/** "1:3,7,9:10" from ascending or unordered UIDs. */
export function compactUidSet(uids: number[]): string {
  const s = [...uids].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < s.length) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(i === j ? String(s[i]) : `${s[i]}:${s[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * `fn` with `mailbox` open read-only (imapflow's mailbox lock), released whatever happens.
 * `fresh`: `fn` sees every message the folder holds now. imapflow keeps a folder selected after
 * its lock is released and does not select it again for the next lock, and the server shows a
 * session the messages other sessions added only when it syncs it (a NOOP, or any command's
 * end): a FETCH 1:* would leave them out, and `client.mailbox.exists` would not count them.
 */
export async function inMailbox<T>(client: ImapFlow, mailbox: string, fn: () => Promise<T>, opts: { fresh?: boolean } = {}): Promise<T> {
  const lock = await client.getMailboxLock(mailbox, { readOnly: true });
  try {
    if (opts.fresh) await client.noop();
    return await fn();
  } finally {
    lock.release();
  }
}
