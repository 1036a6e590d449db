/**
 * POP3 as a source: one folder, INBOX. The server locks the maildrop for the length of a
 * session, so there is exactly ONE session: the source's listing and the engine's readers share it
 * (reader() hands out a view over the same client; the client serialises commands itself, and a
 * RETR batch never waits for anything but its consumer, so they cannot deadlock). A short second
 * session is opened only to see whether messages whose RETR was refused as expunged are gone
 * (confirmGone). Speed comes
 * from pipelining (RETR and TOP in windows), not from more connections.
 *
 * Keys are UIDLs (stable across sessions; keys.ts); `seq` is the message number of the session
 * that listed it. After a reconnect the numbers are looked up again by UIDL. A message the server
 * gives no UIDL (Dovecot's pop3_reuse_xuidl and an empty X-UIDL header) has nothing stable to be
 * known by: it is listed as unreadable, so it fails alone, and is never fetched nor deleted.
 *
 * Header-first dedupe: the Message-ID of every message not already done by the checkpoint is read
 * with a pipelined `TOP n 0` before any body is downloaded. Measured on the 6,046-message corpus
 * over loopback it costs a fraction of the RETRs (see docs/ARCHITECTURE.md), and it is what lets
 * a rerun without a checkpoint, or a destination that already holds some of the mail, skip
 * bodies. Messages the checkpoint has done are not even TOPped: a no-op rerun is UIDL + LIST.
 * A first copy into an empty destination has nothing to skip by them, so its messages are not
 * TOPped either (ListOptions.headersAbove): their Message-IDs and dates are read from the bodies.
 * The same header gives each message a date: POP3 has no INTERNALDATE, so the copy is dated by
 * the topmost Received: header (the provider's delivery), else Date: (mail/dates.ts).
 */
import { MailferryError, toMailferryError } from '../../errors.js';
import { backoffDelay, sleep } from '../../retry.js';
import { headerBlock, headerValues, normalizeMessageId } from '../../mail/headers.js';
import { arrivalDate, arrivalDateOf } from '../../mail/dates.js';
import type { NetOptions } from '../net-options.js';
import type { FetchedMessage, ListOptions, MailboxInfo, MailboxStatus, MessageRef, Source, SourceReader } from '../types.js';
import { Pop3Client, refusedAsExpunged } from './client.js';
import { noUidlKey, uidlKey } from './keys.js';
import { handOver } from '../../hand-over.js';

export const POP3_MAILBOX = 'INBOX';
/** UIDLs are stable by RFC 1939: there is no validity to change. */
export const POP3_VALIDITY = 'pop3';
const RETR_WINDOW = 16;

interface Session {
  client: Pop3Client;
  /** Key (keys.ts) → message number in this session. */
  numbers: Map<string, number>;
  /** Numbers of the messages the server gives no UIDL: in no map by key, so never fetched nor deleted. */
  noUidl: number[];
}

class Cancelled extends Error {}

/** Thrown inside the header pass to end it when the run is stopping. */
const STOPPED = new Error('stopping');

export class Pop3Source implements Source {
  /**
   * Readers are views of the one session, so several workers never open a second one; their RETR
   * batches take turns on the session (the client's lock) while the other workers' APPENDs run.
   * Measured (1,450 messages POP3→IMAP, loopback): 2.6 s with 4 workers, 3.8 s with one.
   */
  readonly caps = { lineEndings: 'crlf' as const, parallelReaders: true, oneSession: true, keysReused: true, headerPass: true };
  private current?: Promise<Session>;
  private closed = false;
  /** Keys a fresh session no longer listed (confirmGone): not asked for again. */
  private readonly gone = new Set<string>();

  private constructor(private readonly o: NetOptions) {}

  static async open(o: NetOptions): Promise<Pop3Source> {
    const src = new Pop3Source(o);
    // A "try later" at login ([IN-USE]: another client holds the maildrop, or the server's limit of
    // sessions is reached; [SYS/TEMP],
    // [LOGIN-DELAY]) is waited out with back-off, --retries times, as later sessions are.
    for (let attempt = 0; ; attempt++) {
      try {
        await src.session();
        return src;
      } catch (e) {
        const err = toMailferryError(e);
        if (err.code !== 'THROTTLED' || attempt >= (o.retries ?? 0)) throw err;
        const delayMs = backoffDelay(attempt + 1, o.backoffMs ?? 500, err.retryAfterMs);
        // Counted by the run, warned of here: one warning per wait.
        o.onThrottle?.({ ms: delayMs, message: err.message, warned: true });
        o.log.warn({ msg: `${err.message.replace(/\.$/, '')}; retry ${attempt + 1}/${o.retries} in ${Math.round(delayMs)} ms` });
        await sleep(delayMs);
      }
    }
  }

  private async connect(): Promise<Session> {
    const ep = this.o.endpoint;
    const log = this.o.log;
    const client = await Pop3Client.connect({
      host: ep.host,
      port: ep.port,
      tls: ep.tls,
      secureContext: this.o.tlsContext,
      rejectUnauthorized: !this.o.insecure,
      timeoutMs: this.o.timeoutMs,
      maxMessageBytes: this.o.maxMessageBytes,
      log: { debug: (_o: unknown, line?: unknown) => log.trace({ msg: String(line ?? '') }) },
    });
    try {
      await client.login(ep.user, await this.o.secret(), this.o.auth);
      const numbers = new Map<string, number>();
      const noUidl: number[] = [];
      /** How many messages so far have each UIDL. */
      const places = new Map<string, number>();
      let shared = 0;
      for (const u of await client.uidl()) {
        if (u.uid === '') {
          noUidl.push(u.n);
          continue;
        }
        // UIDLs are unique by RFC 1939; a server that repeats one would make the later message
        // vanish behind the first. Repeats are told apart by their order ("uid 2", "uid 3"; keys
        // no other UIDL can have, keys.ts), stable as long as neither is deleted meanwhile.
        const place = (places.get(u.uid) ?? 0) + 1;
        places.set(u.uid, place);
        if (place > 1) shared++;
        numbers.set(uidlKey(u.uid, place), u.n);
      }
      if (shared > 0) log.warn({ msg: `the POP3 server gives ${shared} message${shared === 1 ? '' : 's'} a UIDL another message already has; they are told apart by their order` });
      return { client, numbers, noUidl };
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** The one session; reconnects when the previous one broke. */
  private session(): Promise<Session> {
    if (this.closed) return Promise.reject(new MailferryError('INTERNAL', 'POP3 source used after close'));
    const cur = this.current;
    if (cur) {
      return cur.then(
        (s) => (s.client.broken ? this.reconnect() : s),
        () => this.reconnect(),
      );
    }
    return this.reconnect();
  }

  private reconnect(): Promise<Session> {
    const next = this.connect();
    this.current = next;
    next.catch(() => {});
    return next;
  }

  async listMailboxes(): Promise<MailboxInfo[]> {
    return [{ path: POP3_MAILBOX, segments: ['INBOX'], delimiter: '' }];
  }

  private checkMailbox(mailbox: string): void {
    if (mailbox !== POP3_MAILBOX) throw new MailferryError('NO_SUCH_MAILBOX', `POP3 has only INBOX, not '${mailbox}'`, { scope: 'mailbox' });
  }

  async status(mailbox: string, opts: { size?: boolean } = {}): Promise<MailboxStatus> {
    this.checkMailbox(mailbox);
    const s = await this.session();
    const messages = s.numbers.size + s.noUidl.length;
    if (!opts.size) return { validity: POP3_VALIDITY, messages };
    const sizes = await s.client.list();
    let size = 0;
    for (const n of [...s.numbers.values(), ...s.noUidl]) size += sizes.get(n) ?? 0;
    return { validity: POP3_VALIDITY, messages, size };
  }

  /**
   * The listing: UIDL and LIST, then a pipelined `TOP n 0` of each message not done. A session
   * that breaks on the way is reconnected (with back-off, at most --retries failures in a row) and
   * the TOPs go on from where they stopped, so a large box on a flaky link still gets listed. A
   * message the server breaks off at twice in a row, nothing read between, is listed without its
   * header (no Message-ID, no date): its RETR decides (the engine fails it alone if that breaks
   * off too), and the rest of the box is listed. A message without a UIDL is listed as unreadable
   * (`opts.unreadable`; without it, it fails the listing) and not TOPped.
   */
  async *list(mailbox: string, opts: ListOptions = {}): AsyncIterable<MessageRef> {
    this.checkMailbox(mailbox);
    // Made by a function of its own, not in this generator: a generator keeps the values of its
    // block's locals (a filtered copy of the refs) to its end, and so every ref.
    const listed = await this.listAll(mailbox, opts);
    if (!listed) return;
    opts.onCount?.(listed.coming);
    yield* handOver(listed.refs);
  }

  /** The refs of the listing (the caller's to hand over) and how many are not known; undefined when stopped. */
  private async listAll(mailbox: string, opts: ListOptions): Promise<{ refs: MessageRef[]; coming: number } | undefined> {
    const retries = this.o.retries ?? 0;
    let refs: MessageRef[] | undefined;
    /** The refs whose headers are read: not known, not unreadable. */
    let wanted: MessageRef[] = [];
    /** Refs not known: what the caller is told will come. */
    let coming = 0;
    const headed = new Set<string>();
    const now = Date.now();
    /** The message the last header pass broke off at before reading anything. */
    let stuckAt: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const before = headed.size;
      /** The first message of this pass, once the session is up and its TOPs are sent. */
      let first: MessageRef | undefined;
      try {
        const s = await this.session();
        if (!refs) {
          const sizes = await s.client.list();
          refs = [];
          for (const [uid, n] of s.numbers) {
            if (n <= (opts.afterSeq ?? 0)) continue;
            refs.push({ mailbox, key: uid, seq: n, size: sizes.get(n) ?? 0, flags: [], messageId: null, headerUnread: true });
          }
          for (const n of s.noUidl) {
            if (n <= (opts.afterSeq ?? 0)) continue;
            const why = this.noUidl(n);
            if (!opts.unreadable) throw new MailferryError('MAILBOX_FAILED', why.message, { scope: 'mailbox', retryable: false, hint: why.hint });
            refs.push({ mailbox, key: why.messageKey!, seq: n, size: sizes.get(n) ?? 0, flags: [], messageId: null, unreadable: why });
          }
          refs.sort((a, b) => a.seq - b.seq);
          const unknown = refs.filter((r) => !opts.known?.has(r.key));
          coming = unknown.length;
          // Headers the caller will read from the bodies are not asked for (ListOptions.headersAbove).
          wanted = unknown.filter((r) => !r.unreadable && !(r.size <= (opts.headersAbove ?? -1)));
        }
        // By this session's numbers (a message gone since is simply not TOPped).
        const byN = new Map<number, MessageRef>();
        for (const r of wanted) {
          const n = s.numbers.get(r.key);
          if (n !== undefined && !headed.has(r.key)) byN.set(n, r);
        }
        first = byN.values().next().value;
        await s.client.topMany([...byN.keys()], 0, (n, head) => {
          // Stopping: the pass ends here (its session breaks off mid-answer and is not reused).
          if (opts.signal?.aborted) throw STOPPED;
          const ref = byN.get(n);
          if (!ref) return;
          headed.add(ref.key);
          if (head) {
            delete ref.headerUnread;
            // One pass over the header for the three it needs.
            const v = headerValues(headerBlock(head), ['message-id', 'received', 'date']);
            ref.messageId = normalizeMessageId(v.get('message-id') ?? null);
            // POP3 has no INTERNALDATE: the provider's delivery date from the header stands for it.
            ref.internalDate = arrivalDate(v.get('received'), v.get('date'), now);
          }
        });
        break;
      } catch (e) {
        if (e === STOPPED || opts.signal?.aborted) {
          // Nothing is marked in it: the session is closed as it stands, mid-answer.
          const cur = this.current;
          this.current = undefined;
          (await cur?.catch(() => undefined))?.client.close();
          return undefined;
        }
        const err = toMailferryError(e);
        // Progress since the last failure: the retry budget is for failures in a row.
        if (headed.size > before) (attempt = 0), (stuckAt = undefined);
        else if (first && err.retryable && retries > 0 && !this.closed) {
          if (stuckAt === first.key) {
            headed.add(first.key);
            stuckAt = undefined;
            attempt = -1;
            this.o.log.warn({ msg: `listing the POP3 box: ${err.message}, twice at message ${first.seq}; its header is left unread and the listing goes on` });
            continue;
          }
          stuckAt = first.key;
        }
        if (!err.retryable || attempt >= retries || this.closed) throw err;
        const delayMs = backoffDelay(attempt + 1, this.o.backoffMs ?? 500, err.retryAfterMs);
        this.o.log.warn({ msg: `listing the POP3 box: ${err.message}; reconnecting, retry ${attempt + 1}/${retries} in ${Math.round(delayMs)} ms (${headed.size} of ${wanted.length} headers read)` });
        await sleep(delayMs);
      }
    }
    return { refs, coming };
  }

  /**
   * Why message `n`, which the server gives no UIDL, is not copied. Keyed by its order it could be
   * taken, once another such message is deleted, for one already copied (and deleted unread by
   * --delete-source): so it fails, each run, and the rest of the box is copied.
   */
  private noUidl(n: number): MailferryError {
    return new MailferryError(
      'MESSAGE_FAILED',
      `the POP3 server gives message ${n} no UIDL (no unique id; with Dovecot's pop3_reuse_xuidl, its X-UIDL header is empty): no run could know it again, so it is not copied, and never deleted`,
      { scope: 'message', retryable: false, messageKey: noUidlKey(n), hint: 'remove its empty X-UIDL header on the server (Dovecot then gives it a UIDL of its own), or copy it over IMAP' },
    );
  }

  async reader(): Promise<SourceReader> {
    return {
      fetch: (mailbox, refs) => this.fetch(mailbox, refs),
      stream: (mailbox, ref) => this.stream(mailbox, ref),
      ready: async () => void (await this.session()),
      close: async () => {},
    };
  }

  /** One large message as RETR chunks (dot-unstuffed, CRLF), never held whole. */
  private async stream(mailbox: string, ref: MessageRef): Promise<AsyncIterable<Buffer> | null> {
    this.checkMailbox(mailbox);
    const s = await this.session();
    const n = s.numbers.get(ref.key);
    return n === undefined || this.gone.has(ref.key) ? null : this.retrUnlessGone(s.client, n, ref.key);
  }

  /** RETR chunks; a RETR refused as expunged of a message the server no longer lists fails as `gone`. */
  private async *retrUnlessGone(client: Pop3Client, n: number, key: string): AsyncIterable<Buffer> {
    try {
      yield* client.retr(n);
    } catch (err) {
      // The refusal comes before any byte of the body: nothing of it was stored.
      if (refusedAsExpunged(err) && (await this.confirmGone([key])).has(key)) {
        throw new MailferryError('MESSAGE_FAILED', `${(err as MailferryError).message}: deleted by another client`, { scope: 'message', messageKey: key, gone: true });
      }
      throw err;
    }
  }

  /**
   * Of these keys, those a new session's UIDL no longer lists: gone from the maildrop (another
   * client deleted them). The run's session keeps the listing it started with, and Dovecot says
   * "expunged" also for a message file it cannot read, so a refusal alone is no proof; a message
   * still listed, or a second session the server refuses (one that locks the maildrop), leaves
   * the refusal to fail the message as before.
   */
  private async confirmGone(keys: string[]): Promise<Set<string>> {
    const gone = new Set<string>();
    let s: Session | undefined;
    try {
      s = await this.connect();
      for (const k of keys) if (!s.numbers.has(k)) gone.add(k);
    } catch (err) {
      this.o.log.debug({ msg: `could not open a second POP3 session to see whether ${keys.length} message${keys.length === 1 ? ' is' : 's are'} gone: ${toMailferryError(err).message}` });
    } finally {
      // Nothing was marked in it: QUIT commits nothing.
      await s?.client.quit().catch(() => s?.client.close());
    }
    for (const k of gone) this.gone.add(k);
    return gone;
  }

  /**
   * Bodies by pipelined RETR, bridged from the client's callback to an async iterator: the
   * client waits for each body to be taken before it reads the next, so memory holds one body.
   */
  private async *fetch(mailbox: string, refs: MessageRef[]): AsyncIterable<FetchedMessage> {
    this.checkMailbox(mailbox);
    if (refs.length === 0) return;
    const s = await this.session();
    const byN = new Map<number, MessageRef>();
    for (const r of refs) {
      const n = s.numbers.get(r.key);
      if (n !== undefined && !this.gone.has(r.key)) byN.set(n, r);
    }
    const ns = [...byN.keys()];
    const failures: MailferryError[] = [];
    /** Keys whose RETR was refused as expunged: gone, should a new session no longer list them. */
    const expunged: string[] = [];
    let offered: { msg: FetchedMessage; taken: () => void } | undefined;
    let wake: (() => void) | undefined;
    /** Release of the body the consumer holds now (the client waits for it). */
    let inHand: (() => void) | undefined;
    let cancelled = false;
    let finished = false;
    let error: unknown;
    const signal = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const pump = s.client
      .retrMany(
        ns,
        (n, body) =>
          new Promise<void>((taken, reject) => {
            if (cancelled) return reject(new Cancelled());
            const ref = byN.get(n)!;
            // No date from the listing (a header it could not read, or one without a date): from the message.
            ref.internalDate ??= arrivalDateOf(body);
            offered = { msg: { ref, body }, taken };
            signal();
          }),
        RETR_WINDOW,
        // Each failure names its message, so the engine fails exactly that one, with its own error.
        (n, err) => {
          const key = byN.get(n)?.key;
          if (key !== undefined && refusedAsExpunged(err)) expunged.push(key);
          failures.push(new MailferryError(err.code, err.message, { scope: 'message', retryable: false, hint: err.hint, messageKey: key }));
        },
      )
      .catch((err) => {
        if (!(err instanceof Cancelled)) error = err;
      })
      .finally(() => {
        finished = true;
        signal();
      });
    try {
      for (;;) {
        if (!offered && !finished) await new Promise<void>((res) => (wake = res));
        if (offered) {
          const o = offered;
          offered = undefined;
          inHand = o.taken;
          yield o.msg;
          inHand = undefined;
          o.taken();
          continue;
        }
        if (finished) break;
      }
    } finally {
      if (!finished) {
        cancelled = true;
        const o = offered;
        offered = undefined;
        o?.taken();
        inHand?.();
        await pump;
      }
    }
    if (error) throw error;
    // Deleted by another client since the listing: left out, which the engine takes for vanished
    // (skipped, as an IMAP source's expunged message), not failed.
    const gone = expunged.length > 0 ? await this.confirmGone(expunged) : undefined;
    const failed = gone ? failures.filter((f) => f.messageKey === undefined || !gone.has(f.messageKey)) : failures;
    // The messages that failed were not yielded: the engine fails the first, named, and asks again
    // for the rest (each failing one is then named in its turn, with its own error).
    if (failed.length > 0) throw failed[0];
  }

  /**
   * DELE the messages with these keys, then QUIT so the server commits the deletions. A DELE the
   * server refuses leaves that message there alone; nothing is deleted when QUIT fails, or when
   * `signal` fires first (the session is then left to close(), whose RSET unmarks them all).
   */
  async deleteMessages(mailbox: string, keys: readonly string[], signal?: AbortSignal): Promise<{ deleted: string[]; refused: { key: string; error: MailferryError }[] }> {
    this.checkMailbox(mailbox);
    const s = await this.session();
    const stopped = () => new MailferryError('INTERRUPTED', 'stopped before the deletions were committed: nothing deleted from the source');
    const deleted: string[] = [];
    const refused: { key: string; error: MailferryError }[] = [];
    for (const k of keys) {
      if (signal?.aborted) throw stopped();
      const n = s.numbers.get(k);
      if (n === undefined) continue;
      try {
        await s.client.dele(n);
        deleted.push(k);
      } catch (err) {
        if (!(err instanceof MailferryError) || err.scope !== 'message') throw err;
        refused.push({ key: k, error: err });
      }
    }
    if (signal?.aborted) throw stopped();
    this.current = undefined;
    await s.client.quit();
    return { deleted, refused };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const cur = this.current;
    this.current = undefined;
    if (!cur) return;
    const s = await cur.catch(() => undefined);
    if (!s) return;
    // RSET first: nothing marked in this session may be deleted by the QUIT that ends it.
    await s.client
      .rset()
      .then(() => s.client.quit())
      .catch(() => s.client.close());
  }
}
