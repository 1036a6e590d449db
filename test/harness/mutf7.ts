// Modified UTF-7 (RFC 3501 §5.1.3): how IMAP puts non-ASCII mailbox names on the wire,
// and how Dovecot's Maildir++ stores them on disk (".Caf&AOk- &JhU-").

function flush(units: number[]): string {
  if (units.length === 0) return '';
  const buf = Buffer.alloc(units.length * 2);
  units.forEach((u, i) => buf.writeUInt16BE(u, i * 2));
  units.length = 0;
  return '&' + buf.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
}

export function encodeMUtf7(name: string): string {
  let out = '';
  const pending: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e) {
      out += flush(pending) + (c === 0x26 ? '&-' : name[i]);
    } else {
      pending.push(c);
    }
  }
  return out + flush(pending);
}

export function decodeMUtf7(name: string): string {
  return name.replace(/&([^-]*)-/g, (_m, b64: string) => {
    if (b64 === '') return '&';
    const buf = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    let s = '';
    for (let i = 0; i + 1 < buf.length; i += 2) s += String.fromCharCode(buf.readUInt16BE(i));
    return s;
  });
}
