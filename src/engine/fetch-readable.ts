/**
 * Bodies for the commands that only read (verify, the dry run): a message the source names as one
 * it cannot send (a message-scoped error with its key: the server left it out of a FETCH, say) is
 * handed to `onUnreadable`, and the others are fetched; any other failure is thrown.
 */
import { toMailferryError, type MailferryError } from '../errors.js';
import type { FetchedMessage, MessageRef, SourceReader } from '../drivers/types.js';

export async function* fetchReadable(
  reader: SourceReader,
  mailbox: string,
  refs: MessageRef[],
  onUnreadable: (ref: MessageRef, err: MailferryError) => void,
): AsyncIterable<FetchedMessage> {
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
