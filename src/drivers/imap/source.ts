/** IMAP as a source: LIST, STATUS, UID SEARCH, metadata FETCHes per folder, body FETCHes by UID set (fetch-rows.ts). */
import type { ImapFlow, ListResponse } from 'imapflow';
import { normalizeMessageId, headerValue } from '../../mail/headers.js';
import type { NetOptions } from '../net-options.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type FetchedMessage, type ListOptions, type MailboxInfo, type MailboxStatus, type MessageRef, type Source, type SourceReader } from '../types.js';
import { mayHideNul, withNulsRestored } from './nul-bytes.js';
import { MailferryError, UNREADABLE_IN_A_ROW, unreadableMessage } from '../../errors.js';
import { classifyImapError, closeImap, connectImap, literalLimit, rootCause, takeLoggedError } from './connect.js';
import { bulkBudget, folderBudget } from './answer-budget.js';
import { ControlConnection } from './control.js';
import { compactUidSet, inMailbox, knownToImapflow, toMailboxInfo } from './mailboxes.js';
import { shared } from '../../strings.js';
import { fetchRows } from './fetch-rows.js';
import { normalizePath } from 'imapflow/lib/tools.js';

class ImapReader implements SourceReader {
  private open?: string;
  constructor(
    private client: ImapFlow,
    private readonly o: NetOptions,
    /** The folder's entry from the source's listing, when it has one. */
    private readonly listedAs: (mailbox: string) => ListResponse | undefined = () => undefined,
  ) {}

  async ready(mailbox?: string): Promise<void> {
    if (!this.client.usable) {
      // An idle pooled connection the server (or our idle-read timeout) closed: a fresh one.
      this.client.close();
      this.open = undefined;
      try {
        this.client = await connectImap(this.o);
      } catch (err) {
        throw classifyImapError(err, this.o, 'mailbox');
      }
    }
    if (mailbox === undefined) return;
    // The folder opened too: a connection lost during the EXAMINE is the connection's failure,
    // not the FETCH's, and is never blamed on the first message of the batch.
    try {
      await this.select(mailbox);
    } catch (err) {
      this.open = undefined;
      throw classifyImapError(rootCause(this.client, err), this.o, 'mailbox');
    }
  }

  private async select(mailbox: string): Promise<void> {
    await this.ready();
    if (this.open === mailbox && this.client.mailbox) return;
    // What the account's listing said of the folder: no LIST of it per worker and folder.
    const entry = this.listedAs(normalizePath(this.client, mailbox));
    if (entry) knownToImapflow(this.client, [entry]);
    await this.client.mailboxOpen(mailbox, { readOnly: true });
    this.open = mailbox;
  }

  async *fetch(mailbox: string, refs: MessageRef[]): AsyncIterable<FetchedMessage> {
    if (refs.length === 0) return;
    const bySeq = new Map(refs.map((r) => [r.seq, r]));
    const held: FetchedMessage[] = [];
    // Untrusted server: a UID answered twice is stored once; a FETCH that never ends is cut off.
    const delivered = new Set<number>();
    let answers = 0;
    try {
      await this.select(mailbox);
      const binary = this.client.capabilities.has('BINARY');
      const budget = bulkBudget(refs.map((r) => r.size), literalLimit(this.o));
      for await (const row of fetchRows(this.client, compactUidSet(refs.map((r) => r.seq)), { body: 'body' }, budget)) {
        if (++answers > refs.length * 2 + 16) {
          throw new MailferryError('PROTOCOL', `${this.o.endpoint.host} keeps answering a FETCH of ${refs.length} messages (${answers} answers so far)`, { scope: 'mailbox', retryable: true, hint: 'the server misbehaves; rerun later' });
        }
        const ref = row.uid === undefined ? undefined : bySeq.get(row.uid);
        if (!ref || !row.body || delivered.has(ref.seq)) continue;
        delivered.add(ref.seq);
        // BODY[] cannot carry NUL bytes: Dovecot sends each as 0x80. A message that may hold
        // one is fetched again below with BINARY[] (RFC 3516, literal8), which can (nul-bytes.ts).
        if (binary && mayHideNul(row.body)) held.push({ ref, body: row.body });
        else yield { ref, body: row.body };
      }
      if (held.length) yield* this.refetchBinary(held);
      if (delivered.size < refs.length) await this.unsent(mailbox, refs.filter((r) => !delivered.has(r.seq)));
    } catch (err) {
      this.open = undefined;
      throw classifyImapError(rootCause(this.client, err), this.o, 'mailbox');
    }
  }

  /**
   * Messages a FETCH that ended well did not send. Gone since the listing (expunged), they are
   * simply not yielded: the engine records them as vanished, for good. One the server still has
   * (it answered without the body, with NIL, or not at all) must not pass for vanished: it
   * fails, named, and the next run tries it again.
   */
  private async unsent(mailbox: string, refs: MessageRef[]): Promise<void> {
    const there = await stillThere(this.client, mailbox, refs.map((r) => r.seq));
    const kept = refs.find((r) => there.has(r.seq));
    if (kept) {
      throw unreadableMessage(`the server did not send message ${kept.key}, which is still in the folder`, kept.key);
    }
  }

  /**
   * One large message as a byte stream (partial FETCHes of STREAM_CHUNK bytes), so it is never
   * held whole; null when the message is gone. Bounded by --max-message-size whatever the server sends.
   */
  async stream(mailbox: string, ref: MessageRef): Promise<AsyncIterable<Buffer> | null> {
    const limit = this.o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    let content: AsyncIterable<Buffer> & { destroy?: () => void };
    try {
      await this.select(mailbox);
      const d = await this.client.download(String(ref.seq), undefined, { uid: true, chunkSize: STREAM_CHUNK });
      if (!d.content) return null;
      content = d.content as AsyncIterable<Buffer> & { destroy?: () => void };
    } catch (err) {
      this.open = undefined;
      throw classifyImapError(rootCause(this.client, err), this.o, 'mailbox');
    }
    const self = this;
    return (async function* () {
      let total = 0;
      try {
        for await (const chunk of content) {
          total += chunk.length;
          if (total > limit) {
            content.destroy?.();
            throw new MailferryError('MESSAGE_TOO_LARGE', `message ${ref.key} is larger than ${limit} bytes (the server said ${ref.size})`, { scope: 'message', retryable: false, hint: 'raise --max-message-size if the message is real' });
          }
          yield chunk;
        }
      } catch (err) {
        self.open = undefined;
        throw classifyImapError(rootCause(self.client, err), self.o, 'mailbox');
      }
    })();
  }

  /** `held` with their NULs back where BINARY[] gives them and changes nothing else; the BODY[] bytes otherwise. */
  private async *refetchBinary(held: FetchedMessage[]): AsyncIterable<FetchedMessage> {
    const better = new Map<number, Buffer>();
    try {
      const uids = compactUidSet(held.map((h) => h.ref.seq));
      const budget = bulkBudget(held.map((h) => h.body.length), literalLimit(this.o));
      for await (const row of fetchRows(this.client, uids, { body: 'binary' }, budget)) {
        if (row.uid !== undefined && row.body) better.set(row.uid, row.body);
      }
    } catch {
      // Dovecot refuses BINARY for some malformed MIME ("Invalid data in MIME part"): keep BODY[].
    }
    for (const h of held) {
      const b = better.get(h.ref.seq);
      yield { ref: h.ref, body: (b && withNulsRestored(h.body, b)) ?? h.body };
    }
  }

  async close(): Promise<void> {
    // After a failed FETCH the server may still be sending (or stalled): no LOGOUT then.
    await closeImap(this.client, this.open !== undefined);
  }
}

/**
 * A listed message. The refs of a whole folder are held while it is copied, so they are kept
 * small: INTERNALDATE as a number (a Date object is ~100 bytes), made into a Date when asked for.
 */
class ImapRef implements MessageRef {
  readonly key: string;
  constructor(
    readonly mailbox: string,
    readonly seq: number,
    readonly size: number,
    private readonly time: number | undefined,
    readonly flags: string[],
    readonly messageId: string | null,
    readonly unreadable?: MailferryError,
  ) {
    this.key = String(seq);
  }

  get internalDate(): Date | undefined {
    return this.time === undefined || Number.isNaN(this.time) ? undefined : new Date(this.time);
  }
}

/** Window of one partial FETCH when a message is streamed. */
const STREAM_CHUNK = 1024 * 1024;
/** UIDs per metadata FETCH of a listing (~200 bytes of refs each while they wait to be queued). */
const LIST_CHUNK = 2000;
/**
 * The first FETCHes of a listing are shorter: the first batch of a folder starts after 250 rows,
 * the other three workers' (of the default four, batches of 250) after 750 more. A second FETCH
 * of 2,000 rows kept them waiting for it, and the first batch's bodies too (the main thread reads
 * those rows first: the first body stored ~150 ms after its FETCH was sent, on loopback).
 */
const FIRST_LIST_CHUNKS = [250, 750];
/** The flags of a done message listed again (not asked for). */
const NO_FLAGS = shared([]);

/** Which of these UIDs the open folder still holds (a NOOP, so expunges by others are seen, then one UID SEARCH). */
async function stillThere(client: ImapFlow, mailbox: string, uids: number[]): Promise<Set<number>> {
  await client.noop();
  takeLoggedError(client); // forget older ones
  const found = await client.search({ uid: compactUidSet(uids) }, { uid: true });
  // imapflow's search() answers false for a failure, after logging it.
  if (!found) throw takeLoggedError(client) ?? Object.assign(new Error(`UID SEARCH in ${mailbox} failed`), { responseStatus: 'NO' });
  const asked = new Set(uids);
  return new Set(found.filter((u) => asked.has(u)));
}

/** The server broke off a FETCH it had (dropped the connection, answered NO or garbage). */
const brokeOff = (e: MailferryError) => e.code === 'NETWORK' || e.code === 'PROTOCOL';

export class ImapSource implements Source {
  readonly caps = { lineEndings: 'crlf' as const, parallelReaders: true };

  /** The control connection: reconnects and retries transient failures (see control.ts). */
  private readonly ctl: ControlConnection;
  /**
   * Each folder's STATUS as the listing gave it (LIST-STATUS, RFC 5819), taken once by status():
   * a rerun of N folders that finds nothing new is one LIST, not N STATUS round trips (2,000
   * folders: ~5 s on loopback, a minute at 30 ms a round trip). A later status() asks the server.
   */
  private readonly listed = new Map<string, MailboxStatus>();
  /** Each folder's entry from the latest listing, by path, for the workers' connections (ImapReader#select). */
  private entries = new Map<string, ListResponse>();

  /**
   * Workers' connections logging in since the source was opened (`open`'s `readers`), taken by
   * reader() before it opens one of its own; closed with the source when none took them.
   */
  private early: Promise<ImapFlow>[] = [];

  private constructor(
    client: ImapFlow,
    private readonly o: NetOptions,
  ) {
    this.ctl = new ControlConnection(o, client);
  }

  /** The live control connection (valid inside `this.ctl.run`). */
  private get client(): ImapFlow {
    return this.ctl.client;
  }

  /**
   * `readers`: the workers' connections to log in now, once the source's own connection has (a
   * password that fails, fails once, not once per worker: a server may count failed logins), for
   * a run that will surely need them (a first copy): the server's logins (a process started for
   * each, on Dovecot) then overlap the folder listing instead of following it. A login of theirs
   * that fails is not said here: the reader() that would have taken it opens its own, and says
   * what goes wrong.
   */
  static async open(o: NetOptions, readers = 0): Promise<ImapSource> {
    const source = new ImapSource(await connectImap(o), o);
    source.early = Array.from({ length: readers }, () => connectImap(o));
    for (const c of source.early) c.catch(() => {});
    return source;
  }

  async listMailboxes(): Promise<MailboxInfo[]> {
    return this.ctl.run('listing folders', 'run', async () => {
      try {
        // Only where the server answers it within the LIST: imapflow would otherwise send a
        // STATUS per folder here, whether or not the folder is then copied.
        const withStatus = this.client.capabilities.has('LIST-STATUS');
        const list = await this.client.list(withStatus ? { statusQuery: { messages: true, uidNext: true, uidValidity: true } } : undefined);
        this.listed.clear();
        this.entries = new Map(list.map((e) => [e.path, e]));
        for (const e of list) {
          const st = e.status as { messages?: number; uidNext?: number; uidValidity?: bigint; error?: unknown } | undefined;
          if (st && st.error === undefined && st.uidNext !== undefined && st.uidValidity !== undefined) {
            this.listed.set(e.path, { validity: String(st.uidValidity), next: st.uidNext, messages: st.messages ?? 0 });
          }
        }
        const prefix = (this.client.namespace as { prefix?: string } | undefined)?.prefix ?? '';
        return list.map((e) => toMailboxInfo(e, prefix));
      } catch (err) {
        throw classifyImapError(rootCause(this.client, err), this.o);
      }
    });
  }

  async status(mailbox: string, opts: { size?: boolean } = {}): Promise<MailboxStatus> {
    const listed = opts.size ? undefined : this.listed.get(mailbox);
    if (listed) {
      this.listed.delete(mailbox);
      return listed;
    }
    return this.ctl.run(`STATUS ${mailbox}`, 'mailbox', () => this.statusOnce(mailbox, opts));
  }

  private async statusOnce(mailbox: string, opts: { size?: boolean }): Promise<MailboxStatus> {
    try {
      takeLoggedError(this.client); // forget older ones
      const s = await this.client.status(mailbox, { messages: true, uidNext: true, uidValidity: true, ...(opts.size ? { size: true } : {}) });
      // imapflow's status() answers false for any failure but "no such folder" (which it throws):
      // the error it logged says what happened (a NO [UNAVAILABLE] is retried, say).
      if (!s) throw takeLoggedError(this.client) ?? Object.assign(new Error(`STATUS ${mailbox} failed`), { responseStatus: 'NO' });
      const st: MailboxStatus = { validity: String(s.uidValidity ?? 0n), next: s.uidNext, messages: s.messages ?? 0 };
      if (opts.size) st.size = typeof s.size === 'number' ? s.size : st.messages === 0 ? 0 : await this.sizeByFetch(mailbox, st.messages);
      return st;
    } catch (err) {
      throw classifyImapError(rootCause(this.client, err), this.o, 'mailbox');
    }
  }

  /** Servers without STATUS=SIZE: one FETCH 1:* (RFC822.SIZE). */
  private sizeByFetch(mailbox: string, messages: number): Promise<number> {
    return inMailbox(this.client, mailbox, async () => {
      let total = 0;
      for await (const row of fetchRows(this.client, '1:*', { size: true }, folderBudget(messages, 256))) total += row.size ?? 0;
      return total;
    });
  }

  /**
   * The folder's UIDs above `afterSeq` (one UID SEARCH), then their metadata in FETCHes of
   * LIST_CHUNK UIDs (the first two shorter), each yielded before the next is asked for: the engine
   * takes refs as it queues them, so a folder of any size holds a chunk of refs at a time.
   */
  async *list(mailbox: string, opts: ListOptions = {}): AsyncIterable<MessageRef> {
    const after = opts.afterSeq ?? 0;
    const uids = await this.ctl.run(`listing ${mailbox}`, 'mailbox', () => this.uidsOnce(mailbox, after));
    const known = opts.known;
    opts.onCount?.(known ? uids.reduce((n, u) => (known.has(String(u)) ? n : n + 1), 0) : uids.length);
    // A done UID is listed as it is, with nothing asked of the server (ListOptions.known): a
    // folder listed again without its `end` record (a run stopped, a message that failed) costs
    // the metadata of what is not done only.
    let todo: number[] = [];
    let chunks = 0;
    for (let i = 0; i <= uids.length; i++) {
      const uid = uids[i];
      if (uid !== undefined) {
        if (known?.has(String(uid))) {
          yield new ImapRef(mailbox, uid, 0, undefined, NO_FLAGS, null);
          continue;
        }
        todo.push(uid);
        if (todo.length < (FIRST_LIST_CHUNKS[chunks] ?? LIST_CHUNK)) continue;
      } else if (todo.length === 0) break;
      const chunk = Uint32Array.from(todo);
      todo = [];
      chunks++;
      yield* await this.listChunk(mailbox, chunk, opts.unreadable ?? false);
    }
  }

  /**
   * The refs of `uids`, in UID order. A FETCH the server breaks off once it has it (Dovecot drops
   * the connection, "Internal error", at a message file it cannot read; another server may answer
   * NO) keeps what was answered, and the rest is listed in parts, without waiting: the first
   * message not answered alone (servers answer in UID order: that is where it broke off), then
   * the others; a part that broke off before any answer is halved instead. A message that fails
   * alone twice is unreadable: listed as such when the caller asks (the engine fails it unfetched,
   * the rest of the folder is copied, the next run tries it again); else the listing fails.
   */
  private async listChunk(mailbox: string, uids: Uint32Array, keepUnreadable: boolean): Promise<MessageRef[]> {
    const got = new Map<number, MessageRef>();
    const parts: number[][] = [[...uids]];
    let unreadableInARow = 0;
    while (parts.length > 0) {
      const part = parts.pop()!.filter((u) => !got.has(u));
      if (part.length === 0) continue;
      const before = got.size;
      const probe = { fetching: false };
      try {
        await this.ctl.run(
          `listing ${mailbox}`,
          'mailbox',
          () => this.listOnce(mailbox, part.filter((u) => !got.has(u)), got, probe),
          // Broken off: the parts below are the next step; one message alone gets a second try.
          { retryIf: (e, attempt) => !(probe.fetching && brokeOff(e)) || (part.length === 1 && attempt === 0) },
        );
        unreadableInARow = 0;
        continue;
      } catch (err) {
        const e = err as MailferryError;
        // --retries 0: nothing is asked twice.
        if (!probe.fetching || !brokeOff(e) || !this.o.retries) throw e;
        const left = part.filter((u) => !got.has(u));
        if (got.size > before) unreadableInARow = 0;
        if (left.length === 0) continue;
        if (part.length > 1) {
          const cut = got.size > before ? 1 : Math.ceil(left.length / 2);
          this.o.log.warn({ msg: `listing ${mailbox}: ${e.message}; reconnecting, to list the rest ${cut === 1 ? `from message ${left[0]} on, that one alone first` : 'in halves'}` });
          parts.push(left.slice(cut), left.slice(0, cut));
          continue;
        }
        // Ten in a row and nothing readable between them: the server cannot serve this folder.
        if (!keepUnreadable || ++unreadableInARow >= UNREADABLE_IN_A_ROW) throw e;
        const why = unreadableMessage(`the server could not read message ${left[0]}: ${e.message}`);
        got.set(left[0], new ImapRef(mailbox, left[0], 0, undefined, [], null, why));
      }
    }
    // Asked for and not answered, the FETCH ending well: expunged since the UID SEARCH, or left
    // out by a server that cannot read it. The folder's `end` record would pass over the latter
    // for good, so it is listed as unreadable (or the listing fails).
    const unanswered = [...uids].filter((u) => !got.has(u));
    if (unanswered.length > 0) {
      const there = await this.ctl.run(`listing ${mailbox}`, 'mailbox', () => this.inMailbox(mailbox, () => stillThere(this.client, mailbox, unanswered)));
      for (const uid of there) {
        const why = unreadableMessage(`the server did not list message ${uid}, which is still in the folder`);
        if (!keepUnreadable) throw why;
        got.set(uid, new ImapRef(mailbox, uid, 0, undefined, [], null, why));
      }
    }
    return [...got.values()].sort((a, b) => a.seq - b.seq);
  }

  /** `fn` with the folder open read-only; its failures classified for the folder. */
  private async inMailbox<T>(mailbox: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await inMailbox(this.client, mailbox, fn);
    } catch (err) {
      throw classifyImapError(rootCause(this.client, err), this.o, 'mailbox');
    }
  }

  /** UIDs above `after`, ascending, once each (UID SEARCH; kept as 4 bytes each). */
  private uidsOnce(mailbox: string, after: number): Promise<Uint32Array> {
    return this.inMailbox(mailbox, async () => {
      const box = this.client.mailbox;
      if (!box || box.exists === 0) return new Uint32Array(0);
      takeLoggedError(this.client); // forget older ones
      const found = await this.client.search({ uid: `${after + 1}:*` }, { uid: true });
      // imapflow's search() answers false for a failure, after logging it.
      if (!found) throw takeLoggedError(this.client) ?? Object.assign(new Error(`UID SEARCH in ${mailbox} failed`), { responseStatus: 'NO' });
      // Untrusted server: more UIDs than the folder holds messages is not a listing.
      if (found.length > box.exists * 2 + 1000) {
        throw new MailferryError('PROTOCOL', `${this.o.endpoint.host} answered the listing of ${mailbox} with ${found.length} UIDs for ${box.exists} messages`, { scope: 'mailbox', retryable: false, hint: 'the server misbehaves' });
      }
      // "UID n:*" matches the last message even when its UID is below n.
      const uids = Uint32Array.from(found.filter((u) => Number.isInteger(u) && u > after && u <= 0xffffffff)).sort();
      let n = 0;
      for (let i = 0; i < uids.length; i++) if (i === 0 || uids[i] !== uids[i - 1]) uids[n++] = uids[i];
      return uids.slice(0, n);
    });
  }

  /**
   * One metadata FETCH of these UIDs, each answer put in `into` as it comes (kept when the FETCH
   * breaks off). `probe.fetching` is true while the server is answering it: a failure then is the
   * server's with the FETCH, not the connection's or the folder's.
   */
  private listOnce(mailbox: string, uids: number[], into: Map<number, MessageRef>, probe: { fetching: boolean }): Promise<void> {
    probe.fetching = false;
    return this.inMailbox(mailbox, async () => {
      const asked = new Set(uids);
      let answers = 0;
      const items = { flags: true, internalDate: true, size: true, headerFields: ['MESSAGE-ID'] };
      // Answers without the header: Dovecot sends what its index has of a message, then drops
      // the connection when the file cannot be read. Kept only if the FETCH ends well.
      const headless: number[] = [];
      probe.fetching = true;
      try {
        for await (const row of fetchRows(this.client, compactUidSet(uids), items)) {
          // Untrusted server: more answers than UIDs asked for is a FETCH that never ends.
          if (++answers > uids.length * 2 + 1000) {
            probe.fetching = false; // not a message it cannot read: the folder fails
            throw new MailferryError('PROTOCOL', `${this.o.endpoint.host} keeps answering the listing of ${mailbox} (${answers} answers for ${uids.length} messages)`, { scope: 'mailbox', retryable: false, hint: 'the server misbehaves' });
          }
          const uid = row.uid;
          if (uid === undefined || !asked.has(uid) || into.has(uid)) continue;
          if (!row.header) headless.push(uid);
          const messageId = row.header ? normalizeMessageId(headerValue(row.header, 'message-id')) : null;
          into.set(uid, new ImapRef(mailbox, uid, row.size ?? 0, row.internalDate, shared(row.flags ?? []), messageId));
        }
      } catch (err) {
        for (const uid of headless) into.delete(uid);
        throw err;
      }
      probe.fetching = false;
    });
  }

  async reader(): Promise<SourceReader> {
    // One opened ahead of need, unless its login failed or the server has closed it since.
    const early = await this.early.shift()?.then(
      (c) => (c.usable ? c : void closeImap(c, false)),
      () => undefined,
    );
    const client = early ?? (await connectImap(this.o));
    return new ImapReader(client, this.o, (path) => this.entries.get(path));
  }

  async close(): Promise<void> {
    await Promise.all([closeEarly(this.early.splice(0)), this.ctl.close()]);
  }
}

/** Logs out of connections opened ahead of need that no reader took (those that open at all). */
async function closeEarly(early: Promise<ImapFlow>[]): Promise<void> {
  await Promise.all(early.map((c) => c.then((client) => closeImap(client), () => {})));
}
