/** LIST entries to MailboxInfo, UID-set compaction, and work inside an open folder. */
import type { ImapFlow, ListResponse } from 'imapflow';
import type { MailboxInfo } from '../types.js';

/**
 * The role of a listed folder that mailferry acts on. The server's own flag (SPECIAL-USE, XLIST)
 * always; imapflow's guess from the name (`specialUseSource` 'name': "Sent", "Gesendet",
 * "Entwürfe") only for a folder at the top of the personal namespace (or directly below INBOX),
 * where a server without flags keeps its Sent or Drafts: a project's subfolder called "Gesendet"
 * had been copied into the destination's Sent folder.
 */
export function trustedRole(e: Pick<ListResponse, 'path' | 'delimiter' | 'specialUse'> & { specialUseSource?: string }, prefix = ''): string | undefined {
  if (!e.specialUse) return undefined;
  if (e.specialUseSource !== 'name') return e.specialUse;
  const rel = prefix && e.path.startsWith(prefix) ? e.path.slice(prefix.length) : e.path;
  const parts = e.delimiter ? rel.split(e.delimiter) : [rel];
  // INBOX.Sent too: the Sent folder of a Courier-style server that does not say its prefix.
  const top = parts.length === 1 || (parts.length === 2 && parts[0]!.toUpperCase() === 'INBOX');
  return top ? e.specialUse : undefined;
}

/**
 * A LIST entry as a folder. `prefix`: the personal namespace's (NAMESPACE; "INBOX." on Courier and
 * cPanel servers), left out of the folder's name as the destination's is put in (sink.ts), so
 * INBOX.Sent/INBOX.Work there are Sent/Work, not folders below INBOX. The path stays as listed.
 */
export function toMailboxInfo(e: ListResponse, prefix = ''): MailboxInfo {
  const delimiter = e.delimiter ?? '';
  let name = e.path;
  if (prefix && name.length > prefix.length && name.startsWith(prefix)) {
    const rest = name.slice(prefix.length);
    // "INBOX.INBOX" keeps its whole name: it is not INBOX.
    if (rest.toUpperCase() !== 'INBOX') name = rest;
  }
  const segments = name.toUpperCase() === 'INBOX' ? ['INBOX'] : delimiter ? name.split(delimiter) : [name];
  const flags = e.flags ?? new Set<string>();
  return {
    path: e.path,
    segments,
    delimiter,
    specialUse: trustedRole(e, prefix),
    noselect: flags.has('\\Noselect') || flags.has('\\NonExistent'),
  };
}

/**
 * UIDs as sets of at most `maxChars` characters each ("1:3,7", "9:10"), for commands that must
 * stay under a server's line limit (RFC 2683 asks servers for 8,000 octets; some allow fewer).
 */
export function uidSetChunks(uids: number[], maxChars: number): string[] {
  const chunks: string[] = [];
  let cur = '';
  for (const part of compactUidSet(uids).split(',')) {
    if (!part) continue;
    if (cur && cur.length + 1 + part.length > maxChars) (chunks.push(cur), (cur = ''));
    cur = cur ? `${cur},${part}` : part;
  }
  if (cur) chunks.push(cur);
  return chunks;
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

/**
 * Tells `client` what a LIST already said of these folders. imapflow LISTs a folder on a
 * connection before that connection first SELECTs or EXAMINEs it, to learn its delimiter and
 * special use; a folder it knows is opened without that round trip (two before connect.ts
 * stopped its LSUBs). One gone meanwhile still fails its SELECT.
 */
export function knownToImapflow(client: ImapFlow, entries: Iterable<ListResponse>): void {
  const cache = (client as unknown as { folders?: Map<string, ListResponse> }).folders;
  if (cache) for (const e of entries) cache.set(e.path, e);
}
