/**
 * NUL bytes through IMAP. BODY[] cannot carry them: Dovecot serves each as 0x80. BINARY[]
 * (RFC 3516) can, but for a whole message it also decodes every base64 and quoted-printable part
 * (and says `Content-Transfer-Encoding: binary`): different bytes. So a BINARY[] is taken only
 * where it is the BODY[] with NULs put back, byte for byte.
 */

/** Whether BODY[] holds an 0x80 that may stand for a NUL: one that is not inside a well-formed UTF-8 character. */
export function mayHideNul(body: Buffer): boolean {
  for (let i = body.indexOf(0x80); i >= 0; i = body.indexOf(0x80, i + 1)) {
    if (!insideUtf8(body, i)) return true;
  }
  return false;
}

/** Whether the continuation byte at `i` belongs to a complete UTF-8 sequence. */
function insideUtf8(b: Buffer, i: number): boolean {
  for (let lead = i - 1; lead >= 0 && lead >= i - 3; lead--) {
    const c = b[lead]!;
    if (c >= 0x80 && c <= 0xbf) continue; // another continuation byte: look further back
    const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0 || lead + len <= i || lead + len > b.length) return false;
    for (let k = lead + 1; k < lead + len; k++) if (b[k]! < 0x80 || b[k]! > 0xbf) return false;
    return true;
  }
  return false;
}

/** The BINARY[] bytes when they are the BODY[] bytes with 0x80 turned back into NUL somewhere; else undefined. */
export function withNulsRestored(body: Buffer, binary: Buffer): Buffer | undefined {
  if (binary.length !== body.length) return undefined;
  let restored = false;
  for (let i = 0; i < body.length; i++) {
    const a = body[i]!;
    const c = binary[i]!;
    if (a === c) continue;
    if (a !== 0x80 || c !== 0) return undefined;
    restored = true;
  }
  return restored ? binary : undefined;
}
