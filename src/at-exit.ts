/**
 * Work to do however the process ends (a signal's exit at once included): let go of locks, end
 * child processes. One 'exit' listener for all of it, however many locks and commands there are.
 */
const pending = new Set<() => void>();
let hooked = false;

/** Runs `fn` at exit unless the returned function is called first (which forgets it). */
export function atExit(fn: () => void): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const f of [...pending]) {
        try {
          f();
        } catch {
          // exiting anyway
        }
      }
    });
  }
  pending.add(fn);
  return () => void pending.delete(fn);
}
