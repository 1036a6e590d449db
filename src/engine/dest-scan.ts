/**
 * What a destination folder holds, as identities: shared by copy (dedupe) and verify (missing /
 * extra). One pass over the sink's scan; messages the checkpoint already knows keep the identity
 * it recorded, others are read (header, or the whole message for a content digest).
 */
import { DEFAULT_MAX_MESSAGE_BYTES, type Sink } from '../drivers/types.js';
import { contentIdentity, midIdentity, type DedupeMode, type Identity } from './identity.js';

export interface DestEntry {
  /** The sink's key for the message (Maildir unique name, IMAP UID). */
  key: string;
  /** Undefined only when the message was known to the checkpoint without an identity. */
  identity?: Identity;
  messageId: string | null | undefined;
}

/**
 * Identities of a destination folder. `known` (dest key → identity, from the checkpoint) lets
 * the scan skip reading those messages. A message read whole for its digest that is larger than
 * `maxBytes` (the largest message a run copies) has no identity: nothing copied can be it.
 */
export async function* scanDestination(
  sink: Sink,
  mailbox: string,
  mode: Exclude<DedupeMode, 'none'>,
  known?: ReadonlyMap<string, string>,
  maxBytes = DEFAULT_MAX_MESSAGE_BYTES,
): AsyncIterable<DestEntry> {
  for await (const m of sink.scan(mailbox, known ? new Set(known.keys()) : undefined)) {
    if (m.messageId === undefined) {
      yield { key: m.key, identity: known?.get(m.key), messageId: undefined };
    } else if (mode === 'message-id' && m.messageId) {
      yield { key: m.key, identity: midIdentity(m.messageId), messageId: m.messageId };
    } else {
      const body = await m.readFull(maxBytes);
      yield { key: m.key, identity: body ? contentIdentity(body) : undefined, messageId: m.messageId };
    }
  }
}
