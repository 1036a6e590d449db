/** Files mailferry writes are 0600, also one that existed before (a --log-file, a --report). */
import { fchmodSync, fstatSync } from 'node:fs';

/**
 * An existing file opened for writing keeps its mode: take group and others' access away, as a
 * new file would not have had it. Only a regular file of this user (not /dev/stderr, a pipe, or
 * a file someone else shares with us).
 */
export function makePrivate(fd: number): void {
  const st = fstatSync(fd);
  if (st.isFile() && (st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fchmodSync(fd, st.mode & 0o700);
}
