// Compare every message of a target Maildir tree with the server's own stored copies (the source
// user's Maildir). Port of /work/shared/bench/verify.py, plus a per-folder check for mailferry.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { lfToCrlf } from '../src/mail/line-endings.js';

export interface MailFile {
  /** Folder directory relative to the Maildir root ('' for INBOX). */
  folder: string;
  file: string;
}

/** Every message file of a Maildir tree (any cur/ or new/ directory below root). */
export async function mailFiles(root: string): Promise<MailFile[]> {
  const out: MailFile[] = [];
  async function walk(dir: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      if (e.name === 'cur' || e.name === 'new') {
        for (const f of await readdir(p, { withFileTypes: true })) {
          if (f.isFile()) out.push({ folder: path.relative(root, dir), file: path.join(p, f.name) });
        }
      } else if (e.name !== 'tmp') {
        await walk(p);
      }
    }
  }
  await walk(root);
  return out;
}

export async function countMessages(root: string): Promise<number> {
  return (await mailFiles(root)).length;
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('base64');

/** Header block and body with every CR removed and a final newline ensured. */
function split(raw: Buffer): { hdr: string; body: string } {
  let s = raw.toString('latin1').replace(/\r/g, '');
  if (!s.endsWith('\n')) s += '\n';
  let i = s.indexOf('\n\n');
  if (i < 0) i = s.length;
  return { hdr: s.slice(0, i), body: s.slice(i) };
}

function unfold(hdr: string): string[] {
  const out: string[] = [];
  for (const l of hdr.split('\n')) {
    if ((l.startsWith(' ') || l.startsWith('\t')) && out.length > 0) out[out.length - 1] += '\n' + l;
    else out.push(l);
  }
  return out;
}

export interface Reference {
  count: number;
  bytes: number;
  exact: Map<string, number>;
  /** folder \0 hash → count */
  perFolder: Map<string, number>;
  eol: Set<string>;
  /** The message as an IMAP client is served it (bare LF → CRLF): stored LF and CRLF alike. */
  served: Set<string>;
  byBody: Map<string, string[][]>;
}

async function readAll<T>(files: MailFile[], fn: (f: MailFile, raw: Buffer) => T): Promise<T[]> {
  const out: T[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      out[i] = fn(files[i]!, await readFile(files[i]!.file));
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return out;
}

const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);

export async function loadReference(root: string): Promise<Reference> {
  const ref: Reference = { count: 0, bytes: 0, exact: new Map(), perFolder: new Map(), eol: new Set(), served: new Set(), byBody: new Map() };
  await readAll(await mailFiles(root), (f, raw) => {
    ref.count++;
    ref.bytes += raw.length;
    const h = sha(raw);
    bump(ref.exact, h);
    bump(ref.perFolder, `${f.folder}\0${h}`);
    ref.served.add(sha(lfToCrlf(raw)));
    const { hdr, body } = split(raw);
    ref.eol.add(sha(hdr + body));
    const b = sha(body);
    const list = ref.byBody.get(b) ?? [];
    list.push(unfold(hdr));
    ref.byBody.set(b, list);
  });
  return ref;
}

export interface Fidelity {
  count: number;
  bytes: number;
  /** Byte-identical to a stored copy. */
  exact: number;
  /**
   * Served identically to a stored copy, bytes differing only where the store holds CRLF itself:
   * a server serves a stored CRLF and a stored LF alike, so no client can tell them apart.
   */
  served: number;
  /** Identical after removing CRs and adding a missing final newline. */
  eol: number;
  /** Body and every original header line intact; header lines added. */
  hdrAdded: number;
  /** Anything else. */
  altered: number;
  /** Target messages beyond the reference's multiplicity (same bytes twice). */
  dup: number;
  /** Reference messages with no byte-identical copy in the target. */
  missing: number;
  /** Byte-identical copies in the same folder (relative Maildir path) as the reference. */
  sameFolder: number;
  added: Map<string, number>;
  /** A few target files that are not byte-identical to a stored copy. */
  samples: string[];
}

export async function compare(ref: Reference, targetRoot: string): Promise<Fidelity> {
  const fid: Fidelity = { count: 0, bytes: 0, exact: 0, served: 0, eol: 0, hdrAdded: 0, altered: 0, dup: 0, missing: 0, sameFolder: 0, added: new Map(), samples: [] };
  const seen = new Map<string, number>();
  const seenFolder = new Map<string, number>();
  await readAll(await mailFiles(targetRoot), (f, raw) => {
    fid.count++;
    fid.bytes += raw.length;
    const h = sha(raw);
    if (ref.exact.has(h)) {
      fid.exact++;
      bump(seen, h);
      const k = `${f.folder}\0${h}`;
      bump(seenFolder, k);
      if ((seenFolder.get(k) ?? 0) <= (ref.perFolder.get(k) ?? 0)) fid.sameFolder++;
      return;
    }
    if (ref.served.has(sha(lfToCrlf(raw)))) return void fid.served++;
    if (fid.samples.length < 3) fid.samples.push(f.file);
    const { hdr, body } = split(raw);
    if (ref.eol.has(sha(hdr + body))) return void fid.eol++;
    const lines = unfold(hdr);
    const have = new Set(lines);
    const cand = (ref.byBody.get(sha(body)) ?? []).find((c) => c.every((l) => have.has(l)));
    if (!cand) return void fid.altered++;
    fid.hdrAdded++;
    const orig = new Set(cand);
    for (const l of lines) if (!orig.has(l)) bump(fid.added, l.split(':')[0]!);
  });
  for (const [h, n] of ref.exact) {
    const got = seen.get(h) ?? 0;
    if (got < n) fid.missing += n - got;
    if (got > n) fid.dup += got - n;
  }
  return fid;
}

export function describe(f: Fidelity): string {
  const parts = [`${f.exact} exact`];
  if (f.served) parts.push(`${f.served} identical as served (the store holds CRLF there)`);
  if (f.eol) parts.push(`${f.eol} line endings changed`);
  if (f.hdrAdded) {
    const names = [...f.added].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([k]) => k);
    parts.push(`${f.hdrAdded} with header lines added (${names.join(', ')})`);
  }
  if (f.altered) parts.push(`${f.altered} altered`);
  if (f.dup) parts.push(`${f.dup} duplicates`);
  return parts.join(', ');
}
