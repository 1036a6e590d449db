/** --json and the files a run writes: none of them may be standard output. */
import { fstatSync, statSync } from 'node:fs';
import { MailferryError } from '../errors.js';

/**
 * With --json, standard output carries one JSON document, for a program to read: a --report or
 * --log-file that is standard output (/dev/stdout, or the file or pipe the shell sends it to)
 * would put other lines in it. A terminal or /dev/null is no such reader.
 */
export function besideJson(files: Record<string, string | undefined>, json: boolean): void {
  if (!json) return;
  let out: { dev: number; ino: number; isCharacterDevice(): boolean };
  try {
    out = fstatSync(1);
  } catch {
    return;
  }
  if (out.isCharacterDevice()) return;
  for (const [flag, path] of Object.entries(files)) {
    if (path === undefined || path.trim() === '') continue;
    let st: { dev: number; ino: number };
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (st.dev !== out.dev || st.ino !== out.ino) continue;
    throw new MailferryError('USAGE', `${flag} ${path} is standard output, where --json writes its one document`, { hint: `write ${flag === '--report' ? 'the report' : 'the log'} to a file of its own, or leave --json out` });
  }
}
