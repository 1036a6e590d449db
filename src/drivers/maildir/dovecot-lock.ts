/**
 * Dovecot's lock of a Maildir folder's `dovecot-uidlist` (`dovecot-uidlist.lock`, a dotlock).
 * Dovecot changes `dovecot-keywords` only while it holds this lock, and takes no lock of that
 * file's own: a program adding a keyword to a folder Dovecot also serves takes it too, reads the
 * table again under it and writes it before letting go, or one of the two loses the other's
 * keywords (and the letters already in file names then name the wrong keyword).
 *
 * Taken as Dovecot takes it: a regular file holding "PID:HOST", made with its content in one step
 * (written to a file of its own in the folder's tmp/, then hard-linked to the lock's name, which
 * fails if a lock is there: Dovecot's own way when it does not use O_EXCL). Never empty: a lock
 * created empty and written after (O_EXCL, then write) that a kill left empty names no process,
 * so neither Dovecot nor a later run can judge it until it is two minutes old. Where the file
 * system has no hard links, an exclusive create and a write. Stale as Dovecot judges: untouched
 * for two minutes, or its process gone on this host.
 */
import { promises as fs, constants as C } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MailferryError } from '../../errors.js';
import { pidAlive } from '../../proc.js';
import { noHardLinks } from '../../private-file.js';
import { readMaildirFile } from './read-header.js';
import { uniqueBase } from './unique.js';
import type { Owner } from './owner.js';

export const UIDLIST_LOCK = 'dovecot-uidlist.lock';
/** Dovecot's MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT. */
const STALE_MS = 120_000;
/** Past a stale lock's age: a lock kept fresh this long is held by something stuck. */
const WAIT_MS = 180_000;
const POLL_MS = 50;
/** A wait this long is no passing moment (Dovecot holds the lock for milliseconds): it is said, once. */
const NOTICE_MS = 2000;

/** The lock's holder as its text names it ("PID:HOST"); null for a lock that names none (empty, garbage, gone). */
async function holderOf(path: string): Promise<{ pid: number; host: string } | null> {
  const text = (await readMaildirFile(path, 256).catch(() => Buffer.alloc(0))).toString('latin1');
  const m = /^(\d+):(.*)$/.exec(text.trim());
  return m ? { pid: Number(m[1]), host: m[2]! } : null;
}

/**
 * Whether the lock at `path` is stale: old, or held by a process of this host that is gone, or no
 * lock at all (a link or a FIFO planted there: removed, never followed or read).
 */
async function stale(path: string): Promise<boolean> {
  const st = await fs.lstat(path).catch(() => null);
  if (!st) return false;
  if (!st.isFile()) return true;
  if (Date.now() - st.mtimeMs > STALE_MS) return true;
  const holder = await holderOf(path);
  return holder !== null && holder.host === hostname() && !pidAlive(holder.pid);
}

/** A new file at `path` (O_EXCL, never through a link) holding `text`, given to `owner`; its inode. */
async function writeNew(path: string, text: string, owner?: Owner): Promise<number> {
  const fh = await fs.open(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  try {
    if (owner) await fh.chown(owner.uid, owner.gid);
    await fh.writeFile(text);
    const ino = (await fh.stat()).ino;
    await fh.close();
    return ino;
  } catch (err) {
    await fh.close().catch(() => {});
    await fs.unlink(path).catch(() => {});
    throw err;
  }
}

/**
 * The lock made whole at `path`, folder `dir`'s: its inode, or undefined when one is there. The
 * file linked into place is named as mailferry names what it writes in tmp/ (unique.ts): a kill
 * before it is removed leaves a file the next run's tmp/ cleanup knows as its own (host and pid).
 */
async function create(dir: string, path: string, text: string, owner?: Owner): Promise<number | undefined> {
  const tmp = join(dir, 'tmp', uniqueBase());
  const ino = await writeNew(tmp, text, owner);
  try {
    await fs.link(tmp, path);
    return ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    if (!noHardLinks(err)) throw err;
  } finally {
    await fs.unlink(tmp).catch(() => {});
  }
  try {
    return await writeNew(path, text, owner);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw err;
  }
}

/**
 * Takes folder `dir`'s uidlist lock, waiting while another holds it; returns its release, which
 * removes the lock only while it is still the one taken here. `onError` names a failure; `owner`,
 * whom the lock is given to (owner.ts: Dovecot reads a lock it finds, to judge whether it is stale);
 * `warn`, told once when the wait is a long one (the run would otherwise seem stuck).
 */
export async function lockUidlist(
  dir: string,
  onError: (err: unknown, path: string) => MailferryError,
  owner?: Owner,
  warn?: (msg: string) => void,
): Promise<() => Promise<void>> {
  const path = join(dir, UIDLIST_LOCK);
  const text = `${process.pid}:${hostname()}`;
  const start = Date.now();
  const deadline = start + WAIT_MS;
  let told = false;
  for (;;) {
    // Looked for first: a wait polls with a stat, not with a file made and removed each time.
    const there = await fs.lstat(path).then(
      () => true,
      () => false,
    );
    if (!there) {
      let ino: number | undefined;
      try {
        ino = await create(dir, path, text, owner);
      } catch (err) {
        throw onError(err, path);
      }
      if (ino !== undefined) {
        const mine = ino;
        return async () => {
          const now = await fs.stat(path).catch(() => null);
          if (now?.ino === mine) await fs.unlink(path).catch(() => {});
        };
      }
    }
    if (await stale(path)) {
      await fs.unlink(path).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) {
      throw new MailferryError('DEST_IO', `${path} is held by another program and stays so: keywords not written`, {
        hint: 'the mail server or client holding it may be stuck; rerun later',
      });
    }
    if (!told && Date.now() - start >= NOTICE_MS) {
      told = true;
      const holder = await holderOf(path);
      const who = holder ? `process ${holder.pid} on ${holder.host}` : 'a program that wrote no process in it (it counts as left behind once 2 minutes old)';
      warn?.(`${path} is held by ${who}: waiting for it to be let go to write the folder's new keywords (up to ${WAIT_MS / 60_000} minutes)`);
    }
    await sleep(POLL_MS);
  }
}
