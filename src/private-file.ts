/** Files mailferry writes are 0600, also one that existed before (a --log-file, a --report); and written whole. */
import { closeSync, constants as C, fchmodSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';

/**
 * An existing file opened for writing keeps its mode: take group and others' access away, as a
 * new file would not have had it. Only a regular file of this user (not /dev/stderr, a pipe, or
 * the file standard error is, which the shell opened).
 */
export function makePrivate(fd: number, st = fstatSync(fd)): void {
  if (st.isFile() && (st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fchmodSync(fd, st.mode & 0o700);
}

/**
 * Opens `path` for writing (created 0600, appended to, or `keep`: as it is, for `emptyOwn` when
 * writing begins), made private. A symbolic
 * link is followed only to what is not a regular file (/dev/stderr on a terminal or a pipe), or to
 * the very file standard output or error already is (`2>>cron.log --log-file /dev/stderr`: then
 * neither truncated nor re-moded): a link planted where a report or log is written would
 * otherwise have another file truncated and made 0600. What is checked is what was opened.
 */
export function openPrivate(path: string, how: 'append' | 'keep'): number {
  const flags = C.O_WRONLY | (how === 'append' ? C.O_APPEND : 0);
  let fd: number;
  try {
    fd = openSync(path, flags | C.O_CREAT | C.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    // Appended to: opened again through the link, a regular file (`2>>cron.log`) starts at 0 here,
    // and would be written over from its first byte (a pipe or a terminal is the same either way).
    fd = openSync(path, flags | C.O_APPEND);
    const st = fstatSync(fd);
    if (!st.isFile()) return fd;
    if (isStdStream(st)) return fd;
    closeSync(fd);
    throw Object.assign(new Error(`${path} is a symbolic link to a file: not followed`), { code: 'ELOOP' });
  }
  const st = fstatSync(fd);
  // Another user's file (made first in a shared directory such as /tmp): they could read what is
  // written, and write lines of their own into it. Not written, not truncated. (The file standard
  // error already is, `2>>log --log-file /dev/stderr`, is followed through a link, above.)
  const me = process.getuid?.();
  if (st.isFile() && me !== undefined && st.uid !== me && !isStdStream(st)) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} belongs to another user, who could read it and write into it: not written`), { code: 'EFOREIGN' });
  }
  makePrivate(fd, st);
  return fd;
}

/**
 * Empties a file openPrivate opened (`keep`), when writing to it begins: a regular file, but never
 * the one standard output or error is open on (`--report /dev/stderr 2>>cron.log`: the shell's
 * file, appended to, not the run's to empty).
 */
export function emptyOwn(fd: number): void {
  const st = fstatSync(fd);
  if (st.isFile() && !isStdStream(st)) ftruncateSync(fd, 0);
}

/**
 * link() failed so: the file system has no hard links (or none between the two directories). A
 * lock made whole by a link into place (checkpoint/lock.ts, maildir/dovecot-lock.ts) falls back
 * to an exclusive create and a write there.
 */
export function noHardLinks(err: unknown): boolean {
  return ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EXDEV'].includes((err as NodeJS.ErrnoException).code ?? '');
}

/** The file is the one standard output or standard error is open on. */
function isStdStream(st: { dev: number; ino: number }): boolean {
  for (const std of [1, 2]) {
    try {
      const o = fstatSync(std);
      if (o.dev === st.dev && o.ino === st.ino) return true;
    } catch {
      // closed
    }
  }
  return false;
}

/** `text` written in full: a write may take only part of it (a disk nearly full, a file size limit). */
export function writeFully(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}
