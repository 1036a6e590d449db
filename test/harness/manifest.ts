// What the harness put on the server, in a shape tests can compare against.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ManifestEntry {
  /** Folder with '/' as hierarchy separator, e.g. "Archive/2002", "Café ☕", "INBOX". */
  folder: string;
  /** Exact bytes as the server stores them (given bytes with CR LF → LF: dovecotStoredBytes). */
  bytes: Buffer;
  /** IMAP system flags, e.g. ["\\Flagged", "\\Seen"] (never \Recent). */
  flags: string[];
  internalDate: Date;
  /** Unfolded value of the first Message-ID header, trimmed; null without one. */
  messageId: string | null;
  /** Where it came from, e.g. "easy-ham-1/00001.7c53….txt" or "fixtures/nul-byte.eml". */
  origin: string;
  /** When bytes are an unmodified slice of a file: that file and the offset of the slice. */
  source?: { path: string; offset: number };
}

/**
 * What Dovecot stores for a message it is given (doveadm import/save, IMAP APPEND, LDA all save
 * through i_stream_create_lf with mail_save_crlf = no): every CR LF becomes LF; lone CRs stay.
 * In the corpus this changes exactly one message (spam-2/00083.…, which has "\r\r\r\n" lines).
 */
export function dovecotStoredBytes(raw: Buffer): Buffer {
  if (!raw.includes('\r\n')) return raw;
  return Buffer.from(raw.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

/** Maildir info letters (sorted, as Maildir requires) → IMAP flags. */
const LETTER_FLAGS: Record<string, string> = { D: '\\Draft', F: '\\Flagged', R: '\\Answered', S: '\\Seen' };

/** Deterministic flags for the n-th message (1-based): S n%3, F n%7, R n%11, D n%13. */
export function maildirLettersFor(n: number): string {
  return (n % 13 === 0 ? 'D' : '') + (n % 7 === 0 ? 'F' : '') + (n % 11 === 0 ? 'R' : '') + (n % 3 === 0 ? 'S' : '');
}

export function lettersToFlags(letters: string): string[] {
  return [...letters].map((l) => {
    const f = LETTER_FLAGS[l];
    if (f === undefined) throw new Error(`unknown maildir flag letter ${l}`);
    return f;
  });
}

/** Deterministic distinct INTERNALDATE: base + n*97 s (whole seconds, as IMAP shows them). */
export function internalDateFor(n: number, base = Date.UTC(2002, 2, 1)): Date {
  return new Date(base + n * 97_000);
}

/** The header block (without the empty separator line) as a latin1 string (byte-preserving). */
export function headerBlock(raw: Buffer): string {
  const s = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(s);
  return m ? s.slice(0, m.index) : s;
}

export function messageIdOf(raw: Buffer): string | null {
  const m = /^message-id:([^\n]*(?:\n[ \t][^\n]*)*)/im.exec(headerBlock(raw));
  if (!m) return null;
  const value = m[1]!.replace(/\r?\n(?=[ \t])/g, '').trim();
  return Buffer.from(value, 'latin1').toString('utf8');
}

// ---- JSON form, for handing the manifest from globalSetup to test workers ----

export interface SerializedEntry {
  folder: string;
  flags: string[];
  internalDate: string;
  messageId: string | null;
  origin: string;
  sha256: string;
  size: number;
  /** bytes = readFile(path).subarray(offset, offset + size) */
  path: string;
  offset: number;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Write the manifest as JSON; bytes stay on disk (the source file, or a blob under blobDir). */
export function writeManifest(file: string, entries: ManifestEntry[], blobDir: string): void {
  const out: SerializedEntry[] = entries.map((e) => {
    const hash = sha256(e.bytes);
    let where = e.source;
    if (where === undefined) {
      mkdirSync(blobDir, { recursive: true });
      where = { path: path.join(blobDir, `${hash}.eml`), offset: 0 };
      writeFileSync(where.path, e.bytes);
    }
    return {
      folder: e.folder, flags: e.flags, internalDate: e.internalDate.toISOString(), messageId: e.messageId,
      origin: e.origin, sha256: hash, size: e.bytes.length, path: where.path, offset: where.offset,
    };
  });
  writeFileSync(file, JSON.stringify(out));
}

export function readManifestIndex(file: string): SerializedEntry[] {
  return JSON.parse(readFileSync(file, 'utf8')) as SerializedEntry[];
}

/** Load the manifest with bytes; checks each entry's sha256. */
export function readManifest(file: string): ManifestEntry[] {
  return readManifestIndex(file).map((s) => {
    const bytes = readFileSync(s.path).subarray(s.offset, s.offset + s.size);
    if (bytes.length !== s.size || sha256(bytes) !== s.sha256) throw new Error(`manifest bytes changed: ${s.path}`);
    return {
      folder: s.folder, bytes, flags: s.flags, internalDate: new Date(s.internalDate), messageId: s.messageId,
      origin: s.origin, source: { path: s.path, offset: s.offset },
    };
  });
}
