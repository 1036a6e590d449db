/**
 * Header-block helpers on raw bytes. Only header values are ever decoded (as latin1, one byte
 * per char, so nothing is lost); message bytes stay Buffers.
 */
import { flat } from '../strings.js';

/**
 * Where the header ends: after the line before the first empty line ("\n" or "\r\n", whatever
 * the line before it ended with, as an IMAP server reads it), 0 when the message starts with one,
 * -1 when there is none.
 */
function headerEnd(buf: Buffer): number {
  if (buf.length > 0 && (buf[0] === 0x0a || (buf[0] === 0x0d && buf[1] === 0x0a))) return 0;
  const lf = buf.indexOf('\n\n');
  const crlf = buf.indexOf('\n\r\n');
  const at = lf < 0 ? crlf : crlf < 0 ? lf : Math.min(lf, crlf);
  return at < 0 ? -1 : at + 1;
}

/** The header block: bytes up to (not including) the first empty line, or the whole buffer. */
export function headerBlock(buf: Buffer): Buffer {
  const end = headerEnd(buf);
  return end < 0 ? buf : buf.subarray(0, end);
}

/**
 * Bytes of one header field read (its name, lines and line ends): a reader that streams headers
 * (header-fields.ts) keeps no more, so whoever reads a field reads its first MAX_FIELD bytes.
 * Above RFC 5322's 998-character line, so a Message-ID cut here counts as none.
 */
export const MAX_FIELD = 8 * 1024;

/**
 * The unfolded values of the first header of each name (lower case), in one pass over the block:
 * for a caller that wants several (the POP3 listing: Message-ID, Received, Date). Of a field,
 * its first MAX_FIELD bytes, as a streaming reader keeps them: the same message has the same
 * values read whole from an IMAP server's answer or streamed from a file (a Message-ID after
 * 10 KB of folding whitespace is none to both).
 */
export function headerValues(block: Buffer, names: readonly string[]): Map<string, string> {
  const text = block.toString('latin1');
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < text.length && out.size < names.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    // Each wanted name is compared at the line's start (a search for the line's colon could run
    // far past it: a header of lines without one would cost the square of its length).
    const name = names.find((n) => pos + n.length < eol && !out.has(n) && text.charCodeAt(pos + n.length) === 0x3a && text.slice(pos, pos + n.length).toLowerCase() === n);
    if (name !== undefined) {
      const cut = pos + MAX_FIELD;
      let value = text.slice(pos + name.length + 1, Math.min(eol, cut));
      let next = eol + 1;
      while (next < text.length && next < cut && (text[next] === ' ' || text[next] === '\t')) {
        let e = text.indexOf('\n', next);
        if (e < 0) e = text.length;
        value += ' ' + text.slice(next, Math.min(e, cut));
        next = e + 1;
      }
      out.set(name, value.replace(/\r/g, '').trim());
    }
    pos = eol + 1;
  }
  return out;
}

/** The unfolded value of the first header named `name` (case-insensitive), or null. */
export function headerValue(block: Buffer, name: string): string | null {
  const key = name.toLowerCase();
  return headerValues(block, [key]).get(key) ?? null;
}

/** Longest Message-ID kept (RFC 5322's line limit); a longer one counts as none. */
export const MAX_MESSAGE_ID = 998;

/**
 * Normalise a Message-ID value: the first <...> token, the domain part lower-cased (domains are
 * case-insensitive; local parts are not). Around the token, comments and whitespace are dropped;
 * inside it, only whitespace outside quotes (a folded header's): "(1)" in
 * <ticket(1)@example.org> and the space in <"john doe"@example.org> are part of the id, so
 * those are other messages than <ticket(2)@…> and <"johndoe"@…>. Without angle brackets the
 * value, comments and whitespace dropped. Returns null when nothing usable is left.
 */
export function normalizeMessageId(value: string | null): string | null {
  if (value === null) return null;
  // Longer than a header line may be (RFC 5322: 998): not a Message-ID but a server's attempt to
  // make every listed ref hold megabytes. Such a message is identified by its bytes instead.
  if (value.length > MAX_MESSAGE_ID) return null;
  // A NUL counts as 0x80, as in a content digest: Dovecot serves each NUL of a header as 0x80,
  // and the same message must have one identity read from a Maildir, POP3 or an IMAP server.
  if (value.includes('\0')) value = value.replace(/\0/g, '\x80');
  const id = angleToken(value) ?? value.replace(/\([^()]*\)/g, '').replace(/\s+/g, '').replace(/[<>]/g, '');
  if (!id) return null;
  const at = id.lastIndexOf('@');
  return flat('<' + (at < 0 ? id : id.slice(0, at) + '@' + id.slice(at + 1).toLowerCase()) + '>');
}

const SPACE = /\s/;
const SPACES = /\s+/g;
const unspaced = (t: string): string => (SPACE.test(t) ? t.replace(SPACES, '') : t);

/**
 * The inside of the first <...> outside comments and quotes, with unquoted whitespace dropped;
 * undefined when there is none (or it is empty or never closed).
 */
function angleToken(v: string): string | undefined {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (depth > 0) {
      if (c === '\\') i++;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    } else if (c === '(') depth = 1;
    else if (c === '"') quoted = true;
    else if (c === '<') {
      // Up to the first '>' outside quotes, in slices (not a character at a time: ~4 KB of heap
      // per message): unquoted runs lose their whitespace, quoted strings are kept as they are.
      let out = '';
      let j = i + 1;
      for (;;) {
        const close = v.indexOf('>', j);
        const quote = v.indexOf('"', j);
        if (quote < 0 || (close >= 0 && close < quote)) {
          if (close < 0) return undefined;
          out += unspaced(v.slice(j, close));
          return out || undefined;
        }
        out += unspaced(v.slice(j, quote));
        let k = quote + 1;
        while (k < v.length && v[k] !== '"') k += v[k] === '\\' ? 2 : 1;
        if (k >= v.length) return undefined;
        out += v.slice(quote, k + 1);
        j = k + 1;
      }
    }
  }
  return undefined;
}

/** The normalised Message-ID of a message (or of its header block), or null. */
export function messageIdOf(buf: Buffer): string | null {
  return normalizeMessageId(headerValue(headerBlock(buf), 'message-id'));
}
