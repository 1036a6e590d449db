/**
 * Crash-test hook: with MAILFERRY_CRASH_AFTER=N in the environment, the process kills itself
 * with SIGKILL right after the N-th message is stored (before its journal record is durable) —
 * the harshest place to die. Used by the kill -9 sweep tests; inert otherwise.
 */
import type { CopyEvent } from '../engine/events.js';

export function crashHook(): (e: CopyEvent) => void {
  const n = Number(process.env.MAILFERRY_CRASH_AFTER);
  if (!Number.isInteger(n) || n <= 0) return () => {};
  let stored = 0;
  return (e) => {
    if (e.type === 'message' && ++stored >= n) process.kill(process.pid, 'SIGKILL');
  };
}
