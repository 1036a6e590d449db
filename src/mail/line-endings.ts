/** Line-ending conversion on raw message bytes. Only CRLF pairs and bare LFs are touched. */

const CR = 0x0d;
const LF = 0x0a;

/**
 * CRLF → LF, the exact inverse of how Maildir readers (Dovecot) serve a file: they turn each LF
 * not preceded by CR into CRLF. So a CRLF whose CR is itself preceded by a CR ("\r\r\n") is kept
 * as it is: a reader serves it unchanged, where "\r\n" would be served one CR short. A lone CR
 * is kept. For any input without bare LFs, lfToCrlf(crlfToLf(x)) equals x.
 */
export function crlfToLf(buf: Buffer): Buffer {
  // Scans for LF (a number: memchr, no string conversion per call) and looks back for the CR.
  const convertible = (n: number) => n > 0 && buf[n - 1] === CR && (n < 2 || buf[n - 2] !== CR);
  let i = buf.indexOf(LF);
  while (i >= 0 && !convertible(i)) i = buf.indexOf(LF, i + 1);
  if (i < 0) return buf;
  // One copy of the whole, then each line moved left over the CRs dropped before it, in place:
  // copyWithin makes no object, where a Buffer.copy per line made a view of each line (on the
  // bench corpus, ~50 MB of heap per copy of 32 MB of mail, and twice the time).
  const out = Buffer.allocUnsafe(buf.length);
  buf.copy(out);
  let o = i - 1;
  let from = i;
  for (i = buf.indexOf(LF, i + 1); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (!convertible(i)) continue;
    out.copyWithin(o, from, i - 1);
    o += i - 1 - from;
    from = i;
  }
  out.copyWithin(o, from);
  return out.subarray(0, o + buf.length - from);
}

/** Bare LF → CRLF. Existing CRLF pairs are left as they are. */
export function lfToCrlf(buf: Buffer): Buffer {
  let count = 0;
  for (let i = buf.indexOf(LF); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (i === 0 || buf[i - 1] !== CR) count++;
  }
  if (count === 0) return buf;
  // As crlfToLf: one copy, then the lines moved in place (right, last line first), no object per line.
  const out = Buffer.allocUnsafe(buf.length + count);
  buf.copy(out);
  let end = buf.length;
  for (let i = buf.lastIndexOf(LF); i >= 0 && count > 0; i = i > 0 ? buf.lastIndexOf(LF, i - 1) : -1) {
    if (i > 0 && buf[i - 1] === CR) continue;
    // The bytes after this LF go `count` places right; a CR goes before it.
    out.copyWithin(i + count, i, end);
    out[i + count - 1] = CR;
    end = i;
    count--;
  }
  return out;
}
