/** Processes of this machine: whether one runs, and (Linux) what /proc says of it. */
import { readFileSync } from 'node:fs';

/**
 * The process exists (EPERM: it does, owned by someone else) and has not ended. A process killed
 * and not yet reaped by its parent (a zombie: a script that kills a run and starts it again before
 * it waits for it) still answers kill(pid, 0), but holds nothing any more: on Linux, /proc says so.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const state = procStat(pid)?.[0];
  return state !== 'Z' && state !== 'X';
}

/**
 * Linux: the fields of /proc/PID/stat after "pid (comm)" — [0] is the state (field 3), [1] the
 * parent's pid, [19] the start time in clock ticks since boot (field 22). comm may hold spaces
 * and parentheses, so the fields are read after the last ')'. Undefined when unreadable.
 */
export function procStat(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Linux: this boot's id (/proc/sys/kernel/random/boot_id). */
export function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
