/**
 * One run per checkpoint: a lock file beside it, created with O_EXCL, holding the owner's pid
 * and host. A lock left by a dead process on this host is taken over with a warning. On Linux the
 * lock also names the boot and the owner's start time, so a lock that outlived a reboot, or whose
 * pid now belongs to another process, counts as left by a dead one (else it would block every run).
 */
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, renameSync } from 'node:fs';
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


function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
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
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, JSON.stringify(me) + '\n');
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          const cur = readLock(path);
          if (cur && cur.pid === me.pid && cur.host === me.host) unlinkSync(path);
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new MailferryError('BAD_CONFIG', `cannot create the lock ${path}: ${fileErrorReason(err)}`, {
          hint: 'choose a --checkpoint path in a directory you can write to',
        });
      }
    }
    const holder = readLock(path);
    if (holder && holder.host === me.host && !ownerAlive(holder)) {
      warn(`taking over a stale lock of process ${holder.pid} (no longer running) on ${path}`);
      // Move it aside atomically so that two runs taking over at once cannot both win.
      const aside = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, aside);
        unlinkSync(aside);
      } catch {
        /* someone else took it over first: retry */
      }
      continue;
    }
    if (!holder) {
      // Half-written lock (the owner died between create and write), or garbage.
      warn(`removing an unreadable lock file ${path}`);
      try {
        unlinkSync(path);
      } catch {
        /* retry */
      }
      continue;
    }
    throw new MailferryError('CHECKPOINT_LOCKED', `another mailferry run (pid ${holder.pid} on ${holder.host}, since ${holder.started}) ${held ?? `holds ${path}`}`, {
      hint: `wait for it to finish; if it is gone, delete ${held ? path : 'the .lock file'}`,
    });
  }
  throw new MailferryError('CHECKPOINT_LOCKED', `could not take the lock ${path}`, { hint: 'another run is starting at the same time' });
}
