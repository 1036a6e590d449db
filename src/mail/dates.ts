/**
 * When a message arrived, read from its header, for sources without an INTERNALDATE (POP3): the
 * date of the topmost Received: header (the last hop, the provider's own delivery), else the Date:
 * header. Dates are parsed strictly as RFC 5322 date-times (with its obsolete forms: two-digit
 * years, zone names); anything else, or a date before 1970 or more than a day ahead, is no date.
 */
import { headerBlock, headerValues } from './headers.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
/** RFC 5322 4.3 obsolete zones, in minutes east of UTC. */
const ZONES: Record<string, number> = { ut: 0, gmt: 0, z: 0, est: -300, edt: -240, cst: -360, cdt: -300, mst: -420, mdt: -360, pst: -480, pdt: -420 };

const DATE_TIME = /^\s*(?:[a-z]{3}\s*,\s*)?(\d{1,2})\s+([a-z]{3})\s+(\d{2,4})\s+(\d{1,2})\s*:\s*(\d{2})(?:\s*:\s*(\d{2}))?(?:\s+([+-]\d{4}|[a-z]{1,3}))?(?:\s|\(|$)/i;

/** An RFC 5322 date-time, or undefined. A missing or unknown zone counts as UTC ("-0000"). */
export function parseMailDate(text: string): Date | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2]!.toLowerCase());
  if (month < 0) return undefined;
  let year = Number(m[3]);
  if (m[3]!.length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3]!.length === 3) year += 1900;
  const [day, hour, minute, second] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  let offset = 0;
  const zone = m[7];
  if (zone && /^[+-]\d{4}$/.test(zone)) {
    const hh = Number(zone.slice(1, 3));
    const mm = Number(zone.slice(3));
    if (mm > 59) return undefined;
    offset = (zone[0] === '-' ? -1 : 1) * (hh * 60 + mm);
  } else if (zone) offset = ZONES[zone.toLowerCase()] ?? 0;
  const utc = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - offset * 60_000;
  const d = new Date(utc);
  // 31 Feb and the like roll over in Date.UTC: not a date.
  if (new Date(Date.UTC(year, month, day)).getUTCDate() !== day) return undefined;
  return d;
}

function plausible(d: Date | undefined, now: number): Date | undefined {
  return d && d.getTime() >= 0 && d.getTime() <= now + 86_400_000 ? d : undefined;
}

/**
 * The arrival date of a message from its header block: the topmost Received: header's date (after
 * its last ';'), else the Date: header; undefined when neither holds a plausible date.
 */
export function arrivalDateOf(header: Buffer, now = Date.now()): Date | undefined {
  const v = headerValues(headerBlock(header), ['received', 'date']);
  return arrivalDate(v.get('received'), v.get('date'), now);
}

/** The same from the header values already read: the topmost Received: and the Date: header. */
export function arrivalDate(received: string | undefined, date: string | undefined, now = Date.now()): Date | undefined {
  if (received !== undefined) {
    const semi = received.lastIndexOf(';');
    const d = semi >= 0 ? plausible(parseMailDate(received.slice(semi + 1)), now) : undefined;
    if (d) return d;
  }
  return date === undefined ? undefined : plausible(parseMailDate(date), now);
}
