/**
 * Special-use roles in a Maildir, which has no flags for them: a folder has the role its name
 * gives it, as on an IMAP server without SPECIAL-USE. Read by the source (a backup's Sent is
 * restored into the account's Sent, whatever that is called) and the sink (a source's Sent goes
 * into the Maildir's Sent, whatever that one is called).
 */
// Its table of folder names alone, not the IMAP client (which a Maildir run does not load).
import { specialUse } from 'imapflow/lib/special-use.js';

/**
 * A folder's role, from its name, as an IMAP server without SPECIAL-USE has it (imapflow's table:
 * "Sent", "Gesendet", "Éléments envoyés", …), and as the IMAP source takes it
 * (imap/mailboxes.ts#trustedRole): only for a folder at the top, or right below INBOX.
 */
export function roleOf(segments: string[]): { specialUse?: string } {
  const top = segments.length === 1 ? segments[0]! : segments.length === 2 && segments[0]!.toUpperCase() === 'INBOX' ? segments[1]! : undefined;
  if (top === undefined || top.toUpperCase() === 'INBOX') return {};
  const role = specialUse(false, { name: top, flags: new Set<string>() });
  return role?.flag ? { specialUse: role.flag } : {};
}

/** The roles a folder is placed by, as into an IMAP destination (imap/sink.ts). */
export const PLACED_ROLES = new Set(['\\Sent', '\\Drafts', '\\Junk', '\\Trash', '\\Archive']);
