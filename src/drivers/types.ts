/**
 * The contracts every driver meets. The engine speaks only these; protocol words live in the
 * drivers behind them.
 */
import type { MailferryError } from '../errors.js';

/** --max-message-size when it is not given (256M): the largest message a run copies. */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** A folder as a store sees it. `path` is the store's own name; `segments` its hierarchy. */
export interface MailboxInfo {
  /** The store's name for the folder, as used in its protocol (IMAP path, Maildir++ name). */
  path: string;
  /** Hierarchy components, decoded to Unicode. INBOX is ['INBOX']. */
  segments: string[];
  /** Hierarchy delimiter of the store ('' when flat). */
  delimiter: string;
  /** Special-use role: '\\Sent', '\\Drafts', '\\Junk', '\\Trash', '\\Archive', '\\All', '\\Flagged'. */
  specialUse?: string;
  /** The folder holds no messages of its own (\Noselect, \NonExistent). */
  noselect?: boolean;
}

/** State of one source folder, cheap to ask for (IMAP STATUS, a Maildir stat). */
export interface MailboxStatus {
  /** Changes when the store renumbers the folder; keys are only valid within one validity. */
  validity: string;
  /** The next key the store will hand out, when it has one (IMAP UIDNEXT). */
  next?: number;
  messages: number;
  /** Total bytes of the folder's messages, when asked for (`status(m, {size: true})`). */
  size?: number;
}

/** A cheap handle on one message: never carries the body. */
export interface MessageRef {
  mailbox: string;
  /** Stable key within (mailbox, validity): IMAP UID, POP3 UIDL, Maildir unique name. */
  key: string;
  /** Numeric order key where the store has one (IMAP UID, POP3 message number). */
  seq: number;
  size: number;
  internalDate?: Date;
  flags: string[];
  /** Normalised Message-ID read from the header, or null when the message has none. */
  messageId: string | null;
  /**
   * The source could not read the header while listing (a POP3 server without TOP): messageId
   * null means unknown, and the identity comes from the body (its Message-ID, else its digest).
   */
  headerUnread?: boolean;
  /**
   * Set when the source could not read the message at all (its server fails on it): nothing
   * else of the ref is known. Only listed so when the caller asks (`ListOptions.unreadable`).
   */
  unreadable?: MailferryError;
}

export interface MessageMeta {
  flags: string[];
  internalDate?: Date;
}

export interface FetchedMessage {
  ref: MessageRef;
  /** Raw RFC 5322 bytes, exactly as the source holds them (CRLF or LF as the store keeps it). */
  body: Buffer;
}

export interface ListOptions {
  /** Only keys above this order key (IMAP UID): the folder was complete below it. */
  afterSeq?: number;
  /**
   * Keys the caller has done already (it skips them before anything else): the source may yield
   * them without reading their Message-ID, size, date or flags.
   */
  known?: ReadonlySet<string>;
  /** Told, before the first ref when the source knows it, how many refs not in `known` will come. */
  onCount?(n: number): void;
  /**
   * A message the server cannot read is listed with `unreadable` set, and the listing goes on
   * after it. Without this, such a message fails the listing.
   */
  unreadable?: boolean;
  /**
   * The run is stopping (Ctrl-C, --max-runtime): a source whose listing reads the whole folder
   * before the first ref (a POP3 header pass) gives up and lists nothing more.
   */
  signal?: AbortSignal;
  /**
   * The caller has no use for the Message-ID or date of a message of this size or less before its
   * body (a first copy into an empty destination, no date filter: nothing to skip by them), and
   * reads both from the body. A source with a header pass (caps.headerPass) leaves those headers
   * unread (`headerUnread`). Larger messages keep theirs: they are streamed, never held whole,
   * and a streamed message is deduplicated by the Message-ID its header gave.
   */
  headersAbove?: number;
}

/** One worker's connection to the source. */
export interface SourceReader {
  /** Fetch the bodies of refs of one mailbox, in order, one at a time. */
  fetch(mailbox: string, refs: MessageRef[]): AsyncIterable<FetchedMessage>;
  /**
   * Optional: one message as a byte stream, for messages too large to hold whole (the engine uses
   * it above its streaming threshold when the sink writer has `putStream`). null: the message is gone.
   */
  stream?(mailbox: string, ref: MessageRef): Promise<AsyncIterable<Buffer> | null>;
  /**
   * Optional: make sure the reader has a live connection (connect again if it broke) with `mailbox`
   * open, so that a failure of the `fetch` that follows is the server's with that fetch, not a
   * failure to connect or to open the folder.
   */
  ready?(mailbox?: string): Promise<void>;
  close(): Promise<void>;
}

export interface SourceCaps {
  /** Line endings of bodies: 'crlf' (IMAP, POP3) or 'lf' (Maildir). */
  lineEndings: 'crlf' | 'lf';
  /**
   * Several readers may work at once. POP3 says yes although the server allows one session: its
   * readers are views of that one session and take turns on it.
   */
  parallelReaders: boolean;
  /**
   * Its readers take turns on one session (POP3): one reader fetches at a time, so the puts in
   * flight are mostly one worker's (SinkCaps.putsInFlight).
   */
  oneSession?: boolean;
  /**
   * A key may name a new message once the message it named is gone (a POP3 UIDL: RFC 1939 only
   * forbids reuse while the message exists, and a server whose index was rebuilt numbers from 1
   * again): done keys the listing no longer has are forgotten, so a new message under one is
   * copied, not taken for done.
   */
  keysReused?: boolean;
  /**
   * A message not found when it is read may be there after all (a Maildir file renamed by a mail
   * client again and again while it was looked for): one that vanished is not recorded as done,
   * so the next run, which lists the folder in full, copies it if it is there.
   */
  keysReturn?: boolean;
  /**
   * The listing reads each message's header in a pass of its own before the first ref (POP3's
   * `TOP n 0`, a request per message): the caller may spare it where it has no use for the
   * header before the body (ListOptions.headersAbove).
   */
  headerPass?: boolean;
}

export interface Source {
  readonly caps: SourceCaps;
  listMailboxes(): Promise<MailboxInfo[]>;
  /** `size: true` adds the folder's total bytes (IMAP STATUS=SIZE, else one FETCH RFC822.SIZE). */
  status(mailbox: string, opts?: { size?: boolean }): Promise<MailboxStatus>;
  /**
   * Refs of a folder in ascending key order, with Message-IDs, without bodies. The caller may take
   * them as it goes (a source may list in chunks, each when the caller asks for more).
   */
  list(mailbox: string, opts?: ListOptions): AsyncIterable<MessageRef>;
  reader(): Promise<SourceReader>;
  /**
   * Delete these messages from the source (POP3 --delete-source), committing at once: the keys
   * deleted, and those the server refused to delete (left there, each with why). Only sources
   * that can delete have it. The session is over afterwards. Should `signal` fire before the
   * commit, nothing is deleted and it rejects with INTERRUPTED.
   */
  deleteMessages?(mailbox: string, keys: readonly string[], signal?: AbortSignal): Promise<{ deleted: string[]; refused: { key: string; error: MailferryError }[] }>;
  /**
   * The copy of this folder is over: what the source keeps to read its messages may go (a
   * Maildir's file names by key). A later read of the folder must still work, if more slowly.
   */
  release?(mailbox: string): void;
  close(): Promise<void>;
}

/** What the sink already holds in a folder, for dedupe: one entry per message. */
export interface StoredMessage {
  /** The sink's own key for the message (Maildir unique name, IMAP UID). */
  key: string;
  /** Normalised Message-ID; null when it has none; undefined when not read (key was `known`). */
  messageId: string | null | undefined;
  /**
   * Reads the whole message, for content digests of messages without a Message-ID; null when it
   * is larger than `max` bytes (a Maildir file is then not read: no copy is that large).
   */
  readFull(max: number): Promise<Buffer | null>;
}

export interface SinkWriter {
  /**
   * Store one message. At-least-once: a rejected put may still have stored it. The returned key
   * names the stored copy. Durable once `flush()` resolves.
   */
  put(mailbox: string, body: Buffer, meta: MessageMeta): Promise<string>;
  /** Optional: store a message from a byte stream (already in the sink's line endings), never held whole. */
  putStream?(mailbox: string, body: AsyncIterable<Buffer>, meta: MessageMeta): Promise<{ key: string; bytes: number }>;
  /** Durability barrier: everything put so far survives a crash once this resolves. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface SinkCaps {
  lineEndings: 'crlf' | 'lf';
  /** Largest message the sink accepts (IMAP APPENDLIMIT); larger ones fail as MESSAGE_TOO_LARGE. */
  maxMessageBytes?: number;
  /** Puts a worker keeps in flight, when the sink gains from more than the engine's default (16). */
  putWindow?: number;
  /**
   * Puts the sink gains from having in flight in all, whatever the number of workers fetching
   * (a Maildir: its fsyncs wait for the same journal commit, on the process's 64 file threads):
   * each worker's window is this shared among them, and never less than `putWindow`.
   */
  putsInFlight?: number;
  /**
   * A scan reads each message it does not know (a Maildir opens each file for its header): what a
   * scan read is worth recording, so the next scan need not read it again. Without it, only the
   * messages read whole (content digests) are.
   */
  scanReadsEach?: boolean;
}

/** Where the engine would have a folder land, beyond its segments and role (a sink may ignore it). */
export interface DestHint {
  /**
   * The nearest source folder above this one that has a role, and how many leading segments are
   * its: where the sink puts that role elsewhere (Sent → Sent Items), this folder follows it
   * (Sent/2020 → Sent Items/2020), unless a folder of its own name is already there.
   */
  under?: { specialUse: string; depth: number };
  /** The sink's name of the folder earlier runs copied this one into (the checkpoint): kept while it exists. */
  prefer?: string;
  /** The source folder's name ('/' between levels), to name it in errors the user acts on (--map). */
  source?: string;
  /**
   * Where each folder of the run lands by name (destination segments): a sink that places a folder
   * by its role (a Maildir's Sent) takes none of these, which another source folder is copied into.
   */
  planned?: string[][];
}

/** What Sink.look finds in a destination folder. */
export type FolderLook = 'empty' | 'replaced' | 'holds' | 'missing';

/** Bytes free in a destination: under its account's quota (with what is used of what limit), or on its disk. */
export type Room = { what: 'quota'; free: number; used: number; limit: number } | { what: 'disk'; free: number };

export interface Sink {
  readonly caps: SinkCaps;
  /** Make sure the folder exists; returns the sink's name for it. */
  ensureMailbox(segments: string[], specialUse?: string, hint?: DestHint): Promise<string>;
  /**
   * The sink's name for a folder that exists, creating nothing; null when it does not exist.
   * Needed by verify and --dry-run (a sink without it cannot be verified yet).
   */
  existingMailbox?(segments: string[], specialUse?: string, hint?: DestHint): Promise<string | null>;
  /**
   * The sink's name a folder that does not exist yet would be made under by ensureMailbox, creating
   * nothing (a subfolder of Sent under the account's Sent Items): what a dry run and verify name.
   */
  plannedMailbox?(segments: string[], specialUse?: string, hint?: DestHint): Promise<string>;
  /**
   * What an existing folder holds, cheaply (IMAP STATUS, a Maildir's first directory entries):
   * no message at all (`empty`), or messages of another folder than the one `earlier` keys (dest
   * keys an earlier run stored there) were made in (`replaced`: an IMAP folder deleted and made
   * again has another UIDVALIDITY), `missing` when it turns out not to exist after all (listed by
   * a server that cannot select it), else `holds`. With existingMailbox, how a run finds a
   * destination wiped since the last.
   */
  look?(mailbox: string, earlier?: Iterable<string>): Promise<FolderLook>;
  /**
   * Room left for messages, when the destination says: an IMAP account's storage quota (QUOTA,
   * RFC 2087/9208), a Maildir's free space on its file system. For the dry run to say when a
   * plan will not fit; null when not known.
   */
  room?(): Promise<Room | null>;
  /** A folder's name as a person reads it: levels joined with '/', decoded (`Archive/2024`, `INBOX`). */
  displayName?(mailbox: string): string;
  /** Scan what a folder holds. `known` keys may be skipped (their identity is already known). */
  scan(mailbox: string, known?: ReadonlySet<string>): AsyncIterable<StoredMessage>;
  writer(): Promise<SinkWriter>;
  close(): Promise<void>;
}
