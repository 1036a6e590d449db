/**
 * The source's control connection (LIST, STATUS, metadata FETCH), made to survive the network:
 * an operation that fails transiently (connection lost, timeout, BYE, throttling, [UNAVAILABLE])
 * reconnects and runs again after an exponential back-off with jitter that honours a server's
 * suggested wait, at most `retries` times. Operations must be idempotent (they only read).
 */
import type { ImapFlow } from 'imapflow';
import type { MailferryError, Scope } from '../../errors.js';
import { backoffDelay, sleep } from '../../retry.js';
import type { NetOptions } from '../net-options.js';
import { classifyImapError, closeImap, connectImap } from './connect.js';

/** An ETHROTTLE from imapflow was reported when imapflow logged it (connect.ts). */
export function reported(err: MailferryError): boolean {
  return (err.cause as { code?: string } | undefined)?.code === 'ETHROTTLE';
}

export class ControlConnection {
  private current?: ImapFlow;
  private closed = false;

  constructor(
    private readonly o: NetOptions,
    first: ImapFlow,
  ) {
    this.current = first;
  }

  /** The live connection. Only valid inside `run()`. */
  get client(): ImapFlow {
    if (!this.current) throw new Error('control connection used outside run()');
    return this.current;
  }

  /**
   * `fn` on the live connection, retried as above. `retryIf` may refuse a retry the failure would
   * otherwise get (the caller has a better next step than the same command again).
   */
  async run<T>(what: string, scope: Scope, fn: (client: ImapFlow) => Promise<T>, opts: { retryIf?(err: MailferryError, attempt: number): boolean } = {}): Promise<T> {
    const retries = this.o.retries ?? 0;
    for (let attempt = 0; ; attempt++) {
      let err: MailferryError;
      try {
        if (!this.current || !this.current.usable) {
          this.current?.close();
          this.current = undefined;
          this.current = await connectImap(this.o);
        }
        return await fn(this.current);
      } catch (e) {
        err = classifyImapError(e, this.o, scope);
      }
      if (!err.retryable || attempt >= retries || this.closed || (opts.retryIf && !opts.retryIf(err, attempt))) throw err;
      // A connection that answered "throttled" still works; any other transient failure may have
      // left it half-way through a response, so it is replaced.
      if (err.code !== 'THROTTLED') {
        this.current?.close();
        this.current = undefined;
      }
      const delayMs = backoffDelay(attempt + 1, this.o.backoffMs ?? 500, err.retryAfterMs);
      // Counted by the run, warned of on the next line: one warning per wait.
      if (err.code === 'THROTTLED' && !reported(err)) this.o.onThrottle?.({ ms: delayMs, message: err.message, warned: true });
      this.o.log.warn({ msg: `${what}: ${err.message}; reconnecting, retry ${attempt + 1}/${retries} in ${Math.round(delayMs)} ms` });
      await sleep(delayMs);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.current;
    this.current = undefined;
    if (c) await closeImap(c);
  }
}
