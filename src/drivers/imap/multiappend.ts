/**
 * MULTIAPPEND (RFC 3502): several messages to one folder in ONE APPEND command, which the server
 * stores as one transaction. Dovecot commits (and fsyncs its index and uidlist) once per
 * transaction, so this is far cheaper than an APPEND per message: measured on the bench Dovecot,
 * 2,500 messages over 4 connections took 28 s one by one and 0.9 s in batches of 64.
 * All or nothing: a tagged NO means none of the messages was stored.
 */
import type { ImapFlow } from 'imapflow';
import { encodePath, normalizePath } from 'imapflow/lib/tools.js';

export interface AppendItem {
  body: Buffer;
  flags: string[];
  internalDate?: Date;
}

interface Exec {
  exec(command: string, attributes: unknown[]): Promise<{ response: { attributes?: Array<{ section?: Array<{ value?: unknown }> }> }; next(): void }>;
  capabilities: Map<string, unknown>;
  disableBinary?: boolean;
}

export function canMultiappend(client: ImapFlow): boolean {
  return client.capabilities.has('MULTIAPPEND');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => (n < 10 ? '0' : '') + n;

/**
 * An APPEND's date-time (RFC 3501: " 5-Jan-2024 08:09:10 +0000", in UTC), or undefined for a date
 * that has none (invalid, or a year outside 0–9999). Read from the UTC fields: imapflow's
 * formatDateTime, which says the same, makes the date's local-time string (to test it) and two ISO
 * strings per message, ~10 µs each.
 */
export function imapDateTime(d: Date): string | undefined {
  const year = d.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return undefined;
  const day = d.getUTCDate();
  return `${day < 10 ? ' ' : ''}${day}-${MONTHS[d.getUTCMonth()]}-${String(year).padStart(4, '0')} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** "5:7,9" → [5, 6, 7, 9]; undefined when malformed or absurdly long. */
export function expandUidSet(set: string, max: number): number[] | undefined {
  const out: number[] = [];
  for (const part of set.split(',')) {
    const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let u = Math.min(a, b); u <= Math.max(a, b); u++) {
      out.push(u);
      if (out.length > max) return undefined;
    }
  }
  return out;
}

/**
 * Append `items` to `mailbox` in one command. Returns a key per item, in order: "UIDVALIDITY:UID"
 * from the APPENDUID response code (UIDPLUS), or '' when the server sends none. Throws what
 * imapflow throws (responseStatus 'NO' / 'BAD' when refused).
 */
export async function multiAppend(client: ImapFlow, mailbox: string, items: AppendItem[]): Promise<string[]> {
  const conn = client as unknown as Exec;
  const binary = conn.capabilities.has('BINARY') && !conn.disableBinary;
  const attributes: unknown[] = [{ type: 'ATOM', value: encodePath(conn, normalizePath(conn, mailbox)) }];
  for (const it of items) {
    attributes.push(it.flags.map((f) => ({ type: 'ATOM', value: f })));
    const date = it.internalDate ? imapDateTime(it.internalDate) : undefined;
    if (date) attributes.push({ type: 'STRING', value: date });
    // A literal may not hold NUL bytes; literal8 (BINARY, RFC 3516) may.
    attributes.push({ type: 'LITERAL', value: it.body, isLiteral8: binary && it.body.indexOf(0) >= 0 });
  }
  const res = await conn.exec('APPEND', attributes);
  res.next();
  const section = res.response.attributes?.[0]?.section;
  if (String(section?.[0]?.value ?? '').toUpperCase() === 'APPENDUID') {
    const uv = String(section?.[1]?.value ?? '');
    const uids = expandUidSet(String(section?.[2]?.value ?? ''), items.length);
    if (/^\d+$/.test(uv) && uids && uids.length === items.length) return uids.map((u) => `${uv}:${u}`);
  }
  return items.map(() => '');
}
