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
 * writing begins), made private; close it with closePrivate. A symbolic
 * link is followed only to what is not a regular file (/dev/stderr on a terminal or a pipe), or to
 * the very file standard output or error already is (`2>>cron.log --log-file /dev/stderr`: then
 * neither truncated nor re-moded): a link planted where a report or log is written would
 * otherwise have another file truncated and made 0600. What is checked is what was opened.
 * The file standard output or error is open on is written through that descriptor (1 or 2), not
 * a second one: the shell's `>out` is not opened to append, so a second description would have
 * the run's own lines (its summary, its log on stderr) written over the first lines of the file.
 */
export function openPrivate(path: string, how: 'append' | 'keep'): number {
  const flags = C.O_WRONLY | (how === 'append' ? C.O_APPEND : 0);
  let fd: number;
  try {
    fd = openSync(path, flags | C.O_CREAT | C.O_NOFOLLOW, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOOP') throw err;
    // Through the link: to a pipe or a terminal, or to the file standard output or error is open
    // on (given back as that descriptor, below); to any other file, not.
    fd = openSync(path, flags);
    const linked = fstatSync(fd);
    if (!linked.isFile()) return fd;
    if (stdStreamOf(linked) === undefined) {
      closeSync(fd);
      throw Object.assign(new Error(`${path} is a symbolic link to a file: not followed`), { code: 'ELOOP' });
    }
  }
  const st = fstatSync(fd);
  const std = st.isFile() ? stdStreamOf(st) : undefined;
  if (std !== undefined) {
    closeSync(fd);
    return std;
  }
  // Another user's file (made first in a shared directory such as /tmp): they could read what is
  // written, and write lines of their own into it. Not written, not truncated. (The file standard
  // output or error is open on, the shell's, is written through that descriptor, above.)
  const me = process.getuid?.();
  if (st.isFile() && me !== undefined && st.uid !== me) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} belongs to another user, who could read it and write into it: not written`), { code: 'EFOREIGN' });
  }
  makePrivate(fd, st);
  return fd;
}

/**
 * Empties a file openPrivate opened (`keep`), when writing to it begins: a regular file, but never
 * standard output or error, which openPrivate gives for the file the shell opened
 * (`--report /dev/stderr 2>>cron.log`: the shell's file, not the run's to empty).
 */
export function emptyOwn(fd: number): void {
  if (fd > 2 && fstatSync(fd).isFile()) ftruncateSync(fd, 0);
}

/** Closes what openPrivate opened: never standard output or error, which it may have given. */
export function closePrivate(fd: number): void {
  if (fd > 2) closeSync(fd);
}

/**
 * link() failed so: the file system has no hard links (or none between the two directories). A
 * lock made whole by a link into place (checkpoint/lock.ts, maildir/dovecot-lock.ts) falls back
 * to an exclusive create and a write there.
 */
export function noHardLinks(err: unknown): boolean {
  return ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EXDEV'].includes((err as NodeJS.ErrnoException).code ?? '');
}

/** Standard output (1) or error (2), if the file is the one it is open on. */
export function stdStreamOf(st: { dev: number; ino: number }): 1 | 2 | undefined {
  for (const std of [1, 2] as const) {
    try {
      const o = fstatSync(std);
      if (o.dev === st.dev && o.ino === st.ino) return std;
    } catch {
      // closed
    }
  }
  return undefined;
}

/** `text` written in full: a write may take only part of it (a disk nearly full, a file size limit). */
export function writeFully(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}
