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
  const out = Buffer.allocUnsafe(buf.length);
  let o = 0;
  let from = 0;
  for (; i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (!convertible(i)) continue;
    o += buf.copy(out, o, from, i - 1);
    from = i;
  }
  o += buf.copy(out, o, from);
  return out.subarray(0, o);
}

/** Bare LF → CRLF. Existing CRLF pairs are left as they are. */
export function lfToCrlf(buf: Buffer): Buffer {
  let count = 0;
  for (let i = buf.indexOf(LF); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (i === 0 || buf[i - 1] !== CR) count++;
  }
  if (count === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length + count);
  let o = 0;
  let from = 0;
  for (let i = buf.indexOf(LF); i >= 0; i = buf.indexOf(LF, i + 1)) {
    if (i > 0 && buf[i - 1] === CR) continue;
    o += buf.copy(out, o, from, i);
    out[o++] = CR;
    out[o++] = LF;
    from = i + 1;
  }
  buf.copy(out, o, from);
  return out;
}
