/** --json and the files a run writes: none of them may be standard output. */
import { statSync, type Stats } from 'node:fs';
import { MailferryError } from '../errors.js';
import { stdStreamOf } from '../private-file.js';

/**
 * With --json, standard output carries one JSON document, for a program to read: a --report or
 * --log-file that is standard output (/dev/stdout, or the file or pipe the shell sends it to)
 * would put other lines in it. A terminal or /dev/null is no such reader.
 */
export function besideJson(files: Record<string, string | undefined>, json: boolean): void {
  if (!json) return;
  for (const [flag, path] of Object.entries(files)) {
    if (path === undefined || path.trim() === '') continue;
    let st: Stats;
    try {
      st = statSync(path);
    } catch {
      continue;
    }
    if (st.isCharacterDevice() || stdStreamOf(st) !== 1) continue;
    throw new MailferryError('USAGE', `${flag} ${path} is standard output, where --json writes its one document`, { hint: `write ${flag === '--report' ? 'the report' : 'the log'} to a file of its own, or leave --json out` });
  }
}
