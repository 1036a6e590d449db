/**
 * Files a killed run left beside one of mailferry's own (a lock's or a checkpoint's temp file):
 * those in the same directory whose name is `prefix` followed by what `pattern` matches. The
 * caller judges each (its writer gone?) before removing it. A directory that cannot be read has none.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

export function* leftoversBeside(dir: string, prefix: string, pattern: RegExp): Iterable<{ file: string; match: RegExpExecArray }> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = name.startsWith(prefix) ? pattern.exec(name.slice(prefix.length)) : null;
    if (match) yield { file: join(dir, name), match };
  }
}
