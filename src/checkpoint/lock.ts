/**
 * One run per checkpoint: a lock file beside it, created with O_EXCL, holding the owner's pid
 * and host. A lock left by a dead process on this host is taken over with a warning.
 */
import { openSync, writeSync, closeSync, readFileSync, unlinkSync, renameSync } from 'node:fs';
import { hostname } from 'node:os';
import { MailferryError } from '../errors.js';

export interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

export interface Lock {
  path: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readLock(path: string): LockInfo | null {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return typeof info.pid === 'number' ? info : null;
  } catch {
    return null;
  }
}

export function acquireLock(checkpointPath: string, warn: (msg: string) => void): Lock {
  const path = checkpointPath + '.lock';
  const me: LockInfo = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
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
        throw new MailferryError('CHECKPOINT_UNREADABLE', `cannot create lock ${path}: ${(err as Error).message}`, {
          hint: 'check that the checkpoint directory is writable',
        });
      }
    }
    const holder = readLock(path);
    if (holder && holder.host === me.host && !alive(holder.pid)) {
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
    throw new MailferryError('CHECKPOINT_LOCKED', `another mailferry run (pid ${holder.pid} on ${holder.host}, since ${holder.started}) holds ${path}`, {
      hint: 'wait for it to finish; if it is gone, delete the .lock file',
    });
  }
  throw new MailferryError('CHECKPOINT_LOCKED', `could not take the lock ${path}`, { hint: 'another run is starting at the same time' });
}
