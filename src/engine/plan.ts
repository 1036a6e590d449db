/**
 * The folder plan: which source folders to copy, and where each lands. Globs match the folder's
 * path written with '/' between levels ("Archive/2024"), case-sensitively except INBOX.
 */
import picomatch from 'picomatch';
import { MailferryError } from '../errors.js';
import type { MailboxInfo } from '../drivers/types.js';

export interface FolderPlan {
  source: MailboxInfo;
  /** Display name: segments joined with '/'. */
  name: string;
  /** Hierarchy of the destination folder. */
  destSegments: string[];
}

export interface PlanOptions {
  /** Folder from the source URL: only this folder. */
  only?: string[];
  include: string[];
  exclude: string[];
  /** Prefix put before every destination folder (from the destination URL). */
  destPrefix?: string[];
  /** Put everything into this destination folder (sources without folders: POP3). */
  destFolder?: string[];
}

export function displayName(segments: string[]): string {
  return segments.join('/');
}

function matcher(globs: string[]): ((name: string) => boolean) | null {
  if (globs.length === 0) return null;
  const ms = globs.map((g) => picomatch(g, { dot: true }));
  return (name) => ms.some((m) => m(name) || (name.toUpperCase().startsWith('INBOX') && m('INBOX' + name.slice(5))));
}

export function planFolders(mailboxes: MailboxInfo[], opts: PlanOptions): FolderPlan[] {
  const selectable = mailboxes.filter((m) => !m.noselect);
  let chosen = selectable;
  if (opts.only) {
    const want = displayName(opts.only);
    chosen = selectable.filter((m) => displayName(m.segments) === want || (want.toUpperCase() === 'INBOX' && m.segments.length === 1 && m.segments[0].toUpperCase() === 'INBOX'));
    if (chosen.length === 0) {
      const names = selectable.map((m) => displayName(m.segments)).slice(0, 12).join(', ');
      throw new MailferryError('NO_SUCH_MAILBOX', `the source has no folder '${want}'`, { hint: `it has: ${names}${selectable.length > 12 ? ', …' : ''}` });
    }
  }
  const inc = matcher(opts.include);
  const exc = matcher(opts.exclude);
  const plans: FolderPlan[] = [];
  for (const m of chosen) {
    const name = displayName(m.segments);
    if (inc && !inc(name)) continue;
    if (exc && exc(name)) continue;
    let dest = opts.destFolder ?? m.segments;
    if (opts.destPrefix && opts.destPrefix.length && !opts.destFolder) {
      dest = m.segments.length === 1 && m.segments[0].toUpperCase() === 'INBOX' ? opts.destPrefix : [...opts.destPrefix, ...m.segments];
    }
    plans.push({ source: m, name, destSegments: dest });
  }
  if (plans.length === 0 && (opts.include.length || opts.exclude.length)) {
    const names = selectable.map((m) => displayName(m.segments)).slice(0, 12).join(', ');
    throw new MailferryError('NO_SUCH_MAILBOX', 'no source folder matches --folder/--exclude', { hint: `the source has: ${names}` });
  }
  return plans;
}
