/**
 * `mailferry checkpoint list [DIR]`: the checkpoints in the state directory (or DIR), each with its
 * job, when a run last wrote it and its size. A job whose URL or path was edited (a server moved)
 * starts a new default checkpoint, and the old one stays: found here, it can be reset. Reads each
 * file's first line only (its header), so a directory of large checkpoints is listed at once.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readHeader } from '../checkpoint/journal.js';
import { fileErrorReason, MailferryError } from '../errors.js';
import { lockHolder, type CheckpointSummary } from './checkpoint-info.js';

export interface CheckpointEntry {
  path: string;
  source: string;
  dest: string;
  created: string;
  /** When a run last wrote to it (the file's mtime). */
  modified: string;
  bytes: number;
  locked: CheckpointSummary['locked'];
}

export interface CheckpointList {
  dir: string;
  checkpoints: CheckpointEntry[];
}

/** `given`: a directory named by the user, which must exist; else the state directory, which may not yet. */
export function listCheckpoints(dir: string, given: boolean): CheckpointList {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!given && code === 'ENOENT') return { dir, checkpoints: [] };
    const why = code === 'ENOTDIR' ? 'it is not a directory' : fileErrorReason(err);
    throw new MailferryError('BAD_CONFIG', `cannot list checkpoints in ${dir}: ${why}`, { hint: 'give the directory the checkpoints are in (by default the state directory, ~/.local/state/mailferry)' });
  }
  const checkpoints: CheckpointEntry[] = [];
  for (const name of names) {
    const path = join(dir, name);
    let st;
    try {
      st = statSync(path);
    } catch {
      continue; // gone since
    }
    if (!st.isFile()) continue;
    const h = readHeader(path);
    if (h === null) continue; // a lock, a leftover, or not a checkpoint
    checkpoints.push({ path, source: h.source, dest: h.dest, created: h.created, modified: st.mtime.toISOString(), bytes: st.size, locked: lockHolder(path) });
  }
  checkpoints.sort((a, b) => (a.modified < b.modified ? 1 : a.modified > b.modified ? -1 : a.path.localeCompare(b.path)));
  return { dir, checkpoints };
}
