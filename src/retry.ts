/** Back-off arithmetic shared by the engine (batch retries) and drivers (control reconnects). */

/** Exponential back-off with jitter, capped at 30 s, never shorter than what the server asked for. */
export function backoffDelay(attempt: number, baseMs: number, serverMs?: number): number {
  const exp = Math.min(30_000, baseMs * 2 ** (attempt - 1));
  const jittered = exp / 2 + Math.random() * (exp / 2);
  return Math.max(jittered, serverMs ?? 0);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((res) => {
    if (signal?.aborted) return res();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Node's timers hold at most 2^31−1 ms (~24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** `fn` after `ms`, however long (chained timers past ~24.8 days); does not keep the process alive. */
export function longTimeout(fn: () => void, ms: number): { clear(): void } {
  const due = Date.now() + ms;
  let t: NodeJS.Timeout;
  const arm = () => {
    const left = due - Date.now();
    t = setTimeout(left > MAX_TIMER_MS ? arm : fn, Math.min(Math.max(left, 0), MAX_TIMER_MS)).unref();
  };
  arm();
  return { clear: () => clearTimeout(t) };
}
