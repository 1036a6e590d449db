/**
 * Message identity, the key of dedupe: the normalised Message-ID, or — when a message has none,
 * or the user asks for content dedupe — a SHA-256 of its bytes, normalised for what the ways of
 * reading and storing a message change without changing the message:
 * - line endings (the same message read over IMAP (CRLF) and from a Maildir (LF) is the same);
 *   CRs before a line end count as none (Dovecot stores an appended "\r\r\n" as "\r\n");
 * - NUL bytes count as 0x80 (Dovecot serves each NUL in BODY[] as 0x80, so a destination scan
 *   reads them so);
 * - no final newline counts as one (POP3 adds one to a message that has none). More than one is
 *   kept: messages differing in their trailing blank lines are different messages;
 * - CRs at the very end count as none (Dovecot drops them as it stores an APPEND: an old Mac
 *   file's "body\r" is served back as "body");
 * - an `X-TUID:` header line counts as none: mbsync adds one to every message it stores (its own
 *   tracking of what it sent), so a message restored from mbsync's Maildir is the one it copied.
 * The kind is part of the value.
 */
import { createHash } from 'node:crypto';
import { crlfToLf } from '../mail/line-endings.js';
import { messageIdOf } from '../mail/headers.js';
import type { MessageRef } from '../drivers/types.js';
import { flat } from '../strings.js';

export type DedupeMode = 'message-id' | 'content' | 'none';
export type Identity = string;

export function midIdentity(messageId: string): Identity {
  return flat('mid:' + messageId);
}

const CRLF = Buffer.from('\r\n');

export function contentIdentity(body: Buffer): Identity {
  let b = crlfToLf(body);
  // Left by crlfToLf only where a CR precedes a CR LF.
  if (b.indexOf(CRLF) >= 0) b = Buffer.from(b.toString('latin1').replace(/\r+\n/g, '\n'), 'latin1');
  if (b.indexOf(0) >= 0) {
    if (b === body) b = Buffer.from(body);
    for (let i = b.indexOf(0); i >= 0; i = b.indexOf(0, i + 1)) b[i] = 0x80;
  }
  b = withoutTuid(b);
  let stop = b.length;
  while (stop > 0 && b[stop - 1] === 0x0d) stop--;
  let end = stop;
  while (end > 0 && b[end - 1] === 0x0a) end--;
  const h = createHash('sha256').update(b.subarray(0, end));
  // Zero or one final newline hash as before; more are part of the message.
  if (stop - end > 1) h.update(b.subarray(end, stop));
  return flat('sha256:' + h.digest('hex'));
}

const LF2 = Buffer.from('\n\n');
const TUID_LINE = /^X-TUID:[^\n]*\n/gim;

/** `b` (LF line ends) without its header's `X-TUID:` lines (a new buffer when there are any). */
function withoutTuid(b: Buffer): Buffer {
  const headerEnd = b[0] === 0x0a ? 0 : b.indexOf(LF2);
  const header = b.toString('latin1', 0, headerEnd < 0 ? b.length : headerEnd + 1);
  if (!/^x-tuid:/im.test(header)) return b;
  const kept = header.replace(TUID_LINE, '');
  return Buffer.concat([Buffer.from(kept, 'latin1'), b.subarray(header.length)]);
}

/** Identity decidable without the body, or null when the body is needed. */
export function identityBeforeBody(messageId: string | null, mode: DedupeMode): Identity | null {
  if (mode === 'message-id' && messageId) return midIdentity(messageId);
  return null;
}

export function identityOfBody(messageId: string | null, body: Buffer, mode: DedupeMode): Identity {
  return identityBeforeBody(messageId, mode) ?? contentIdentity(body);
}

/**
 * The identity of a message whose body is read because the listing could not decide it: its
 * digest; or, when the source never read its header (`headerUnread`), the Message-ID in the body
 * first, as the destination knows it.
 */
export function identityOfFetched(ref: MessageRef, body: Buffer, mode: DedupeMode): Identity {
  return (ref.headerUnread ? identityBeforeBody(messageIdOf(body), mode) : null) ?? contentIdentity(body);
}
