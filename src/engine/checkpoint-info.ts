/** `mailferry checkpoint show|reset PATH`: what a checkpoint says, and starting it over. */
import { existsSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { Journal, looksLikeCheckpoint } from '../checkpoint/journal.js';
import { acquireLock } from '../checkpoint/lock.js';
import { fileErrorReason, MailferryError } from '../errors.js';
import { segmentsOfDirName } from '../drivers/maildir/names.js';
import { checkpointPathOf } from '../checkpoint/path.js';
import { describeEndpoint, parseEndpoint } from './endpoint.js';

export interface CheckpointFolder {
  folder: string;
  validity: string | null;
  done: number;
  pending: number;
  /** Complete up to this UIDNEXT at the end of the last run without failures. */
  completeUpTo: number | null;
}

export interface CheckpointSummary {
  path: string;
  source: string;
  dest: string;
  created: string;
  bytes: number;
  records: number;
  done: number;
  pending: number;
  folders: CheckpointFolder[];
  locked: { pid: number; host: string; started: string } | null;
}

function missing(path: string): MailferryError {
  return new MailferryError('BAD_CONFIG', `no checkpoint at ${path}`, { hint: 'copy prints the checkpoint path it uses (see its --json result, "checkpoint")' });
}

/** The checkpoint a copy from `source` to `dest` uses when none is named (as job.ts resolves it). */
export function jobCheckpointPath(source: string, dest: string): string {
  return checkpointPathOf(describeEndpoint(parseEndpoint(source, 'source')), describeEndpoint(parseEndpoint(dest, 'dest')));
}

/** The first line must be a mailferry header: reset never deletes a file that is not ours. */
function assertCheckpoint(path: string): void {
  if (!looksLikeCheckpoint(path)) throw new MailferryError('BAD_CONFIG', `${path} is not a mailferry checkpoint`, { hint: 'nothing was changed; check the path' });
}

export function lockHolder(path: string): CheckpointSummary['locked'] {
  try {
    const info = JSON.parse(readFileSync(path + '.lock', 'utf8'));
    return typeof info.pid === 'number' ? { pid: info.pid, host: String(info.host), started: String(info.started) } : null;
  } catch {
    return null;
  }
}

export function showCheckpoint(path: string): CheckpointSummary {
  if (!existsSync(path)) throw missing(path);
  if (statSync(path).isDirectory()) throw new MailferryError('BAD_CONFIG', `${path} is a directory, not a checkpoint`, { hint: 'give the path of the checkpoint file (copy prints it: see its --json result, "checkpoint")' });
  const { state, header } = Journal.replay(path);
  // A Maildir source keeps a folder by its directory name (.Sent.2020): named as copy names it (Sent/2020).
  const named = (folder: string) => (header.source.startsWith('maildir:') && folder.startsWith('.') ? segmentsOfDirName(folder).join('/') : folder);
  const folders: CheckpointFolder[] = [...state.folders].map(([folder, f]) => ({
    folder: named(folder),
    validity: f.validity ?? null,
    done: f.done.size,
    pending: f.pending.size,
    completeUpTo: f.end?.next ?? null,
  }));
  return {
    path,
    source: header.source,
    dest: header.dest,
    created: (header as unknown as { created: string }).created,
    bytes: statSync(path).size,
    records: state.records,
    done: folders.reduce((n, f) => n + f.done, 0),
    pending: folders.reduce((n, f) => n + f.pending, 0),
    folders,
    locked: lockHolder(path),
  };
}

/** Delete the checkpoint (under its lock). The next copy rebuilds what is done from the destination. */
export function resetCheckpoint(path: string, warn: (m: string) => void): { path: string; removed: boolean } {
  if (!existsSync(path)) return { path, removed: false };
  // An empty file is what a copy calls an unreadable checkpoint to move away: reset takes it too.
  const st = statSync(path);
  const empty = st.isFile() && st.size === 0;
  if (!empty) assertCheckpoint(path);
  const lock = acquireLock(path, warn);
  try {
    unlinkSync(path);
  } catch (err) {
    // Immutable (chattr +i), a directory it may not write, a read-only file system: the
    // checkpoint stays as it was, and the next copy goes on from it.
    const hint =
      (err as NodeJS.ErrnoException).code === 'EPERM'
        ? 'the checkpoint was kept; an immutable file (lsattr) must be made mutable first (chattr -i)'
        : 'the checkpoint was kept; check the permissions of its directory and the file system it is on';
    throw new MailferryError('CHECKPOINT_IO', `cannot delete checkpoint ${path}: ${fileErrorReason(err)}`, { hint, cause: err });
  } finally {
    lock.release();
  }
  return { path, removed: true };
}
