/**
 * One run per checkpoint: a lock file beside it, created with O_EXCL, holding the owner's pid
 * and host. A lock left by a dead process on this host is taken over with a warning. On Linux the
 * lock also names the boot and the owner's start time, so a lock that outlived a reboot, or whose
 * pid now belongs to another process, counts as left by a dead one (else it would block every run).
 *
 * A lock of another host cannot be judged by its pid: a container (each `docker run` or
 * Kubernetes job its own host name and PID namespace, on the same kernel) or another machine
 * sharing the volume. Its owner refreshes the lock's mtime every 30 s while it holds it, so one
 * not refreshed for 2 minutes (as Dovecot judges its dotlocks) was left by a run that is gone;
 * from another boot, whose clock may differ, 10 minutes.
 */
import { randomBytes } from 'node:crypto';
import { constants as C, closeSync, fstatSync, linkSync, lstatSync, openSync, readSync, unlinkSync, utimesSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { noHardLinks, writeFully } from '../private-file.js';
import { leftoversBeside } from '../leftovers.js';
import { atExit } from '../at-exit.js';
import { hostname } from 'node:os';
import { fileErrorReason, MailferryError } from '../errors.js';
import { bootId, pidAlive, procStat } from '../proc.js';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
  /** Linux: /proc/sys/kernel/random/boot_id of the owner's boot. */
  boot?: string;
  /** Linux: the owner's start time in clock ticks since boot (/proc/PID/stat, field 22). */
  start?: string;
}

/** A process's start time (Linux), which tells it apart from a later process with the same pid. */
const startTime = (pid: number): string | undefined => procStat(pid)?.[19];

/** The lock's owner is running: its pid is alive and, where the lock says, the same boot and process. */
function ownerAlive(holder: LockInfo): boolean {
  if (!pidAlive(holder.pid)) return false;
  const boot = bootId();
  if (holder.boot !== undefined && boot !== undefined && holder.boot !== boot) return false;
  if (holder.start !== undefined) {
    const now = startTime(holder.pid);
    if (now !== undefined && now !== holder.start) return false;
  }
  return true;
}

export interface Lock {
  path: string;
  release(): void;
}


function readLock(path: string, text?: string): LockInfo | null {
  try {
    const info = JSON.parse(text ?? readText(path) ?? '') as LockInfo;
    return typeof info.pid === 'number' ? info : null;
  } catch {
    return null;
  }
}

/** `held`: what the lock guards, for the message when another run holds it (default: the lock file). */
export function acquireLock(checkpointPath: string, warn: (msg: string) => void, held?: string): Lock {
  const path = checkpointPath + '.lock';
  const me: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const boot = bootId();
  const start = startTime(process.pid);
  if (boot !== undefined) me.boot = boot;
  if (start !== undefined) me.start = start;
  const text = JSON.stringify(me) + '\n';
  removeLeftovers(path);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(path, text)) {
      let released = false;
      // A run that ends at once (a signal before it copies, a second signal) lets go of it too,
      // rather than leaving the next run a stale lock to take over.
      const forget = atExit(() => release());
      const ino = inodeOf(path);
      const refresh = setInterval(() => {
        // Only while it is still this lock (never a lock another run made after a takeover).
        if (ino !== undefined && inodeOf(path) === ino) touch(path);
      }, REFRESH_MS);
      refresh.unref();
      const release = () => {
        if (released) return;
        released = true;
        clearInterval(refresh);
        forget();
        const cur = readLock(path);
        if (cur && cur.pid === me.pid && cur.host === me.host) rmQuiet(path);
      };
      return { path, release };
    }
    const seen = readText(path);
    if (seen === undefined) continue; // gone meanwhile: try again
    const holder = readLock(path, seen);
    if (holder && holder.host === me.host && !ownerAlive(holder)) {
      warn(`taking over a stale lock of process ${holder.pid} (no longer running) on ${path}`);
      removeIfStill(path, seen);
      continue;
    }
    if (holder && holder.host !== me.host) {
      const age = ageMs(path);
      if (age > (holder.boot !== undefined && holder.boot === boot ? FOREIGN_STALE_MS : OTHER_BOOT_STALE_MS)) {
        warn(`taking over the lock of process ${holder.pid} on ${holder.host}: not refreshed for ${Math.floor(age / 60_000)} minutes (its run is gone) on ${path}`);
        removeIfStill(path, seen);
        continue;
      }
    }
    if (!holder) {
      // Garbage, or a lock an older version created and had not written yet: removed only once
      // it is old enough that no run can still be about to write it.
      if (ageMs(path) < GARBAGE_AGE_MS) continue;
      warn(`removing an unreadable lock file ${path}`);
      removeIfStill(path, seen);
      continue;
    }
    throw new MailferryError('CHECKPOINT_LOCKED', `another mailferry run (pid ${holder.pid} on ${holder.host}, since ${holder.started}) ${held ?? `holds ${path}`}`, {
      hint:
        holder.host === me.host
          ? `wait for it to finish; if it is gone, delete ${held ? path : 'the .lock file'}`
          : `wait for it to finish; a run of another host that is gone leaves a lock that is taken over once not refreshed for ${holder.boot === boot ? 2 : 10} minutes`,
    });
  }
  throw new MailferryError('CHECKPOINT_LOCKED', `could not take the lock ${path}`, { hint: 'another run is starting at the same time' });
}

/** How often a held lock's mtime is refreshed. */
const REFRESH_MS = 30_000;
/** A lock of another host on this boot (a container) not refreshed for this long was left by a run that is gone. */
const FOREIGN_STALE_MS = 120_000;
/** The same, from another boot or a host that does not say (another machine: its clock may differ). */
const OTHER_BOOT_STALE_MS = 600_000;
/** An unreadable lock younger than this may be one being made. */
const GARBAGE_AGE_MS = 5000;
/** A takeover mutex older than this was left by a run that died taking over. */
const TAKEOVER_AGE_MS = 10_000;

/** A new file holding `text` whole; one that could not be written whole (a full disk) is not left behind. */
function writeNew(path: string, flags: number, text: string): void {
  const fd = openSync(path, flags, 0o600);
  try {
    writeFully(fd, text);
  } catch (err) {
    closeSync(fd);
    rmQuiet(path);
    throw err;
  }
  closeSync(fd);
}

/**
 * The lock made with its content in one step: written to a file of our own, then hard-linked to
 * the lock's name (which fails if it exists), so no run ever sees a lock half-written. Where the
 * file system has no hard links, an exclusive create and a write. A kill before that file is
 * removed again leaves it: removeLeftovers.
 */
function create(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    writeNew(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, text);
    try {
      linkSync(tmp, path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      if (!noHardLinks(err)) throw err;
    } finally {
      unlinkSync(tmp);
    }
    writeNew(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL, text);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new MailferryError('BAD_CONFIG', `cannot create the lock ${path}: ${fileErrorReason(err)}`, {
      hint: 'choose a --checkpoint path in a directory you can write to',
    });
  }
}

/** The name create() writes a lock under before linking it into place: `PATH.PID.RAND`. */
const TEMP_NAME = /^\.(\d+)\.[0-9a-f]{8}$/;

/**
 * What runs killed while making this lock left (the file of create(), written and never linked or
 * removed): each run would otherwise add one, beside the lock, for ever. Only names create() makes,
 * only regular files, and only once their writer is gone, judged as a lock is: the text names its
 * pid, host, boot and start (a file of another host, or of a process still running, stays). A file
 * with no readable text (killed before it was written) names no host: removed when its pid runs
 * nowhere here and it is older than a lock of another boot is ever kept. Best effort.
 */
function removeLeftovers(path: string): void {
  for (const { file, match: m } of leftoversBeside(dirname(path), basename(path), TEMP_NAME)) {
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    let text: string | undefined;
    try {
      text = readText(file);
    } catch {
      continue; // a link or no regular file: not one of ours
    }
    if (text === undefined) continue;
    const holder = readLock(file, text);
    const gone = holder
      ? holder.pid === pid && holder.host === hostname() && !ownerAlive(holder)
      : !pidAlive(pid) && ageMs(file) > OTHER_BOOT_STALE_MS;
    if (gone) rmQuiet(file);
  }
}

/**
 * Removes the lock if it still holds `seen`, under a takeover mutex (`PATH.takeover`, created
 * exclusively): two runs taking over one stale lock at once would otherwise each remove what the
 * other had just made, and both go on. A run that cannot have the mutex does nothing (it tries
 * again, and finds the winner's lock).
 */
function removeIfStill(path: string, seen: string): void {
  const mutex = `${path}.takeover`;
  let fd: number;
  try {
    fd = openSync(mutex, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  } catch {
    if (ageMs(mutex) > TAKEOVER_AGE_MS) rmQuiet(mutex);
    return;
  }
  try {
    if (readText(path) === seen) unlinkSync(path);
  } catch {
    // gone meanwhile
  } finally {
    closeSync(fd);
    rmQuiet(mutex);
  }
}

/** A lock is a few hundred bytes; what is longer is garbage and not read further. */
const MAX_LOCK_BYTES = 4096;

/**
 * A lock's text; undefined when it is gone. Never through a symbolic link, never anything but a
 * regular file: a link or a FIFO planted at a lock's name (a Maildir's owner can, in its tmp/)
 * would have this read another file, or block for ever. Such a lock stops the run (exit 3).
 */
function readText(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw notAFile(path, 'a symbolic link');
    throw new MailferryError('BAD_CONFIG', `cannot read the lock ${path}: ${fileErrorReason(err)}`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw notAFile(path, 'not a regular file');
    const buf = Buffer.alloc(MAX_LOCK_BYTES);
    const n = readSync(fd, buf, 0, MAX_LOCK_BYTES, 0);
    return buf.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

function notAFile(path: string, what: string): MailferryError {
  return new MailferryError('BAD_CONFIG', `the lock ${path} is ${what}: not followed`, { hint: 'nothing but mailferry writes there; remove it' });
}

function inodeOf(path: string): number | undefined {
  try {
    return lstatSync(path).ino;
  } catch {
    return undefined;
  }
}

function touch(path: string): void {
  try {
    const now = new Date();
    utimesSync(path, now, now);
  } catch {
    // gone, or a read-only file system now: the lock is judged by its pid on this host anyway
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function rmQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}
