/**
 * Bodies read only for their digest (verify, the dry run, the --delete-source check), on one reader
 * of their own, BATCH per FETCH: a message the source names as one it cannot send (a
 * message-scoped error with its key: the server left it out of a FETCH, say) is handed to
 * `onUnreadable` and the others are fetched; any other failure is thrown.
 */
import { MailferryError, toMailferryError } from '../errors.js';
import type { FetchedMessage, MessageRef, Source, SourceReader } from '../drivers/types.js';

const BATCH = 200;

export async function* bodiesForDigest(
  source: Source,
  mailbox: string,
  refs: MessageRef[],
  onUnreadable: (ref: MessageRef, err: MailferryError) => void,
  signal?: AbortSignal,
): AsyncIterable<FetchedMessage> {
  if (refs.length === 0) return;
  const reader = await source.reader();
  try {
    for (let i = 0; i < refs.length; i += BATCH) {
      if (signal?.aborted) throw new MailferryError('INTERRUPTED', 'interrupted while reading messages');
      yield* fetchReadable(reader, mailbox, refs.slice(i, i + BATCH), onUnreadable);
    }
  } finally {
    await reader.close().catch(() => {});
  }
}

async function* fetchReadable(reader: SourceReader, mailbox: string, refs: MessageRef[], onUnreadable: (ref: MessageRef, err: MailferryError) => void): AsyncIterable<FetchedMessage> {
  let pending = refs;
  while (pending.length > 0) {
    const got = new Set<string>();
    try {
      for await (const m of reader.fetch(mailbox, pending)) {
        got.add(m.ref.key);
        yield m;
      }
      return;
    } catch (err) {
      const e = toMailferryError(err);
      const bad = e.scope === 'message' ? pending.find((r) => r.key === e.messageKey) : undefined;
      if (!bad) throw err;
      onUnreadable(bad, e);
      pending = pending.filter((r) => r !== bad && !got.has(r.key));
    }
  }
}
