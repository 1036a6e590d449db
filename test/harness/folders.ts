// Folder names: the harness writes them with '/' between levels; this Dovecot config (no explicit
// namespace → implicit inbox namespace, prefix "", Maildir++ layout) uses '.' as separator.
import { decodeMUtf7, encodeMUtf7 } from './mutf7.js';

export const SERVER_SEPARATOR = '.';

function parts(folder: string): string[] {
  const p = folder.split('/');
  for (const c of p) {
    if (c === '' || c.includes(SERVER_SEPARATOR)) {
      throw new Error(`folder ${JSON.stringify(folder)}: empty level or '${SERVER_SEPARATOR}' in a level`);
    }
  }
  if (p[0]!.toUpperCase() === 'INBOX') p[0] = 'INBOX';
  return p;
}

/** "Archive/2002" → "Archive.2002" (decoded UTF-8, as doveadm prints it). */
export function toServerName(folder: string): string {
  return parts(folder).join(SERVER_SEPARATOR);
}

/** "Archive.2002" → "Archive/2002". */
export function fromServerName(name: string): string {
  return name.split(SERVER_SEPARATOR).join('/');
}

/** Mailbox name as it appears in IMAP LIST/SELECT: modified UTF-7. */
export function toImapName(folder: string): string {
  return encodeMUtf7(toServerName(folder));
}

export function fromImapName(name: string): string {
  return fromServerName(decodeMUtf7(name));
}

/** Maildir++ directory of a folder relative to the Maildir root: "" for INBOX, ".Caf&AOk- &JhU-". */
export function maildirSubdir(folder: string): string {
  const p = parts(folder);
  if (p.length === 1 && p[0] === 'INBOX') return '';
  return '.' + p.map(encodeMUtf7).join('.');
}
