/**
 * IMAP as a sink. Folders: created with their parents, named with the destination's own
 * hierarchy delimiter and personal-namespace prefix (imapflow encodes modified UTF-7 itself, or
 * sends UTF-8 once UTF8=ACCEPT is enabled). A source folder with a special-use role (\Sent,
 * \Drafts, \Junk, \Trash, \Archive) lands in the destination's folder with that role, whatever its
 * name, unless the destination URL names a prefix folder (then everything goes under the prefix).
 *
 * Writers are separate connections (one per engine worker, and a second each that a batch goes
 * out on while the first waits for its answer; not when the destination is the source's own
 * account, whose connection limit the readers share) so APPENDs are spread over connections; the
 * puts in flight on one writer go out together as one MULTIAPPEND per connection
 * (append-batcher.ts, multiappend.ts) when the server offers it. A tagged OK to APPEND means
 * the server has stored the message(s): the writer's flush() has nothing left to do. Keys are "UIDVALIDITY:UID" from APPENDUID (UIDPLUS).
 * An APPEND refused over quota makes the account full for every writer (DEST_FULL: the run stops).
 *
 * scan() reads a folder's Message-IDs with ONE bulk FETCH (UID + the Message-ID header field), of
 * the UIDs the checkpoint does not know (one UID SEARCH first when it knows some; their sets cut
 * to short command lines).
 * LIST, CREATE and scans go over one control connection that reconnects and retries (control.ts).
 */
import type { ImapFlow, ListResponse } from 'imapflow';
import { MailferryError } from '../../errors.js';
import { headerValue, normalizeMessageId } from '../../mail/headers.js';
import type { NetOptions } from '../net-options.js';
import type { DestHint, FolderLook, MessageMeta, Room, Sink, SinkCaps, SinkWriter, StoredMessage } from '../types.js';
import { AppendBatcher, defaultBatchLimits, LANE_RETIRED, type BatchLimits, type Pending } from './append-batcher.js';
import { classifyImapError, connectImap, literalLimit, takeLoggedError } from './connect.js';
import { bulkBudget, folderBudget } from './answer-budget.js';
import { ControlConnection } from './control.js';
import { fetchRows } from './fetch-rows.js';
import { inMailbox, knownToImapflow, trustedRole, uidSetChunks } from './mailboxes.js';
import { canMultiappend, multiAppend, type AppendItem } from './multiappend.js';

/** Roles that are mapped by role rather than by name. */
const MAPPED_ROLES = new Set(['\\Sent', '\\Drafts', '\\Junk', '\\Trash', '\\Archive']);

/** The longest UID set one scan command names: its line stays well under any server's limit. */
const SET_CHUNK_CHARS = 1000;
/** More commands than this, and the scan reads the whole folder in one. */
const MAX_SET_CHUNKS = 16;

/**
 * Connections per writer that its APPEND batches go out on (append-batcher.ts): while one waits
 * for the server to store a batch (Dovecot fsyncs each message, one at a time per connection),
 * the next batch is sent on the other. IMAP→IMAP ×1 on a journaled ext4: ~12% faster with 2
 * than with 1; 4 no faster than 2 (docs/ARCHITECTURE.md, "Speed").
 */
const APPEND_LANES = 2;

/** Flags a client may not set with APPEND. */
const UNSETTABLE = new Set(['\\recent']);

function isInbox(segments: string[]): boolean {
  return segments.length === 1 && segments[0]!.toUpperCase() === 'INBOX';
}

/** A server's response text, fit for one line of an error. */
const responseText = (text: string | undefined): string => (text ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);

/**
 * The account is over quota: it takes no more, whatever the folder or the message. Also when the
 * server refused only because this one message is larger than the room left (a quota plugin says
 * the same [OVERQUOTA] then): what comes after would mostly be refused too, one round trip each,
 * and the user's remedy is the same. Scope 'store': the engine stops the run (exit 3, as a full disk).
 */
function overQuota(o: NetOptions, mailbox: string, bytes: number, text: string | undefined): MailferryError {
  const said = responseText(text);
  return new MailferryError('DEST_FULL', `destination account ${o.endpoint.user}@${o.endpoint.host} is full: it refused a ${bytes}-byte message for ${mailbox} with [OVERQUOTA]${said ? ` ${said}` : ''} (taken as full also when only this message is larger than the room left); the copy stopped there`, {
    scope: 'store',
    retryable: false,
    hint: 'free space on the destination account or have its quota raised, then rerun: it goes on from there',
  });
}

function appendError(err: unknown, o: NetOptions, mailbox: string, bytes: number): MailferryError {
  const e = err as { serverResponseCode?: string; responseStatus?: string; responseText?: string };
  // [LIMIT] also says a message is over the server's size limit (Dovecot's quota_max_mail_size:
  // "Mail size is larger than the maximum size allowed"): that is no throttling to wait out.
  const tooBig = e?.serverResponseCode === 'LIMIT' && /\b(?:mail|message) size\b|too (?:large|big)|larger than/i.test(e.responseText ?? '');
  if (e?.serverResponseCode === 'APPENDLIMIT' || e?.serverResponseCode === 'TOOBIG' || tooBig) {
    return new MailferryError('MESSAGE_TOO_LARGE', `${o.endpoint.host} refused a message for ${mailbox}: too large for the server${e.responseText ? ` (${responseText(e.responseText)})` : ''}`, { scope: 'message' });
  }
  if (e?.responseStatus === 'NO' || e?.responseStatus === 'BAD') {
    // Refused for now (throttling): not the message's failure, the batch's, waited out and sent
    // again; refused, so not stored (the destination need not be asked whether it was).
    const c = classifyImapError(err, o, 'mailbox');
    if (c.retryable) return new MailferryError(c.code, c.message, { scope: c.scope, hint: c.hint, retryable: true, retryAfterMs: c.retryAfterMs, cause: c.cause, refused: true });
    if (e.serverResponseCode === 'OVERQUOTA') return overQuota(o, mailbox, bytes, e.responseText);
    return new MailferryError('MESSAGE_FAILED', `APPEND to ${mailbox} refused: ${c.message}`, { scope: 'message' });
  }
  return classifyImapError(err, o, 'mailbox');
}

/** What the writers of one sink learn about the account, for all of them. */
interface AccountState {
  /** The account refused a message over quota: no writer sends another APPEND. */
  full?: MailferryError;
  /** Keyword lists the destination refused, each warned of once. */
  keywordsLeftOut?: Set<string>;
  /**
   * Per destination folder, what its SELECT said it keeps (PERMANENTFLAGS, lower case); none or
   * null: every flag. Learnt by the sink as it makes a folder ready (ensureMailbox).
   */
  keeps?: Map<string, Set<string> | null>;
  /** Flags left out per folder, each warned of once ("folder\0flag"). */
  leftOut?: Set<string>;
  /**
   * Where the server limits connections per account, the writers' extra connections (lanes) are
   * what goes without: an extra one logs in only while no writer's first connection is logging
   * in (`firstLogins`); once one is refused no writer tries another (`noExtraLanes`); and a
   * first connection refused at login while extra ones are open has them closed (`makeRoom`),
   * then logs in again.
   */
  firstLogins: Set<Promise<unknown>>;
  noExtraLanes?: boolean;
  writers: Set<ImapWriter>;
  /**
   * Folders this run's CREATE made (the server said so) that no APPEND has gone to since: empty,
   * so not read for dedupe (ImapSink#scan). A writer takes a folder out before its first APPEND.
   */
  madeEmpty: Set<string>;
}

const newAccountState = (): AccountState => ({ firstLogins: new Set(), writers: new Set(), madeEmpty: new Set() });

/** Close the extra connections of every writer of the sink (none is opened again): false when none was open. */
async function makeRoom(account: AccountState): Promise<boolean> {
  account.noExtraLanes = true;
  const open = [...account.writers].filter((w) => w.hasExtraLanes());
  await Promise.all(open.map((w) => w.dropExtraLanes()));
  return open.length > 0;
}

/**
 * The flags a folder keeps of `flags` (RFC 3501 PERMANENTFLAGS: a system flag when it is listed,
 * a keyword when it is listed or `\*` is, "new keywords may be created"), and those it does not.
 */
export function keptFlags(flags: string[], keeps: ReadonlySet<string> | null | undefined): { kept: string[]; dropped: string[] } {
  if (!keeps) return { kept: flags, dropped: [] };
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const f of flags) {
    const k = f.toLowerCase();
    (keeps.has(k) || (!f.startsWith('\\') && keeps.has('\\*')) ? kept : dropped).push(f);
  }
  return { kept, dropped };
}

class ImapWriter implements SinkWriter {
  /** A connection per lane, each shared by the batches sent on it (imapflow queues their APPENDs). */
  private readonly clients: Array<Promise<ImapFlow> | undefined> = [];
  /** Puts in flight are grouped into MULTIAPPEND commands (one server transaction each). */
  private readonly batcher: AppendBatcher<AppendItem>;
  constructor(
    private readonly o: NetOptions,
    private readonly limits: BatchLimits = defaultBatchLimits(),
    private readonly account: AccountState = newAccountState(),
    lanes = 1,
  ) {
    this.batcher = new AppendBatcher<AppendItem>((mailbox, batch, lane) => this.sendBatch(mailbox, batch, lane), limits, lanes, (lane) => this.openLane(lane));
    account.writers.add(this);
  }

  /**
   * An extra lane's connection, logged in when the batcher first wants it: false when it cannot
   * be (a server's limit on connections, say), and no writer of the sink tries another.
   */
  private async openLane(lane: number): Promise<boolean> {
    if (this.account.noExtraLanes) return false;
    try {
      await this.conn(lane);
      return true;
    } catch (err) {
      this.noMoreLanes(err);
      return false;
    }
  }

  /** An extra connection could not be made: no writer of the sink tries another. */
  private noMoreLanes(err: unknown): void {
    this.account.noExtraLanes = true;
    this.o.log.debug({ msg: `${this.o.endpoint.host}: an extra APPEND connection could not be made (${classifyImapError(err, this.o, 'run').message}); going on without it` });
  }

  /** An extra connection is open or on its way. */
  hasExtraLanes(): boolean {
    return this.clients.some((c, lane) => lane > 0 && c !== undefined);
  }

  /** Lane 0 alone from now on: the extra connections log out once their batches are answered. */
  async dropExtraLanes(): Promise<void> {
    await this.batcher.retireExtraLanes();
    await Promise.all(this.clients.splice(1).map(logout));
  }

  /**
   * The first connection. Refused at login for the server's limit on connections while extra
   * connections of this sink hold some: those are closed, and it logs in again.
   */
  private async firstConn(): Promise<ImapFlow> {
    try {
      return await this.conn(0);
    } catch (err) {
      const e = classifyImapError(err, this.o, 'run');
      if (e.code !== 'THROTTLED' || !(await makeRoom(this.account))) throw err;
      this.o.log.debug({ msg: `${this.o.endpoint.host} refused a connection (${e.message}): extra APPEND connections closed to make room` });
      return this.conn(0);
    }
  }

  /** The lane's connection; a new one when the last broke (batches in flight share one connect). */
  private async conn(lane: number): Promise<ImapFlow> {
    const cur = this.clients[lane];
    if (cur) {
      const c = await cur.catch(() => undefined);
      if (c?.usable) return c;
      if (this.clients[lane] !== cur) return this.conn(lane);
      c?.close();
    }
    const next = lane === 0 ? connectImap(this.o) : this.afterFirstLogins().then(() => this.extraConnection());
    this.clients[lane] = next;
    next.catch(() => {
      if (this.clients[lane] === next) this.clients[lane] = undefined;
    });
    if (lane === 0) {
      const logins = this.account.firstLogins;
      logins.add(next);
      const done = () => void logins.delete(next);
      next.then(done, done);
    }
    return next;
  }

  /** An extra lane's connection, unless the sink has stopped using them meanwhile (a retryable failure, as a lost connection). */
  private extraConnection(): Promise<ImapFlow> {
    if (this.account.noExtraLanes) return Promise.reject(new MailferryError('NETWORK', `no more connections to ${this.o.endpoint.host}: the server limits them`, { scope: 'mailbox', retryable: true }));
    return connectImap(this.o);
  }

  /** Once no writer of the sink is logging in its first connection. */
  private async afterFirstLogins(): Promise<void> {
    while (this.account.firstLogins.size > 0) await Promise.allSettled([...this.account.firstLogins]);
  }

  /**
   * Log in now, in the background; a failure is met again (and reported) by the first put. The
   * extra lanes log in when batches first wait for one (`openLane`; AccountState says in what order).
   */
  prepare(): void {
    this.conn(0).catch(() => {});
  }

  put(mailbox: string, body: Buffer, meta: MessageMeta): Promise<string> {
    const { kept: flags, dropped } = keptFlags(
      meta.flags.filter((f) => !UNSETTABLE.has(f.toLowerCase())),
      this.account.keeps?.get(mailbox),
    );
    if (dropped.length > 0) this.leftOut(mailbox, dropped);
    return this.batcher.put(mailbox, { body, flags, internalDate: meta.internalDate }, body.length);
  }

  /** Flags the folder does not keep: stored without them, each said once per folder in a run. */
  private leftOut(mailbox: string, flags: string[]): void {
    const said = (this.account.leftOut ??= new Set());
    const fresh = flags.filter((f) => !said.has(`${mailbox}\0${f.toLowerCase()}`));
    if (fresh.length === 0) return;
    for (const f of fresh) said.add(`${mailbox}\0${f.toLowerCase()}`);
    const keeps = [...(this.account.keeps?.get(mailbox) ?? [])].join(' ');
    this.o.log.warn({ msg: `${mailbox}: the destination folder does not keep the flag${fresh.length === 1 ? '' : 's'} ${fresh.join(' ')} (its PERMANENTFLAGS: ${keeps || 'none'}): messages are stored without ${fresh.length === 1 ? 'it' : 'them'}` });
  }

  private async sendBatch(mailbox: string, batch: Pending<AppendItem>[], lane: number): Promise<void | typeof LANE_RETIRED> {
    this.account.madeEmpty.delete(mailbox);
    if (this.account.full) {
      for (const p of batch) p.reject(this.account.full);
      return;
    }
    let client: ImapFlow;
    try {
      client = lane === 0 ? await this.firstConn() : await this.conn(lane);
    } catch (err) {
      // An extra lane whose connection was lost and cannot be made again is given up: the
      // batch goes out on the first connection.
      if (lane > 0) {
        this.noMoreLanes(err);
        return LANE_RETIRED;
      }
      // No connection (refused at login: a connection limit, say): no APPEND was sent, and one
      // by one would only ask for a login per message.
      for (const p of batch) p.reject(err);
      return;
    }
    if (batch.length > 1) {
      try {
        if (canMultiappend(client)) {
          const keys = await multiAppend(client, mailbox, batch.map((p) => p.item));
          batch.forEach((p, i) => p.resolve(keys[i]!));
          return;
        }
      } catch (err) {
        const status = (err as { responseStatus?: string })?.responseStatus;
        const throttled = status === 'NO' || status === 'BAD' ? appendError(err, this.o, mailbox, 0) : undefined;
        if (throttled?.code === 'THROTTLED') {
          // Refused as a whole for now: one by one would only be throttled message by message.
          for (const p of batch) p.reject(throttled);
          return;
        }
        if (status !== 'NO' && status !== 'BAD') {
          // A link that breaks under long commands: halve the batches (down to one message).
          this.limits.messages = Math.max(1, Math.min(this.limits.messages, Math.floor(batch.length / 2)));
          const e = appendError(err, this.o, mailbox, batch.reduce((a, p) => a + p.bytes, 0));
          for (const p of batch) p.reject(e);
          return;
        }
        // Refused as a whole (none stored): one by one, so a refusal names its message. Over
        // quota too: what still fits is stored, up to the first message refused alone.
      }
    }
    let throttled: MailferryError | undefined;
    for (const p of batch) {
      // Found full by this writer or another: the rest are not sent (each would be refused).
      if (this.account.full) {
        p.reject(this.account.full);
        continue;
      }
      // Throttled: the rest wait with it (the batch is sent again once it is waited out).
      if (throttled) {
        p.reject(throttled);
        continue;
      }
      try {
        p.resolve(await this.appendKeeping(lane, mailbox, p.item));
      } catch (err) {
        if (err instanceof MailferryError && err.code === 'DEST_FULL') this.account.full ??= err;
        if (err instanceof MailferryError && err.code === 'THROTTLED') throttled = err;
        p.reject(err);
      }
    }
  }

  /**
   * One APPEND. Refused for the message itself (not over quota, not too large) while it carries
   * keywords: again without its longest keyword, then without any. A server may refuse a keyword
   * it cannot store (Dovecot one longer than its mail_max_keyword_length, 50 by default, which
   * another server allowed), and the message would then never be copied. It is stored with the
   * flags the server takes, and a warning names the keywords left out (once per list in a run).
   */
  private async appendKeeping(lane: number, mailbox: string, item: AppendItem): Promise<string> {
    try {
      return await this.appendOne(lane, mailbox, item.body, item.flags, item.internalDate);
    } catch (err) {
      const keywords = item.flags.filter((f) => !f.startsWith('\\'));
      if (!(err instanceof MailferryError) || err.code !== 'MESSAGE_FAILED' || keywords.length === 0) throw err;
      const longest = keywords.reduce((a, b) => (b.length > a.length ? b : a));
      for (const leftOut of keywords.length > 1 ? [[longest], keywords] : [keywords]) {
        try {
          const key = await this.appendOne(lane, mailbox, item.body, item.flags.filter((f) => !leftOut.includes(f)), item.internalDate);
          const list = leftOut.join(' ');
          const warned = (this.account.keywordsLeftOut ??= new Set());
          if (!warned.has(list)) {
            warned.add(list);
            this.o.log.warn({ msg: `${mailbox}: stored without the keyword${leftOut.length === 1 ? '' : 's'} ${leftOut.map((k) => `'${k}'`).join(', ')}, which the destination refused (${err.message}); its other flags are kept` });
          }
          return key;
        } catch (again) {
          // Refused again: the next try (after the last, the first refusal says why). Anything
          // else (the connection) is its own.
          if (!(again instanceof MailferryError && again.code === 'MESSAGE_FAILED')) throw again;
        }
      }
      throw err;
    }
  }

  private async appendOne(lane: number, mailbox: string, body: Buffer, flags: string[], internalDate?: Date): Promise<string> {
    const client = await this.conn(lane);
    let res;
    try {
      res = await client.append(mailbox, body, flags, internalDate);
    } catch (err) {
      throw appendError(err, this.o, mailbox, body.length);
    }
    if (!res) throw new MailferryError('NETWORK', `connection to ${this.o.endpoint.host} lost during APPEND`, { scope: 'mailbox' });
    return res.uid ? `${String(res.uidValidity ?? '')}:${res.uid}` : '';
  }

  /** An acknowledged APPEND is stored: nothing to flush. */
  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.account.writers.delete(this);
    await Promise.all(this.clients.splice(0).map(logout));
  }
}

async function logout(p: Promise<ImapFlow> | undefined): Promise<void> {
  const c = await p?.catch(() => undefined);
  await c?.logout().catch(() => c.close());
}

export class ImapSink implements Sink {
  /** maxMessageBytes: the server's APPENDLIMIT=N, so the engine skips larger messages unfetched. */
  /**
   * putWindow: the puts in flight become one MULTIAPPEND (one server transaction) per batch, of
   * at most 64 messages: 128 in flight fill a batch on each of a writer's two connections.
   */
  readonly caps: SinkCaps = { lineEndings: 'crlf', putWindow: 128 };
  private folders = new Map<string, ListResponse>();
  private readonly made = new Map<string, string>();
  /** Each folder's STATUS as the opening LIST gave it (LIST-STATUS), taken once by `look`. */
  private readonly listed = new Map<string, { messages: number; uidValidity?: bigint }>();
  /**
   * Folders the server lists but says do not exist (NONEXISTENT): Dovecot lists a folder deleted
   * while a subfolder of it stays as the subfolder's parent, with no \\Noselect or \\NonExistent.
   */
  private readonly phantom = new Set<string>();
  /** Folder name by name → the source folder (its segments, and its name) that named it: two may not (`claim`). */
  private readonly named = new Map<string, { segments: string[]; source: string }>();
  private delimiter = '.';
  private prefix = '';
  /** MULTIAPPEND batch bounds shared by this sink's writers. */
  private readonly batchLimits = defaultBatchLimits();
  /** Shared by this sink's writers: once the account is found full, none of them appends again. */
  private readonly account: AccountState = newAccountState();

  /** The control connection (LIST, CREATE, scans): reconnects and retries transient failures (control.ts). */
  private readonly ctl: ControlConnection;

  private constructor(
    client: ImapFlow,
    private readonly o: NetOptions,
    private readonly readOnly: boolean,
    private readonly lanes: number,
  ) {
    this.ctl = new ControlConnection(o, client);
  }

  /**
   * `readOnly`: for verify and --dry-run: creates no folder. `lanes`: connections per writer
   * (APPEND_LANES unless told; 1 when the destination is the source's own account).
   */
  static async open(o: NetOptions, opts: { readOnly?: boolean; lanes?: number } = {}): Promise<ImapSink> {
    const client = await connectImap(o);
    const sink = new ImapSink(client, o, opts.readOnly ?? false, opts.lanes ?? APPEND_LANES);
    const appendLimit = client.capabilities.get('APPENDLIMIT');
    if (typeof appendLimit === 'number' && appendLimit > 0) sink.caps.maxMessageBytes = appendLimit;
    try {
      await sink.refresh();
    } catch (err) {
      await sink.close();
      throw err;
    }
    return sink;
  }

  private async refresh(): Promise<void> {
    // Where the server answers it within the LIST (LIST-STATUS, RFC 5819): each folder's count and
    // UIDVALIDITY, for the look a run takes at every folder it copied into before (`look`), so
    // a rerun of N folders is not N STATUS round trips.
    let askedStatus = false;
    const { list, ns } = await this.ctl.run('listing destination folders', 'run', async (c) => ({
      list: await c.list((askedStatus = c.capabilities.has('LIST-STATUS')) ? { statusQuery: { messages: true, uidValidity: true } } : undefined),
      ns: c.namespace as { prefix?: string; delimiter?: string } | undefined,
    }));
    this.listed.clear();
    for (const l of list) {
      const st = l.status as { messages?: number; uidValidity?: bigint; error?: unknown } | undefined;
      if (st && st.error === undefined && st.messages !== undefined) this.listed.set(l.path, { messages: st.messages, uidValidity: st.uidValidity });
    }
    this.folders = new Map(list.map((l) => [l.path, l]));
    // A selectable folder has its STATUS in a LIST-STATUS answer: one without it is asked alone
    // (such folders are few: the server could not answer for them), and one that does not exist noted.
    this.phantom.clear();
    if (askedStatus) {
      for (const l of list) {
        if (l.status || l.path === 'INBOX' || l.flags?.has('\\Noselect') || l.flags?.has('\\NonExistent')) continue;
        if ((await this.statusOf(l.path)) === 'gone') this.phantom.add(l.path);
      }
    }
    this.prefix = ns?.prefix ?? '';
    this.delimiter = ns?.delimiter || list.find((l) => l.delimiter)?.delimiter || '.';
  }

  /** Destination path of a hierarchy: namespace prefix + segments joined with the delimiter. */
  pathOf(segments: string[]): string {
    if (isInbox(segments)) return 'INBOX';
    const parts = this.escaped(segments);
    if (parts[0]!.toUpperCase() === 'INBOX' && parts.length > 1) return ['INBOX', ...parts.slice(1)].join(this.delimiter);
    return this.prefix + parts.join(this.delimiter);
  }

  /** A source name may contain the destination's delimiter: it would split the folder in two. */
  private escaped(segments: string[]): string[] {
    const d = this.delimiter;
    return segments.map((s) => (d ? s.split(d).join('_') : s));
  }

  private byRole(role: string): string | undefined {
    for (const l of this.folders.values()) if (trustedRole(l, this.prefix) === role && !l.flags?.has('\\Noselect')) return l.path;
    return undefined;
  }

  private exists(path: string): boolean {
    const l = this.folders.get(path);
    return l !== undefined && !l.flags?.has('\\Noselect') && !l.flags?.has('\\NonExistent') && !this.phantom.has(path);
  }

  /**
   * A folder's STATUS (count, UIDVALIDITY); `gone` when the server says it does not exist, false
   * when it says nothing (imapflow answers a failed STATUS so, after logging why).
   */
  private statusOf(mailbox: string): Promise<{ messages?: number; uidValidity?: bigint } | false | 'gone'> {
    return this.ctl.run(`reading ${mailbox}`, 'mailbox', async (c) => {
      const st = await c.status(mailbox, { messages: true, uidValidity: true });
      if (st !== false) return st;
      const err = takeLoggedError(c);
      return err !== undefined && classifyImapError(err, this.o, 'mailbox').code === 'NO_SUCH_MAILBOX' ? 'gone' : false;
    });
  }

  /**
   * Where a folder lands: where earlier runs put it (while it exists); else the destination's
   * folder with the same role; a folder below a source folder with a role follows that one
   * (Sent/2020 → Sent Items/2020, so no second Sent is made beside Sent Items, which a server
   * may give the same role and which a later run might then pick); else by name.
   */
  private target(segments: string[], specialUse?: string, hint?: DestHint): string {
    const byName = this.claim(segments, hint?.source);
    if (hint?.prefer && (hint.prefer === 'INBOX' || this.exists(hint.prefer))) return hint.prefer;
    if (this.o.endpoint.folder?.length) return byName;
    if (specialUse && MAPPED_ROLES.has(specialUse)) return this.byRole(specialUse) ?? byName;
    const under = hint?.under;
    if (under && MAPPED_ROLES.has(under.specialUse) && under.depth < segments.length && !this.exists(byName)) {
      const root = this.byRole(under.specialUse);
      if (root) return [root, ...this.escaped(segments.slice(under.depth))].join(this.delimiter);
    }
    return byName;
  }

  /**
   * The folder's name here, refused when another source folder has the same (a name holding the
   * delimiter is written with '_': "Lists.2024" from a '/' source and "Lists_2024" would be one
   * folder, and a message filed in both stored once). The later one fails, named; the user maps
   * one elsewhere. Source folders merged on purpose (--map, or two spellings of INBOX) have the
   * same segments and pass.
   */
  private claim(segments: string[], source = segments.join('/')): string {
    const byName = this.pathOf(segments);
    const other = this.named.get(byName);
    if (!other) this.named.set(byName, { segments, source });
    else if (other.segments.join('\0') !== segments.join('\0')) {
      // Named as the source names them: what --map takes (the destination URL's prefix is not theirs).
      throw new MailferryError('BAD_MAILBOX_NAME', `'${source}' and '${other.source}' would both be the folder '${byName}' on ${this.o.endpoint.host} (its folder names cannot hold '${this.delimiter}'): '${source}' is not copied`, {
        scope: 'mailbox',
        retryable: false,
        hint: `map one of them to another name (--map '${source}=NEW')`,
      });
    }
    return byName;
  }

  async existingMailbox(segments: string[], specialUse?: string, hint?: DestHint): Promise<string | null> {
    const path = this.target(segments, specialUse, hint);
    return path === 'INBOX' || this.exists(path) ? path : null;
  }

  async plannedMailbox(segments: string[], specialUse?: string, hint?: DestHint): Promise<string> {
    return this.target(segments, specialUse, hint);
  }

  async ensureMailbox(segments: string[], specialUse?: string, hint?: DestHint): Promise<string> {
    const memo = `${specialUse ?? ''}\0${hint?.prefer ?? ''}\0${hint?.under ? `${hint.under.specialUse}:${hint.under.depth}` : ''}\0${segments.join('\0')}`;
    const done = this.made.get(memo);
    if (done) return done;
    const path = this.target(segments, specialUse, hint);
    if (path !== 'INBOX' && !this.exists(path) && !this.readOnly) await this.create(path);
    if (!this.readOnly && !this.account.keeps?.has(path)) (this.account.keeps ??= new Map()).set(path, await this.keeps(path));
    this.made.set(memo, path);
    return path;
  }

  /**
   * What the folder keeps of the flags a message brings (PERMANENTFLAGS, which only a read-write
   * SELECT says: EXAMINE says "()"), lower case; null when the server does not say (every flag),
   * or the folder cannot be selected (its APPENDs then meet whatever it refuses).
   */
  private async keeps(path: string): Promise<Set<string> | null> {
    try {
      return await this.ctl.run(`opening ${path}`, 'mailbox', async (c) => {
        const lock = await c.getMailboxLock(path, { readOnly: false });
        try {
          const p = c.mailbox ? c.mailbox.permanentFlags : undefined;
          return p ? new Set([...p].map((f) => f.toLowerCase())) : null;
        } finally {
          lock.release();
        }
      });
    } catch (err) {
      this.o.log.debug({ msg: `could not learn which flags ${path} keeps: ${classifyImapError(err, this.o, 'mailbox').message}` });
      return null;
    }
  }

  /**
   * CREATE the folder and every missing parent, then LIST each of them alone (its attributes, a
   * role the server's configuration gives it). Not the whole account again: a LIST of every
   * folder after each CREATE made a migration of N folders read N² lines (1,000 folders: 1,001
   * LISTs, 31 MB; 2,000 folders three times that).
   */
  private async create(path: string): Promise<void> {
    const d = this.delimiter;
    const rel = path.startsWith(this.prefix) ? path.slice(this.prefix.length) : path;
    const parts = d ? rel.split(d) : [rel];
    const made: string[] = [];
    try {
      for (let i = 1; i <= parts.length; i++) {
        const p = this.prefix + parts.slice(0, i).join(d);
        if (this.exists(p)) continue;
        made.push(p);
        this.phantom.delete(p);
        // Sent again after a lost connection, a CREATE that was done meets ALREADYEXISTS,
        // which imapflow answers as success ({created: false}).
        let subscribed = false;
        await this.ctl.run(`creating ${p}`, 'mailbox', async (c) => {
          const r = await c.mailboxCreate(p);
          // imapflow subscribes after a CREATE it made, on the same connection: done, unless the
          // connection was lost meanwhile (it passes over that).
          subscribed = r?.created === true && c.usable;
        });
        if (subscribed) this.account.madeEmpty.add(p);
        // Else (a lost SUBSCRIBE, or none sent when a retried CREATE found the folder made) again,
        // here. A server that refuses subscriptions (NO) is left as it is.
        else {
          await this.ctl.run(`subscribing ${p}`, 'mailbox', async (c) => {
            if ((await c.mailboxSubscribe(p)) === false && !c.usable) throw Object.assign(new Error('Connection not available'), { code: 'NoConnection' });
          });
        }
      }
    } catch (err) {
      const e = classifyImapError(err, this.o, 'mailbox');
      throw new MailferryError(e.code === 'PROTOCOL' ? 'MAILBOX_FAILED' : e.code, `cannot create folder '${path}' on ${this.o.endpoint.host}: ${e.message}`, {
        scope: e.scope === 'run' ? 'run' : 'mailbox',
        retryable: e.retryable,
      });
    }
    for (const p of made) {
      const listed = await this.ctl.run(`listing ${p}`, 'mailbox', async (c) => {
        const got = await (c as unknown as { run(cmd: 'LIST', ref: string, name: string, o: object): Promise<ListResponse[]> }).run('LIST', '', p, {});
        // Not listed again by imapflow before the SELECT that reads which flags it keeps (`keeps`).
        knownToImapflow(c, got ?? []);
        return got;
      });
      for (const l of listed) this.folders.set(l.path, l);
    }
  }

  displayName(mailbox: string): string {
    if (mailbox.toUpperCase() === 'INBOX') return 'INBOX';
    const rel = this.prefix && mailbox.startsWith(this.prefix) ? mailbox.slice(this.prefix.length) : mailbox;
    return this.delimiter ? rel.split(this.delimiter).join('/') : rel;
  }

  async look(mailbox: string, earlier?: Iterable<string>): Promise<FolderLook> {
    // What the opening LIST said, once: a run looks before it stores anything into the folder.
    const listed = this.listed.get(mailbox);
    this.listed.delete(mailbox);
    const st = listed ?? (await this.statusOf(mailbox));
    // Listed, but not there (a server without LIST-STATUS): made again when the copy comes to it.
    if (st === 'gone') {
      this.phantom.add(mailbox);
      return 'missing';
    }
    // Nothing known.
    if (st === false) return 'holds';
    if (st.messages === 0) return 'empty';
    return st.uidValidity !== undefined && earlier && madeAgain(earlier, String(st.uidValidity)) ? 'replaced' : 'holds';
  }

  /** The account's storage quota (GETQUOTAROOT INBOX), where the server has QUOTA and sets a limit. */
  async room(): Promise<Room | null> {
    const q = await this.ctl.run('reading the quota', 'run', (c) => c.getQuota('INBOX'));
    const st = q ? (q as { storage?: { usage?: number; limit?: number } }).storage : undefined;
    if (!st?.limit) return null;
    const used = st.usage ?? 0;
    return { what: 'quota', used, limit: st.limit, free: Math.max(0, st.limit - used) };
  }

  async *scan(mailbox: string, known?: ReadonlySet<string>): AsyncIterable<StoredMessage> {
    // Made by this run's CREATE, and no APPEND sent there since: nothing in it to read (an EXAMINE
    // and a NOOP saved per folder a migration makes).
    if (this.account.madeEmpty.has(mailbox)) return;
    // Collected whole, so a retry after a lost connection starts over cleanly.
    const found = await this.ctl.run(`reading ${mailbox}`, 'mailbox', (c) =>
      inMailbox(c, mailbox, async () => {
        const rows: Array<{ key: string; uid: number; messageId: string | null }> = [];
        const box = c.mailbox;
        if (!box || box.exists === 0) return rows;
        const uv = String(box.uidValidity);
        // What the checkpoint stored here needs no reading: one UID SEARCH, then the Message-IDs
        // of the rest only (an incremental run into a large folder reads what is new to it), in
        // commands short enough for any server's line limit.
        let sets = ['1:*'];
        let count = box.exists;
        if (known?.size) {
          const all = await c.search({ all: true }, { uid: true });
          // imapflow's search() answers false for a failure, after logging it.
          if (!all) throw takeLoggedError(c) ?? Object.assign(new Error(`UID SEARCH in ${mailbox} failed`), { responseStatus: 'NO' });
          const unread: number[] = [];
          for (const uid of all) {
            if (known.has(`${uv}:${uid}`)) rows.push({ key: `${uv}:${uid}`, uid, messageId: null });
            else unread.push(uid);
          }
          if (unread.length === 0) return rows;
          sets = uidSetChunks(unread, SET_CHUNK_CHARS);
          count = unread.length;
          // So many holes that the folder is read whole in fewer commands.
          if (sets.length > MAX_SET_CHUNKS) {
            rows.length = 0;
            sets = ['1:*'];
            count = box.exists;
          }
        }
        for (const set of sets) {
          for await (const row of fetchRows(c, set, { headerFields: ['MESSAGE-ID'] }, folderBudget(count, 2048))) {
            if (row.uid === undefined) continue;
            rows.push({ key: `${uv}:${row.uid}`, uid: row.uid, messageId: row.header ? normalizeMessageId(headerValue(row.header, 'message-id')) : null });
          }
        }
        return rows;
      }, { fresh: true }),
    );
    for (const f of found) {
      yield {
        key: f.key,
        messageId: known?.has(f.key) ? undefined : f.messageId,
        // The destination's server is the user's own: what it sends is taken (the size checked after).
        readFull: async (max: number) => {
          const body = await this.readFull(mailbox, f.uid);
          return body.length > max ? null : body;
        },
      };
    }
  }

  private readFull(mailbox: string, uid: number): Promise<Buffer> {
    return this.ctl.run(`reading ${mailbox}`, 'mailbox', (c) =>
      inMailbox(c, mailbox, async () => {
        for await (const row of fetchRows(c, String(uid), { body: 'body' }, bulkBudget([0], literalLimit(this.o)))) {
          if (row.uid === uid && row.body) return row.body;
        }
        throw new MailferryError('MESSAGE_FAILED', `message UID ${uid} vanished from ${mailbox}`, { scope: 'message' });
      }),
    );
  }

  /** A writer logs in as it is made: a pool warming its writers overlaps their logins with the listing. */
  async writer(): Promise<SinkWriter> {
    const w = new ImapWriter(this.o, this.batchLimits, this.account, this.lanes);
    w.prepare();
    return w;
  }

  async close(): Promise<void> {
    await this.ctl.close();
  }
}

/**
 * Whether dest keys ("UIDVALIDITY:UID") an earlier run stored in a folder were all made under
 * another UIDVALIDITY than `validity`: the folder was deleted and made again since. Keys without
 * a UIDVALIDITY (a server without UIDPLUS) say nothing.
 */
export function madeAgain(earlier: Iterable<string>, validity: string): boolean {
  let other = false;
  for (const key of earlier) {
    const colon = key.indexOf(':');
    if (colon <= 0) continue;
    if (key.slice(0, colon) === validity) return false;
    other = true;
  }
  return other;
}
