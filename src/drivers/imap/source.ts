/** IMAP as a source: LIST, STATUS, a metadata FETCH per folder, body FETCHes by UID set. */
import type { ImapFlow } from 'imapflow';
import { normalizeMessageId, headerValue } from '../../mail/headers.js';
import type { NetOptions } from '../net-options.js';
import type { FetchedMessage, MailboxInfo, MailboxStatus, MessageRef, Source, SourceReader } from '../types.js';
import { classifyImapError, connectImap } from './connect.js';
import { compactUidSet, toMailboxInfo } from './mailboxes.js';

class ImapReader implements SourceReader {
  private open?: string;
  constructor(
    private readonly client: ImapFlow,
    private readonly o: NetOptions,
  ) {}

  private async select(mailbox: string): Promise<void> {
    if (this.open === mailbox && this.client.mailbox) return;
    await this.client.mailboxOpen(mailbox, { readOnly: true });
    this.open = mailbox;
  }

  async *fetch(mailbox: string, refs: MessageRef[]): AsyncIterable<FetchedMessage> {
    if (refs.length === 0) return;
    const bySeq = new Map(refs.map((r) => [r.seq, r]));
    try {
      await this.select(mailbox);
      for await (const msg of this.client.fetch(compactUidSet(refs.map((r) => r.seq)), { uid: true, source: true }, { uid: true })) {
        const ref = bySeq.get(msg.uid);
        if (!ref || !msg.source) continue;
        yield { ref, body: msg.source };
      }
    } catch (err) {
      this.open = undefined;
      throw classifyImapError(err, this.o, 'mailbox');
    }
  }

  async close(): Promise<void> {
    await this.client.logout().catch(() => this.client.close());
  }
}

export class ImapSource implements Source {
  readonly caps = { lineEndings: 'crlf' as const, parallelReaders: true };

  private constructor(
    private readonly client: ImapFlow,
    private readonly o: NetOptions,
  ) {}

  static async open(o: NetOptions): Promise<ImapSource> {
    return new ImapSource(await connectImap(o), o);
  }

  async listMailboxes(): Promise<MailboxInfo[]> {
    try {
      const list = await this.client.list();
      return list.map(toMailboxInfo);
    } catch (err) {
      throw classifyImapError(err, this.o);
    }
  }

  async status(mailbox: string): Promise<MailboxStatus> {
    try {
      const s = await this.client.status(mailbox, { messages: true, uidNext: true, uidValidity: true });
      if (!s) throw Object.assign(new Error(`no such folder: ${mailbox}`), { serverResponseCode: 'NONEXISTENT' });
      return { validity: String(s.uidValidity ?? 0n), next: s.uidNext, messages: s.messages ?? 0 };
    } catch (err) {
      throw classifyImapError(err, this.o, 'mailbox');
    }
  }

  async *list(mailbox: string, opts: { afterSeq?: number } = {}): AsyncIterable<MessageRef> {
    const after = opts.afterSeq ?? 0;
    let lock;
    try {
      lock = await this.client.getMailboxLock(mailbox, { readOnly: true });
    } catch (err) {
      throw classifyImapError(err, this.o, 'mailbox');
    }
    try {
      const box = this.client.mailbox;
      if (!box || box.exists === 0) return;
      const refs: MessageRef[] = [];
      const query = { uid: true, flags: true, internalDate: true, size: true, headers: ['message-id'] };
      for await (const msg of this.client.fetch(`${after + 1}:*`, query, { uid: true })) {
        if (msg.uid <= after) continue;
        refs.push({
          mailbox,
          key: String(msg.uid),
          seq: msg.uid,
          size: msg.size ?? 0,
          internalDate: msg.internalDate instanceof Date ? msg.internalDate : msg.internalDate ? new Date(msg.internalDate) : undefined,
          flags: msg.flags ? [...msg.flags] : [],
          messageId: msg.headers ? normalizeMessageId(headerValue(msg.headers, 'message-id')) : null,
        });
      }
      refs.sort((a, b) => a.seq - b.seq);
      yield* refs;
    } catch (err) {
      throw classifyImapError(err, this.o, 'mailbox');
    } finally {
      lock.release();
    }
  }

  async reader(): Promise<SourceReader> {
    return new ImapReader(await connectImap(this.o), this.o);
  }

  async close(): Promise<void> {
    await this.client.logout().catch(() => this.client.close());
  }
}
