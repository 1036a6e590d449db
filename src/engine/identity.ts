/**
 * Message identity, the key of dedupe: the normalised Message-ID, or — when a message has none,
 * or the user asks for content dedupe — a SHA-256 of its bytes with line endings normalised
 * (so the same message read over IMAP (CRLF) and from a Maildir (LF) is the same), trailing
 * newlines ignored (POP3 adds one to a message that has none). The kind is part of the value.
 */
import { createHash } from 'node:crypto';
import { crlfToLf } from '../mail/line-endings.js';
import { flat } from '../strings.js';

export type DedupeMode = 'message-id' | 'content' | 'none';
export type Identity = string;

export function midIdentity(messageId: string): Identity {
  return flat('mid:' + messageId);
}

export function contentIdentity(body: Buffer): Identity {
  let b = crlfToLf(body);
  let end = b.length;
  while (end > 0 && b[end - 1] === 0x0a) end--;
  b = b.subarray(0, end);
  return flat('sha256:' + createHash('sha256').update(b).digest('hex'));
}

/** Identity decidable without the body, or null when the body is needed. */
export function identityBeforeBody(messageId: string | null, mode: DedupeMode): Identity | null {
  if (mode === 'message-id' && messageId) return midIdentity(messageId);
  return null;
}

export function identityOfBody(messageId: string | null, body: Buffer, mode: DedupeMode): Identity {
  return identityBeforeBody(messageId, mode) ?? contentIdentity(body);
}
