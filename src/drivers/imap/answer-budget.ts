/**
 * A hostile server can answer one command without end: a LIST of names of hundreds of megabytes
 * each (imapflow holds a command's untagged answers until its tagged end: out of memory, a V8
 * crash), or an endless stream of untagged lines at full speed (a run that never ends: the idle
 * and trickle watches see a busy, healthy connection). So what a connection receives is counted
 * (after decompression, as the parser gets it) from the moment a command is sent to the next;
 * past the command's budget the connection is cut. Commands that carry messages (a UID FETCH of
 * bodies) are given a budget from the messages' sizes (`bulk`); any other is allowed
 * ANSWER_BYTES, which no real LIST, SEARCH, STATUS or metadata FETCH comes near.
 */
import type { ImapFlow } from 'imapflow';

/** What one ordinary command (LIST, STATUS, SEARCH, SELECT, a metadata FETCH) may be answered with. */
export const ANSWER_BYTES = 64 * 1024 * 1024;

/** exec() options: a command expected to bring `byteBudget` bytes or so (message bodies). */
export interface BudgetOption {
  byteBudget?: number;
}

interface Request {
  command?: string;
  options?: BudgetOption;
}

interface Streamer {
  _transform(chunk: Buffer | string, encoding: BufferEncoding, next: (err?: Error) => void): void;
}

/**
 * Counts what `client` receives per command; `onOver(bytes, command)` is called once when a
 * command's answer passes its budget (the caller cuts the connection). The chunk that passes the
 * budget is not given to the parser.
 */
export function budgetAnswers(client: ImapFlow, onOver: (budget: number, command: string) => void): void {
  const internals = client as unknown as { streamer?: Streamer; currentRequest?: Request | false };
  const streamer = internals.streamer;
  if (!streamer || typeof streamer._transform !== 'function') return;
  const transform = streamer._transform.bind(streamer);
  let request: Request | false | undefined;
  let received = 0;
  let over = false;
  streamer._transform = (chunk, encoding, next) => {
    if (over) return next();
    const current = internals.currentRequest;
    if (current !== request) {
      request = current;
      received = 0;
    }
    received += chunk.length;
    const budget = (current && current.options?.byteBudget) || ANSWER_BYTES;
    if (received > budget) {
      over = true;
      onOver(budget, (current && current.command) || 'nothing');
      return next();
    }
    transform(chunk, encoding, next);
  };
}

/** The budget of a FETCH of message bodies of these sizes (0: not known), each at most `maxBytes`. */
export function bulkBudget(sizes: number[], maxBytes: number): number {
  let total = ANSWER_BYTES;
  for (const s of sizes) total += s > 0 ? Math.min(maxBytes, s * 2 + 64 * 1024) : maxBytes;
  return total;
}

/** The budget of a FETCH over a whole folder of `count` messages, each answered in `bytesEach` or so. */
export function folderBudget(count: number, bytesEach: number): number {
  return ANSWER_BYTES + count * bytesEach;
}
