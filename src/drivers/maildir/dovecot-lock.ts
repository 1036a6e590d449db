/**
 * Dovecot's lock of a Maildir folder's `dovecot-uidlist` (`dovecot-uidlist.lock`, a dotlock).
 * Dovecot changes `dovecot-keywords` only while it holds this lock, and takes no lock of that
 * file's own: a program adding a keyword to a folder Dovecot also serves takes it too, reads the
 * table again under it and writes it before letting go, or one of the two loses the other's
 * keywords (and the letters already in file names then name the wrong keyword).
 *
 * Taken as Dovecot takes it: created with O_EXCL, holding "PID:HOST". Stale as Dovecot judges:
 * untouched for two minutes, or its process gone on this host.
 */
import { promises as fs, constants as C } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MailferryError } from '../../errors.js';
import { pidAlive } from '../../proc.js';
import { readMaildirFile } from './read-header.js';
import type { Owner } from './owner.js';

export const UIDLIST_LOCK = 'dovecot-uidlist.lock';
/** Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT. */
const STALE_MS = 120_000;
/** Past a stale lock's age: a lock kept fresh this long is held by something stuck. */
const WAIT_MS = 180_000;
const POLL_MS = 50;

/**
 * Whether the lock at `path` is stale: old, or held by a process of this host that is gone, or no
 * lock at all (a link or a FIFO planted there: removed, never followed or read).
 */
async function stale(path: string): Promise<boolean> {
  const st = await fs.lstat(path).catch(() => null);
  if (!st) return false;
  if (!st.isFile()) return true;
  if (Date.now() - st.mtimeMs > STALE_MS) return true;
  const text = (await readMaildirFile(path, 256).catch(() => Buffer.alloc(0))).toString('latin1');
  const m = /^(\d+):(.*)$/.exec(text.trim());
  return m !== null && m[2] === hostname() && !pidAlive(Number(m[1]));
}

/**
 * Takes folder `dir`'s uidlist lock, waiting while another holds it; returns its release, which
 * removes the lock only while it is still the one taken here. `onError` names a failure; `owner`,
 * whom the lock is given to (owner.ts: Dovecot reads a lock it finds, to judge whether it is stale).
 */
export async function lockUidlist(dir: string, onError: (err: unknown, path: string) => MailferryError, owner?: Owner): Promise<() => Promise<void>> {
  const path = join(dir, UIDLIST_LOCK);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let fh;
    try {
      fh = await fs.open(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw onError(err, path);
      if (await stale(path)) {
        await fs.unlink(path).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) {
        throw new MailferryError('DEST_IO', `${path} is held by another program and stays so: keywords not written`, {
          hint: 'the mail server or client holding it may be stuck; rerun later',
        });
      }
      await sleep(POLL_MS);
      continue;
    }
    let ino: number;
    try {
      if (owner) await fh.chown(owner.uid, owner.gid);
      await fh.writeFile(`${process.pid}:${hostname()}`);
      ino = (await fh.stat()).ino;
    } catch (err) {
      await fh.close().catch(() => {});
      await fs.unlink(path).catch(() => {});
      throw onError(err, path);
    }
    await fh.close();
    return async () => {
      const now = await fs.stat(path).catch(() => null);
      if (now?.ino === ino) await fs.unlink(path).catch(() => {});
    };
  }
}
