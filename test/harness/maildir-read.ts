// Reads a Maildir++ tree back for assertions: folder ('/'-joined, decoded) → messages.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { segmentsOfDirName } from '../../src/drivers/maildir/names.js';

export interface StoredFile {
  path: string;
  name: string;
  bytes: Buffer;
  info: string;
  mtimeMs: number;
  mode: number;
}

export function readMaildirTree(root: string): Map<string, StoredFile[]> {
  const out = new Map<string, StoredFile[]>();
  const dirs = ['', ...readdirSync(root).filter((d) => d.startsWith('.') && d !== '.' && d !== '..' && statSync(join(root, d)).isDirectory())];
  for (const d of dirs) {
    const folder = segmentsOfDirName(d).join('/');
    const files: StoredFile[] = [];
    for (const sub of ['cur', 'new']) {
      let names: string[] = [];
      try {
        names = readdirSync(join(root, d, sub));
      } catch {
        continue;
      }
      for (const name of names) {
        const path = join(root, d, sub, name);
        const st = statSync(path);
        const i = name.indexOf(':2,');
        files.push({ path, name, bytes: readFileSync(path), info: i < 0 ? '' : name.slice(i + 3), mtimeMs: st.mtimeMs, mode: st.mode & 0o777 });
      }
    }
    out.set(folder, files);
  }
  return out;
}

/** Maildir info letters of IMAP flags, sorted. */
export function lettersOf(flags: string[]): string {
  const m: Record<string, string> = { '\\draft': 'D', '\\flagged': 'F', '\\answered': 'R', '\\seen': 'S', '\\deleted': 'T' };
  return [...new Set(flags.map((f) => m[f.toLowerCase()]).filter(Boolean))].sort().join('');
}
