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

/**
 * One base64 run of modified UTF-7 (between `&` and `-`) → its text; undefined when it is not one
 * an encoder writes: empty, an odd number of bytes, bits left over, a NUL or a broken surrogate
 * pair (`Q&A-Team` holds the run `A`, which is no character: the name is taken literally).
 */
function decodeRun(b64: string): string | undefined {
  if (!/^[A-Za-z0-9+,]+$/.test(b64)) return undefined;
  const be = Buffer.from(b64.replace(/,/g, '/'), 'base64');
  if (be.length === 0 || be.length % 2 !== 0) return undefined;
  if (be.toString('base64').replace(/=+$/, '').replace(/\//g, ',') !== b64) return undefined;
  for (let i = 0; i + 1 < be.length; i += 2) {
    const t = be[i];
    be[i] = be[i + 1];
    be[i + 1] = t;
  }
  const text = be.toString('utf16le');
  if (text.includes('\0') || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text)) return undefined;
  return text;
}

/** The on-disk form of one component → the component. Invalid encodings are kept literally. */
export function decodeSegment(text: string): string {
  return text.replace(/&([^-]*)-/g, (whole, b64: string) => (b64 === '' ? '&' : decodeRun(b64) ?? whole));
}

/**
 * A nested-layout directory name → the folder name. mbsync (`SubFolders Verbatim`) and offlineimap
 * write IMAP's own names, which are modified UTF-7 (`Caf&AOk-`, `a&-b`): a name that is valid
 * modified UTF-7 throughout is decoded; any other is taken literally (`R&D`, `Q&A-Team`, a name
 * written in UTF-8). Valid means what an encoder writes: every `&` opens `&-` or a run of whole
 * characters, none of them printable ASCII (RFC 3501 5.1.3: those always stand for themselves).
 */
export function nestedSegment(name: string): string {
  if (!name.includes('&')) return name;
  let valid = !name.replace(/&[^-]*-/g, '').includes('&');
  const decoded = name.replace(/&([^-]*)-/g, (whole, b64: string) => {
    if (b64 === '') return '&';
    const text = decodeRun(b64);
    if (text === undefined || /[\x20-\x7e]/.test(text)) valid = false;
    return text ?? whole;
  });
  return valid ? decoded : name;
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
    // Cut at 80 characters, not UTF-16 units (half an emoji would end the line).
    throw new MailferryError('BAD_MAILBOX_NAME', `folder name too long for a Maildir: ${Array.from(parts.join('/')).slice(0, 80).join('')}…`, {
      scope: 'mailbox',
      hint: "leave it out (--exclude) or give it a shorter name (--map 'NAME=SHORTER')",
    });
  }
  return name;
}

/**
 * Directory name under the root → hierarchy. '' is INBOX, and so is an empty first component:
 * mbsync's `SubFolders Maildir++` writes INBOX's subfolder `INBOX/sub` as `..sub`.
 */
export function segmentsOfDirName(dir: string): string[] {
  if (dir === '') return ['INBOX'];
  const segments = dir.replace(/^\./, '').split('.').map(decodeSegment);
  if (segments.length > 1 && segments[0] === '') segments[0] = 'INBOX';
  return segments;
}
