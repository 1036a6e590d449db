/**
 * Message filters of copy and verify: --since / --before (INTERNALDATE), --max-size, and the
 * parsing of their values and of --map. A filtered message is neither copied nor journaled as
 * done, so a later run without the filter still copies it.
 */
import { MailferryError } from '../errors.js';
import type { MessageRef } from '../drivers/types.js';

export interface FilterSpec {
  since?: Date;
  before?: Date;
  maxSize?: number;
}

export interface FolderMap {
  /** Source folder ('/' between levels), each level trimmed of spaces ('Sent Items = Sent'). */
  from: string[];
  /**
   * The source folder as written, when spaces at the ends of a level make it differ from `from`:
   * a source folder of that exact name is the one mapped (planJob).
   */
  asWritten?: string[];
  /** Destination folder ('/' between levels). */
  to: string[];
}

function usage(message: string, hint: string): MailferryError {
  return new MailferryError('USAGE', message, { hint });
}

/**
 * YYYY-MM-DD (midnight UTC) or an ISO 8601 date-time; one without an offset is UTC too (not the
 * machine's local time, as Date() would take it), so one job file selects the same mail on a CI
 * runner in UTC and on a laptop elsewhere.
 */
export function parseDate(flag: string, text: string): Date {
  const t = text.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(t);
  let d: Date | undefined;
  if (m) {
    d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    if (d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) d = undefined;
  } else if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(t)) {
    d = new Date(/(Z|[+-]\d{2}:?\d{2})$/.test(t) ? t : `${t}Z`);
    // Date() rolls a day that does not exist over (2024-02-30 → March 1st): refused, as the plain form is.
    const [y, mo, da] = t.slice(0, 10).split('-').map(Number);
    const day = new Date(Date.UTC(y!, mo! - 1, da!));
    if (day.getUTCMonth() !== mo! - 1 || day.getUTCDate() !== da) d = undefined;
  }
  if (!d || Number.isNaN(d.getTime())) throw usage(`--${flag}: '${text}' is not a date`, 'write it as YYYY-MM-DD, e.g. 2024-01-31, or 2024-01-31T08:00:00Z');
  return d;
}

const UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KB: 1024, M: 1024 ** 2, MB: 1024 ** 2, G: 1024 ** 3, GB: 1024 ** 3 };

/** A size: 10M, 512K, 1.5G, 2048 (bytes). Binary units. */
export function parseSize(flag: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? m[2].toUpperCase().replace(/^([KMG])I?B$/, '$1B') : '';
  if (!m || UNITS[unit] === undefined) throw usage(`--${flag}: '${text}' is not a size`, 'write it as a number with an optional unit: 2048, 512K, 10M, 1G');
  const n = Math.floor(Number(m[1]) * UNITS[unit]);
  if (n <= 0) throw usage(`--${flag}: '${text}' must be more than 0`, 'e.g. 10M');
  return n;
}

/** 'Old Name=New/Name' → {from: ['Old Name'], to: ['New', 'Name']}. */
export function parseMap(text: string): FolderMap {
  const i = text.indexOf('=');
  const split = (s: string) => s.split('/').map((x) => x.trim()).filter((x) => x.length > 0);
  const from = i < 0 ? [] : split(text.slice(0, i));
  const to = i < 0 ? [] : split(text.slice(i + 1));
  if (from.length === 0 || to.length === 0) throw usage(`--map: '${text}' is not SOURCE=DEST`, "e.g. --map 'Sent Items=Sent' or --map 'Old/Archive=Archive/Old'");
  const asWritten = text.slice(0, i).split('/').filter((x) => x.trim().length > 0);
  return asWritten.join('/') === from.join('/') ? { from, to } : { from, to, asWritten };
}

export function buildFilter(f: { since?: string; before?: string; maxSize?: string }): FilterSpec {
  const spec: FilterSpec = {};
  if (f.since !== undefined) spec.since = parseDate('since', f.since);
  if (f.before !== undefined) spec.before = parseDate('before', f.before);
  if (f.maxSize !== undefined) spec.maxSize = parseSize('max-size', f.maxSize);
  if (spec.since && spec.before && spec.since >= spec.before) {
    throw usage('--since must be earlier than --before', `nothing is both on or after ${f.since} and before ${f.before}`);
  }
  return spec;
}

/**
 * The filters as a string, kept with a folder's `end` record: a folder complete under the same
 * filters is unchanged when its UIDNEXT is; under others, it is listed again in full ('' for none).
 */
export function filterKey(f: FilterSpec | undefined): string {
  if (!hasFilter(f)) return '';
  return `since=${f!.since?.toISOString() ?? ''} before=${f!.before?.toISOString() ?? ''} max-size=${f!.maxSize ?? ''}`;
}

/** A filter on the date: a message whose date is known only from its body must be read to decide it. */
export function hasDateFilter(f: FilterSpec | undefined): boolean {
  return f?.since !== undefined || f?.before !== undefined;
}

export function hasFilter(f: FilterSpec | undefined): boolean {
  return !!f && (f.since !== undefined || f.before !== undefined || f.maxSize !== undefined);
}

/**
 * Why a message is filtered out, or null when it passes. `headerRead`: its header has been read
 * (from its body, where the listing could not), which the ref still says it is not.
 */
export function filterReason(f: FilterSpec | undefined, ref: MessageRef, headerRead = !ref.headerUnread): string | null {
  if (!f) return null;
  if (f.maxSize !== undefined && ref.size > f.maxSize) return 'larger than --max-size';
  // A message with no date of its own (a POP3 header without a usable Received: or Date:) is
  // dated when it is written: now. One whose header is unread yet (no TOP) cannot be decided.
  const date = ref.internalDate ?? (headerRead ? new Date() : undefined);
  if (f.since && date && date < f.since) return 'older than --since';
  if (f.before && date && date >= f.before) return 'not before --before';
  return null;
}
