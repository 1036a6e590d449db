/**
 * The folder plan: which source folders to copy, and where each lands. Globs match the folder's
 * path written with '/' between levels ("Archive/2024"), case-sensitively except INBOX.
 */
import picomatch from 'picomatch';
import { MailferryError } from '../errors.js';
import type { DestHint, MailboxInfo } from '../drivers/types.js';
import type { CheckpointState } from '../checkpoint/journal.js';
import type { FolderMap } from './filters.js';
import type { Endpoint } from './endpoint.js';

export interface FolderPlan {
  source: MailboxInfo;
  /** Display name: segments joined with '/'. */
  name: string;
  /** Hierarchy of the destination folder. */
  destSegments: string[];
  /** The nearest source folder above with a role, when this one lands below its destination (DestHint). */
  under?: { specialUse: string; depth: number };
  /**
   * The role the destination may place the folder by (its own folder for Sent, say): the source
   * folder's special use, unless --map names the place (then the map is where it goes).
   */
  role?: string;
  /** --map names the place (destSegments), which a folder earlier runs put elsewhere does not follow. */
  mapped?: true;
  /** Every folder's destSegments in this plan (DestHint.planned). */
  planned?: string[][];
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
  /** --map: a source folder (and its subfolders) lands under another name. */
  map?: FolderMap[];
  /**
   * The destination's prefix when it lies in the source account itself (imap://me@host →
   * imap://me@host/Backup): the folders there are the copy, never copied again (each run would
   * otherwise copy the last run's backup one level deeper).
   */
  skipUnder?: string[];
}

export function displayName(segments: string[]): string {
  return segments.join('/');
}

/**
 * `*`, `**`, `?` and `{a,b}`; nothing else is special. A leading `!` (negation), `[…]` (a class)
 * and `+(…)`-style groups are the characters of a name: `--folder '!Important'` is that folder,
 * not every other, and `[Gmail]/*` does not also match `G/…` or `a/…`.
 */
const GLOB_OPTIONS = { dot: true, nonegate: true, nobracket: true, noextglob: true };

function matcher(globs: string[], nocase = false): ((name: string) => boolean) | null {
  if (globs.length === 0) return null;
  // INBOX is INBOX in any case (RFC 3501): `--folder inbox` or `inbox/*` mean it.
  const ms = globs.map((g) => picomatch(/^inbox(\/|$)/i.test(g) ? 'INBOX' + g.slice(5) : g, { ...GLOB_OPTIONS, nocase }));
  return (name) => ms.some((m) => m(name) || (name.toUpperCase().startsWith('INBOX') && m('INBOX' + name.slice(5))));
}

const isInbox = (s: string) => s.toUpperCase() === 'INBOX';

function startsWith(segments: string[], prefix: string[]): boolean {
  return prefix.length <= segments.length && prefix.every((p, i) => p === segments[i] || (i === 0 && isInbox(p) && isInbox(segments[0])));
}

/** Destination segments after --map: the longest matching source prefix wins. */
function mapped(segments: string[], maps: FolderMap[]): string[] {
  let best: FolderMap | undefined;
  for (const mp of maps) if (startsWith(segments, mp.from) && (!best || mp.from.length > best.from.length)) best = mp;
  return best ? [...best.to, ...segments.slice(best.from.length)] : segments;
}

/**
 * A folder's name as the server lists it, levels split: its segments but for a namespace prefix
 * the source left out (an "INBOX." server's INBOX/Work is Work). --folder, --exclude, --map and a
 * source URL's folder may name it either way.
 */
function listedSegments(m: MailboxInfo): string[] {
  return m.path.toUpperCase() === 'INBOX' ? ['INBOX'] : m.delimiter ? m.path.split(m.delimiter) : [m.path];
}

/** --map by the folder's name, else by the name it is listed under. */
function mappedFolder(m: MailboxInfo, maps: FolderMap[]): string[] {
  const byName = mapped(m.segments, maps);
  if (byName !== m.segments || maps.length === 0) return byName;
  const listed = listedSegments(m);
  const byListed = mapped(listed, maps);
  return byListed === listed ? m.segments : byListed;
}

const named = (m: MailboxInfo, names: (segments: string[]) => boolean): boolean => names(m.segments) || names(listedSegments(m));

/** The first 12 folder names for a hint, and how many more there are. */
function someNames(mailboxes: MailboxInfo[]): string {
  const names = mailboxes.slice(0, 12).map((m) => displayName(m.segments)).join(', ');
  return mailboxes.length > 12 ? `${names} and ${mailboxes.length - 12} more (mailferry folders lists them)` : names;
}

/** The folders a plan chooses from: every folder that holds messages, or the source URL's one. */
function chosenFolders(mailboxes: MailboxInfo[], opts: PlanOptions): MailboxInfo[] {
  const selectable = mailboxes.filter((m) => !m.noselect);
  let chosen = selectable;
  if (opts.only) {
    const want = displayName(opts.only);
    chosen = selectable.filter((m) => named(m, (seg) => displayName(seg) === want) || (want.toUpperCase() === 'INBOX' && m.segments.length === 1 && m.segments[0].toUpperCase() === 'INBOX'));
    if (chosen.length === 0) {
      if (mailboxes.some((m) => m.noselect && displayName(m.segments) === want)) {
        throw new MailferryError('NO_SUCH_MAILBOX', `the source folder '${want}' holds no messages, only other folders`, {
          hint: `to copy the folders under it, drop it from the URL and add --folder '${want}/**'`,
        });
      }
      throw new MailferryError('NO_SUCH_MAILBOX', `the source has no folder '${want}'${meantFolder(literalGlob(want), selectable)}`, { hint: `it has: ${someNames(selectable)}` });
    }
  }
  return chosen;
}

export function planFolders(mailboxes: MailboxInfo[], opts: PlanOptions): FolderPlan[] {
  const selectable = mailboxes.filter((m) => !m.noselect);
  const chosen = chosenFolders(mailboxes, opts);
  // A map's source as written when the source has a folder of that exact name (' Old' or 'Old '),
  // else with spaces at the ends of its levels dropped ('Sent Items = Sent').
  const maps = (opts.map ?? []).map((mp) =>
    mp.asWritten && selectable.some((m) => named(m, (seg) => startsWith(seg, mp.asWritten!))) ? { from: mp.asWritten, to: mp.to } : mp,
  );
  for (const mp of maps) {
    if (!selectable.some((m) => named(m, (seg) => startsWith(seg, mp.from)))) {
      throw new MailferryError('NO_SUCH_MAILBOX', `--map: the source has no folder '${displayName(mp.from)}'`, { hint: `it has: ${someNames(selectable)}` });
    }
  }
  const inc = matcher(opts.include);
  const exc = matcher(opts.exclude);
  const plans: FolderPlan[] = [];
  for (const m of chosen) {
    if (opts.skipUnder?.length && named(m, (seg) => startsWith(seg, opts.skipUnder!))) continue;
    const name = displayName(m.segments);
    if (inc && !named(m, (seg) => inc(displayName(seg)))) continue;
    if (exc && named(m, (seg) => exc(displayName(seg)))) continue;
    const byMap = opts.destFolder ? undefined : mappedFolder(m, maps);
    // A map that applies here names the place: no role moves it (nor its role ancestor's).
    const isMapped = byMap !== undefined && byMap !== m.segments;
    let dest = opts.destFolder ?? byMap!;
    if (opts.destPrefix && opts.destPrefix.length && !opts.destFolder) {
      dest = dest.length === 1 && isInbox(dest[0]) ? opts.destPrefix : [...opts.destPrefix, ...dest];
    }
    plans.push({
      source: m,
      name,
      destSegments: dest,
      ...(isMapped ? {} : { under: roleAbove(m, mailboxes, dest, maps) }),
      ...(!isMapped && m.specialUse ? { role: m.specialUse } : {}),
      ...(isMapped ? { mapped: true as const } : {}),
    });
  }
  const planned = plans.map((p) => p.destSegments);
  for (const p of plans) p.planned = planned;
  if (plans.length === 0 && (opts.include.length || opts.exclude.length)) {
    // No --folder matches at all (not: what they match is all excluded): each is named, with the folder it may have meant.
    const none = inc !== null && !chosen.some((m) => named(m, (seg) => inc(displayName(seg))));
    const what = none ? opts.include.map((g) => `--folder '${g}'${meantFolder(g, chosen)}`).join(', ') : '--folder/--exclude';
    throw new MailferryError('NO_SUCH_MAILBOX', `no source folder matches ${what}`, { hint: `the source has: ${someNames(selectable)}` });
  }
  return plans;
}

/** A folder name as a glob that matches just it (`*`, `?`, `{` and the like escaped). */
export const literalGlob = (name: string) => name.replace(/[\\*?{}[\]()!+@]/g, '\\$&');

/** Each level without spaces at its ends: 'Archive/ 2024 ' → 'Archive/2024'. */
const trimLevels = (segments: string[]) => segments.map((x) => x.trim());

/**
 * The folder a --folder or --exclude glob that matches none was likely meant for, as a note for
 * its message: one it matches once spaces at the ends of each level are dropped, from the glob
 * and the names alike (a copy-paste slip: 'Work '), or ignoring case (globs are case-sensitive).
 * '' when none is near.
 */
export function meantFolder(glob: string, chosen: MailboxInfo[]): string {
  const trimmed = trimLevels(glob.split('/')).join('/');
  const tries: Array<[string, boolean, boolean]> = [
    ['spaces at the ends of a name count', true, false],
    ['folder names are case-sensitive', false, true],
    ['spaces at the ends of a name count, and case', true, true],
  ];
  for (const [why, trim, nocase] of tries) {
    const m = matcher([trim ? trimmed : glob], nocase)!;
    const near = chosen.find((f) => named(f, (seg) => m(displayName(trim ? trimLevels(seg) : seg))));
    if (near) return ` (${why}: did you mean '${displayName(near.segments)}'?)`;
  }
  return '';
}

/**
 * Each --folder glob that matches no folder the plan chooses from, with the error that names it:
 * of several, one that matches nothing (a folder renamed at the source since the job was written)
 * fails as a folder would, while the others are copied. (When none matches, planFolders refuses
 * the run.)
 */
export function unmatchedFolders(mailboxes: MailboxInfo[], opts: PlanOptions): Array<{ glob: string; error: MailferryError }> {
  const chosen = chosenFolders(mailboxes, opts);
  return opts.include
    .filter((g) => {
      const m = matcher([g])!;
      return !chosen.some((f) => named(f, (seg) => m(displayName(seg))));
    })
    .map((glob) => ({
      glob,
      error: new MailferryError('NO_SUCH_MAILBOX', `no source folder matches --folder '${glob}'${meantFolder(glob, chosen)}`, { hint: `the source has: ${someNames(mailboxes.filter((m) => !m.noselect))}` }),
    }));
}

/**
 * Each --exclude glob that matches no folder the plan chooses from, as a warning: a typo there (a
 * folder's name in another case: globs are case-sensitive) silently copies what was meant to be
 * left out. Names a folder it may have meant when one matches it ignoring case.
 */
export function unusedExcludes(mailboxes: MailboxInfo[], opts: PlanOptions): string[] {
  const chosen = chosenFolders(mailboxes, opts);
  const matches = (globs: string[]) => {
    const m = matcher(globs)!;
    return chosen.filter((f) => named(f, (seg) => m(displayName(seg))));
  };
  return opts.exclude
    .filter((g) => matches([g]).length === 0)
    .map((g) => `--exclude '${g}' matches no source folder, so it leaves nothing out${meantFolder(g, chosen)}`);
}

/** The nearest folder above `m` with a role, when `m`'s destination lies below that folder's (no --map apart). */
function roleAbove(m: MailboxInfo, mailboxes: MailboxInfo[], dest: string[], maps: FolderMap[]): FolderPlan['under'] {
  for (let k = m.segments.length - 1; k >= 1; k--) {
    const up = m.segments.slice(0, k);
    const a = mailboxes.find((x) => x.specialUse && x.segments.length === k && startsWith(x.segments, up));
    if (!a?.specialUse) continue;
    const aDest = mapped(a.segments, maps);
    return aDest.length < dest.length && startsWith(dest, aDest) ? { specialUse: a.specialUse, depth: aDest.length } : undefined;
  }
  return undefined;
}

/** What the sink is told of where a folder should land: its role ancestor, and where earlier runs put it. */
export function destHint(plan: FolderPlan, state?: CheckpointState): DestHint {
  return { under: plan.under, prefer: state?.folders.get(plan.source.path)?.dest, source: plan.name, planned: plan.planned };
}

/** The plan of a job: the source URL's folder (IMAP), the selection, the destination URL's prefix (IMAP). */
export function planJob(
  mailboxes: MailboxInfo[],
  src: Endpoint,
  dst: Endpoint,
  sel: { folders: string[]; exclude: string[]; map?: FolderMap[] },
  /** The destination's prefix when it is in the source account (endpoint.ts#selfPrefix). */
  self?: string[],
): { plans: FolderPlan[]; unmatched: Array<{ glob: string; error: MailferryError }>; unusedExcludes: string[] } {
  const opts: PlanOptions = {
    only: src.kind === 'imap' ? src.folder : undefined,
    include: sel.folders,
    exclude: sel.exclude,
    destPrefix: dst.kind === 'imap' ? dst.folder : undefined,
    map: sel.map,
    skipUnder: self,
  };
  return { plans: planFolders(mailboxes, opts), unmatched: unmatchedFolders(mailboxes, opts), unusedExcludes: unusedExcludes(mailboxes, opts) };
}
