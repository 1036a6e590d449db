/**
 * Bodies read only for their digest (verify, the dry run, the --delete-source check), on one reader
 * of their own, BATCH per FETCH. A message the source cannot send is handed to `onUnreadable` and
 * the others are fetched:
 * - one the source names (a message-scoped error with its key: the server left it out of a FETCH);
 * - one at which the server breaks the FETCH off on a connection that worked (Dovecot drops the
 *   connection at a message file it cannot read): as in the copy (engine/copy.ts), the first
 *   message not sent is fetched alone on a new connection, and should it fail alone twice it is
 *   unreadable. Ten such in a row, or `retries` 0, and the failure is thrown.
 * Any other failure is thrown (a server that is down: the caller's exit 5).
 */
import { MailferryError, toMailferryError, unreadableMessage, UNREADABLE_IN_A_ROW } from '../errors.js';
import type { FetchedMessage, MessageRef, Source, SourceReader } from '../drivers/types.js';

const BATCH = 200;

export async function* bodiesForDigest(
  source: Source,
  mailbox: string,
  refs: MessageRef[],
  onUnreadable: (ref: MessageRef, err: MailferryError) => void,
  signal?: AbortSignal,
  retries = 1,
): AsyncIterable<FetchedMessage> {
  if (refs.length === 0) return;
  const conn = { reader: await source.reader() };
  try {
    for (let i = 0; i < refs.length; i += BATCH) {
      if (signal?.aborted) throw new MailferryError('INTERRUPTED', 'interrupted while reading messages');
      yield* fetchReadable(source, conn, mailbox, refs.slice(i, i + BATCH), onUnreadable, retries);
    }
  } finally {
    await conn.reader.close().catch(() => {});
  }
}

async function* fetchReadable(
  source: Source,
  conn: { reader: SourceReader },
  mailbox: string,
  refs: MessageRef[],
  onUnreadable: (ref: MessageRef, err: MailferryError) => void,
  retries: number,
): AsyncIterable<FetchedMessage> {
  let pending = refs;
  /** The first message a broken-off FETCH did not send, fetched alone; how often it failed so. */
  let suspect: MessageRef | undefined;
  let alone = 0;
  let inARow = 0;
  while (pending.length > 0) {
    const got = new Set<string>();
    let fetching = false;
    try {
      await conn.reader.ready?.(mailbox);
      fetching = true;
      for await (const m of conn.reader.fetch(mailbox, suspect ? [suspect] : pending)) {
        got.add(m.ref.key);
        yield m;
      }
      if (!suspect) return;
      pending = pending.filter((r) => !got.has(r.key));
      suspect = undefined;
      inARow = 0;
    } catch (err) {
      const e = toMailferryError(err);
      pending = pending.filter((r) => !got.has(r.key));
      if (got.size > 0) inARow = 0;
      const named = e.scope === 'message' ? pending.find((r) => r.key === e.messageKey) : undefined;
      if (named) {
        onUnreadable(named, e);
        pending = pending.filter((r) => r !== named);
        if (named === suspect) suspect = undefined;
        continue;
      }
      const brokeOff = retries > 0 && fetching && (e.code === 'NETWORK' || (e.code === 'PROTOCOL' && e.retryable));
      if (!brokeOff || pending.length === 0) throw err;
      await conn.reader.close().catch(() => {});
      conn.reader = await source.reader();
      if (!suspect || got.size > 0) {
        suspect = pending[0];
        alone = 0;
        continue;
      }
      if (++alone < 2) continue;
      onUnreadable(suspect, unreadableMessage(`the server could not send message ${suspect.key}: ${e.message}`, suspect.key));
      pending = pending.filter((r) => r !== suspect);
      suspect = undefined;
      if (++inARow >= UNREADABLE_IN_A_ROW) throw err;
    }
  }
}
