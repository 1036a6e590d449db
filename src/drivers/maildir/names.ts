/**
 * Maildir++ folder names, the way Dovecot's maildir storage names them by default: INBOX is the
 * root; folder A/B is the directory ".A.B"; each component is in modified UTF-7 (RFC 3501 5.1.3).
 *
 * A folder name from a server is data, never a path. Besides non-ASCII, every character that
 * could change what the name means on disk ('.', '/', control characters) is written in its
 * modified-UTF-7 form too, so a component can never split, climb ("..") or escape the root.
 */
import { MailferryError } from '../../errors.js';

const MAX_NAME_BYTES = 255;

function isPlain(code: number): boolean {
  return code >= 0x20 && code <= 0x7e && code !== 0x26 /* & */ && code !== 0x2e /* . */ && code !== 0x2f /* / */;
}

function encodeRun(run: string): string {
  const le = Buffer.from(run, 'utf16le');
  for (let i = 0; i + 1 < le.length; i += 2) {
    const t = le[i];
    le[i] = le[i + 1];
    le[i + 1] = t;
  }
  return '&' + le.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
}

/** One hierarchy component → its on-disk form. */
export function encodeSegment(segment: string): string {
  let out = '';
  let run = '';
  for (const ch of segment) {
    const code = ch.codePointAt(0)!;
    if (isPlain(code)) {
      if (run) out += encodeRun(run), (run = '');
      out += ch;
    } else if (ch === '&') {
      if (run) out += encodeRun(run), (run = '');
      out += '&-';
    } else {
      run += ch;
    }
  }
  if (run) out += encodeRun(run);
  return out;
}

/** The on-disk form of one component → the component. Invalid encodings are kept literally. */
export function decodeSegment(text: string): string {
  return text.replace(/&([^-]*)-/g, (whole, b64: string) => {
    if (b64 === '') return '&';
    const be = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    if (be.length % 2 !== 0) return whole;
    for (let i = 0; i + 1 < be.length; i += 2) {
      const t = be[i];
      be[i] = be[i + 1];
      be[i + 1] = t;
    }
    return be.toString('utf16le');
  });
}

/**
 * A nested-layout directory name → the folder name. mbsync (`SubFolders Verbatim`) and offlineimap
 * write IMAP's own names, which are modified UTF-7 (`Caf&AOk-`, `a&-b`): a name that is valid
 * modified UTF-7 is decoded, any other is taken literally (`R&D`).
 */
export function nestedSegment(name: string): string {
  if (!name.includes('&') || !/^(?:[^&]|&-|&[A-Za-z0-9+,]+-)*$/.test(name)) return name;
  const decoded = decodeSegment(name);
  return /&[A-Za-z0-9+,]+-/.test(decoded) || decoded.includes('\uFFFD') ? name : decoded;
}

export function isInbox(segments: string[]): boolean {
  return segments.length === 1 && segments[0].toUpperCase() === 'INBOX';
}

/** Hierarchy → directory name under the Maildir root ('' for INBOX, the root itself). */
export function folderDirName(segments: string[]): string {
  const parts = segments.filter((s) => s.length > 0);
  if (parts.length === 0) {
    throw new MailferryError('BAD_MAILBOX_NAME', 'empty folder name', { scope: 'mailbox' });
  }
  if (isInbox(parts)) return '';
  if (parts[0].toUpperCase() === 'INBOX') parts[0] = 'INBOX';
  for (const p of parts) {
    if (p.includes('\0')) {
      throw new MailferryError('BAD_MAILBOX_NAME', `folder name with a NUL byte: ${JSON.stringify(parts.join('/'))}`, { scope: 'mailbox' });
    }
  }
  const name = '.' + parts.map(encodeSegment).join('.');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) {
    throw new MailferryError('BAD_MAILBOX_NAME', `folder name too long for a Maildir: ${parts.join('/').slice(0, 80)}…`, { scope: 'mailbox' });
  }
  return name;
}

/** Directory name under the root → hierarchy. '' is INBOX. */
export function segmentsOfDirName(dir: string): string[] {
  if (dir === '') return ['INBOX'];
  return dir.replace(/^\./, '').split('.').map(decodeSegment);
}
