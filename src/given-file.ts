/**
 * Files the user names for mailferry to read (a password file, a job file, a CA bundle): read
 * without ever blocking the main thread, so Ctrl-C, SIGTERM and a CI step's `timeout` still work.
 * A FIFO is opened non-blocking (a blocking open waits for a writer that may never come, and a
 * synchronous read of it had left the process deaf to every signal but SIGKILL); a pipe, as
 * `--source-password-file <(pass show mail)` gives, is read as its writer writes, to the end. A
 * FIFO nobody writes reads as empty.
 */
import { constants as C, promises as fs, type Stats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long to wait between reads of a pipe that has nothing yet. */
const POLL_MS = 20;

/** The file's bytes, and what the opened file is (its mode, whether it is a regular file). */
export async function readGivenFile(path: string, max = 16 * 1024 * 1024): Promise<{ bytes: Buffer; stats: Stats }> {
  const fh = await fs.open(path, C.O_RDONLY | C.O_NONBLOCK);
  try {
    const stats = await fh.stat();
    if (stats.isDirectory()) throw Object.assign(new Error(`${path} is a directory`), { code: 'EISDIR' });
    if (stats.isFile() && stats.size > max) throw Object.assign(new Error(`${path} is larger than ${max} bytes`), { code: 'EFBIG' });
    const parts: Buffer[] = [];
    let length = 0;
    for (;;) {
      const buf = Buffer.alloc(64 * 1024);
      let n: number;
      try {
        n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
      } catch (err) {
        // A pipe its writer has not written to yet.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          await sleep(POLL_MS);
          continue;
        }
        throw err;
      }
      if (n === 0) break;
      parts.push(buf.subarray(0, n));
      length += n;
      if (length > max) throw Object.assign(new Error(`${path} is larger than ${max} bytes`), { code: 'EFBIG' });
    }
    return { bytes: Buffer.concat(parts), stats };
  } finally {
    await fh.close();
  }
}
