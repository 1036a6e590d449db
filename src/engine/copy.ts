/**
 * The copy pipeline. A producer lists each planned folder (refs only, never bodies), drops what
 * the checkpoint and the destination already hold, and queues batches of refs; p-queue workers,
 * one source connection each, fetch a batch's bodies and store them with a bounded number of
 * puts in flight. Durable order per batch: intents → puts (each file fsynced) → sink flush
 * (directory fsync / server ack) → "copied" records → journal fsync.
 */
import PQueue from 'p-queue';
import { MailferryError, toMailferryError, UNREADABLE_IN_A_ROW, unreadableMessage } from '../errors.js';
import { doneAsListed, uidsGivenAgain, type Journal, type JournalRecord } from '../checkpoint/journal.js';
import type { MessageRef, Sink, SinkWriter, Source, SourceReader } from '../drivers/types.js';
import { LOUD, type Logger } from '../log.js';
import { crlfToLf, lfToCrlf } from '../mail/line-endings.js';
import { LOST_AGAIN, LOST_WORDS, type CopyEvent, type CopyResult, type Failure, type FolderResult, type Outcome } from './events.js';
import { identityBeforeBody, identityOfBody, midIdentity, type DedupeMode, type Identity } from './identity.js';
import { messageIdOf } from '../mail/headers.js';
import { destHint, displayName, type FolderPlan } from './plan.js';
import { scanDestination } from './dest-scan.js';
import { filterKey, filterReason, hasDateFilter, type FilterSpec } from './filters.js';
import { Pool } from './pool.js';
import { backoffDelay, sleep } from '../retry.js';
import { crlfToLfStream, lfToCrlfStream } from '../mail/line-endings-stream.js';
import { Throttle } from './throttle.js';
import { once } from './once.js';
import { ByteBudget } from './byte-budget.js';
import { describeLost, lostDestinations } from './dest-lost.js';
import { counted } from '../strings.js';

export interface CopyParams {
  source: Source;
  sink: Sink;
  plans: FolderPlan[];
  journal: Journal;
  concurrency: number;
  dedupe: DedupeMode;
  /** Attempts after the first for a batch hit by a transient failure. */
  retries: number;
  log: Logger;
  signal?: AbortSignal;
  onEvent?: (e: CopyEvent) => void;
  onOutcome?: (o: Outcome) => void;
  batchMessages?: number;
  batchBytes?: number;
  /** Puts in flight per worker (overlaps fsyncs). */
  putWindow?: number;
  /** Base delay of the retry back-off (ms). */
  backoffMs?: number;
  /** Largest message copied (--max-message-size); larger ones fail as MESSAGE_TOO_LARGE, unfetched. */
  maxMessageBytes?: number;
  /** Messages above this size are streamed source → sink when both can (default 8 MB). */
  streamAboveBytes?: number;
  /** Bytes of messages the workers hold whole at once (default 16 MB; see `held` in copy()). */
  wholeBytes?: number;
  /** Throttle log and worker back-off, shared with the drivers' control connections. */
  throttle?: Throttle;
  /** --since / --before / --max-size: filtered messages are neither copied nor journaled. */
  filter?: FilterSpec;
}

interface FolderRun {
  plan: FolderPlan;
  result: FolderResult;
  tasks: Promise<void>[];
  /** The sink's own name of the destination folder (result.dest is the one shown). */
  dest?: string;
  validity?: string;
  next?: number;
  /** The folder is gone (renamed or deleted since the copy began): the rest of it is not asked for. */
  gone?: MailferryError;
  /** Listed to its end and every batch queued before the run was stopped (if it was). */
  listedAll?: boolean;
}

/**
 * A message of this run on its way to store an identity (its claimant, by folder and key), and the
 * later messages with that identity waiting for its outcome: stored, they are its duplicates;
 * failed, the first of them is stored instead. A duplicate is never recorded as done before the
 * message it duplicates is durably in the destination (its batch flushed).
 */
interface Claim {
  run: FolderRun;
  key: string;
  /** Made when the first one waits (most claims never have one). */
  waiting?: { run: FolderRun; ref: MessageRef }[];
  /**
   * The claimant failed after a put that may have landed (its connection lost, not asked since):
   * whether the identity is in the destination is not known, so no message of it is stored by
   * this run; each fails with this, and the next run asks the destination first.
   */
  doubt?: MailferryError;
}

/**
 * Identities known to be in (or on their way to) a destination folder: `false` already there,
 * `'copied before'` stored there by an earlier run and no longer there (deleted by hand since:
 * not copied again), `true` stored by this run, a Claim while a message of this run is storing
 * it. One map, not a set of present and a set of claimed: it holds an entry per message of the
 * folder for the run.
 */
type DestIndex = Map<Identity, boolean | 'copied before' | Claim>;

/** The message `run`, `ref` is the claim's claimant. */
const claimedBy = (c: Claim, run: FolderRun, ref: MessageRef): boolean => c.run === run && c.key === ref.key;

export { backoffDelay };

/** One line per folder for the log (a cron log says what each night's run did). */
function folderLine(r: FolderResult): string {
  const to = `${r.folder} → ${r.dest ?? '-'}`;
  if (r.error) return `${to}: failed: ${r.error}`;
  if (r.unchanged) return `${to}: unchanged`;
  return `${to}: listed ${r.listed}, copied ${r.copied}, already there ${r.already}, skipped ${r.skipped}, failed ${r.failed}${r.filtered ? `, filtered ${r.filtered}` : ''}${r.destLost ? ` (the destination folder ${LOST_WORDS[r.destLost]}: ${LOST_AGAIN[r.destLost]})` : ''}`;
}

export async function copy(p: CopyParams): Promise<CopyResult> {
  const emit = p.onEvent ?? (() => {});
  const outcome = p.onOutcome ?? (() => {});
  const batchMessages = p.batchMessages ?? 250;
  // 4 MB, not 16: a batch is held whole until its puts are done (`held` below), so large
  // attachments go a few MB at a time; a batch of small messages (250 of ~5 KB) is far under it.
  const batchBytes = p.batchBytes ?? 4 * 1024 * 1024;
  const backoffMs = p.backoffMs ?? 500;
  const concurrency = p.source.caps.parallelReaders ? p.concurrency : 1;
  // A sink that gains from many puts in flight in all (a Maildir) has them from one worker as from
  // four: POP3 (one session, one reader fetching at a time) had 16 where IMAP had 64, and waited on
  // its fsyncs a quarter at a time.
  const fetchingAtOnce = p.source.caps.oneSession ? 1 : concurrency;
  const putWindow = p.putWindow ?? Math.max(p.sink.caps.putWindow ?? 16, Math.ceil((p.sink.caps.putsInFlight ?? 0) / fetchingAtOnce));
  const j = p.journal;
  const failures: Failure[] = [];
  const runs: FolderRun[] = [];
  const indexes = new Map<string, Promise<DestIndex>>();
  let fatal: MailferryError | undefined;
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  p.signal?.addEventListener('abort', onAbort, { once: true });
  // Asked to stop while the job was still logging in and listing: 'abort' has already fired.
  if (p.signal?.aborted) stop.abort();
  const stopped = () => stop.signal.aborted;

  const readers = new Pool<SourceReader>(() => p.source.reader(), (r) => r.close());
  const writers = new Pool<SinkWriter>(() => p.sink.writer(), (w) => w.close());
  const queue = new PQueue({ concurrency });
  const throttle = p.throttle ?? new Throttle(concurrency);
  throttle.onWorkers = (n, why) => {
    queue.concurrency = Math.max(1, Math.min(n, concurrency));
    if (why === 'throttled') p.log.warn({ msg: `server is throttling: backing off to ${queue.concurrency} worker${queue.concurrency === 1 ? '' : 's'}` });
    else p.log.info({ msg: `no throttling for a while: ${queue.concurrency} workers` });
  };
  // Throttled already while the folders were listed: start backed off.
  queue.concurrency = Math.max(1, Math.min(throttle.current, concurrency));
  const maxMessageBytes = Math.min(p.maxMessageBytes ?? Infinity, p.sink.caps.maxMessageBytes ?? Infinity);
  /** No stored message larger than this can be one this run copies (dest-scan.ts). */
  const scanMax = Number.isFinite(maxMessageBytes) ? maxMessageBytes : undefined;
  const streamAbove = p.streamAboveBytes ?? 8 * 1024 * 1024;
  /**
   * Bytes of messages held whole, across the workers: a batch takes its messages' bytes before
   * its FETCH and gives them back once its puts are done; one larger than the budget (a large
   * message a sink cannot take as a stream) waits for the others and goes alone. Bodies are most
   * of a copy's memory, each held two or three times on its way (as read, whole, in the sink's
   * hands), and four workers copying 6 MB attachments in batches of 16 MB held 180 MB.
   */
  const held = new ByteBudget(p.wholeBytes ?? 16 * 1024 * 1024);
  /** A message whose date is known only from its body is read whole when a filter needs the date. */
  const datesFiltered = hasDateFilter(p.filter);
  const fk = filterKey(p.filter);
  const tooLarge = (ref: MessageRef): MailferryError => {
    const byServer = p.sink.caps.maxMessageBytes !== undefined && p.sink.caps.maxMessageBytes === maxMessageBytes && (p.maxMessageBytes ?? Infinity) > maxMessageBytes;
    return new MailferryError('MESSAGE_TOO_LARGE', `message too large: ${ref.size} bytes, the limit is ${maxMessageBytes} (${byServer ? "the destination's APPENDLIMIT" : '--max-message-size'}); not copied`, { scope: 'message', hint: byServer ? undefined : 'raise --max-message-size to copy it' });
  };

  const toSinkStream = (body: AsyncIterable<Buffer>): AsyncIterable<Buffer> => {
    if (p.source.caps.lineEndings === 'crlf' && p.sink.caps.lineEndings === 'lf') return crlfToLfStream(body);
    if (p.source.caps.lineEndings === 'lf' && p.sink.caps.lineEndings === 'crlf') return lfToCrlfStream(body);
    return body;
  };

  const toSink = (body: Buffer): Buffer => {
    if (p.source.caps.lineEndings === 'crlf' && p.sink.caps.lineEndings === 'lf') return crlfToLf(body);
    if (p.source.caps.lineEndings === 'lf' && p.sink.caps.lineEndings === 'crlf') return lfToCrlf(body);
    return body;
  };

  const fail = (run: FolderRun, ref: MessageRef, err: MailferryError) => {
    run.result.failed++;
    failures.push({ folder: run.plan.name, key: ref.key, messageId: ref.messageId, code: err.code, error: err.message });
    outcome({ outcome: 'failed', folder: run.plan.name, key: ref.key, messageId: ref.messageId, error: err.message });
  };

  /** A source that may give a key to another message (POP3) has each done key's size journaled: checked at the next listing. */
  const sized = (ref: MessageRef): { z?: number } => (p.source.caps.keysReused ? { z: ref.size } : {});

  /** Journaled at once, or with `into` (a batch's records, written after its flush). */
  const skip = (run: FolderRun, ref: MessageRef, id: Identity | undefined, why: string, into?: JournalRecord[]) => {
    const record: JournalRecord = { t: 'k', s: run.plan.source.path, k: ref.key, id, why, ...sized(ref) };
    if (into) into.push(record);
    else j.append(record);
    run.result.skipped++;
    emit({ type: 'skipped', folder: run.plan.name });
    outcome({ outcome: 'skipped', folder: run.plan.name, key: ref.key, messageId: ref.messageId, identity: id, reason: why });
  };

  const setFatal = (err: MailferryError) => {
    if (!fatal) fatal = err;
    stop.abort();
  };

  async function loadIndex(dest: string): Promise<DestIndex> {
    const index: DestIndex = new Map();
    if (p.dedupe === 'none') return index;
    const known = j.state.stored.get(dest);
    for await (const m of scanDestination(p.sink, dest, p.dedupe, known, scanMax)) {
      if (!m.identity) continue;
      index.set(m.identity, false);
      // Read now, not known to the checkpoint (a rebuilt or foreign destination): recorded, so
      // the next scan of this folder does not read it again.
      if (m.messageId !== undefined && (p.sink.caps.scanReadsEach || m.identity.startsWith('sha256:'))) j.append({ t: 'd', d: dest, dk: m.key, id: m.identity, seen: true });
    }
    // Stored by an earlier run and gone since (deleted by hand from the backup): remembered as
    // copied, so not copied again, also when the source's folder was renumbered (UIDVALIDITY).
    // Not what a scan only read there (the user's own message, deleted since): never copied.
    for (const id of j.state.copiedBefore(dest)) if (!index.has(id)) index.set(id, 'copied before');
    return index;
  }

  function indexFor(dest: string): Promise<DestIndex> {
    let i = indexes.get(dest);
    if (!i) indexes.set(dest, (i = loadIndex(dest)));
    return i;
  }

  /**
   * Decide a message against the index: 'store' (it is now the identity's claimant; asked again
   * for the claimant, 'store' again), 'present', 'duplicate' (of a message stored by this run), or
   * 'waiting' (its claimant's outcome is not known yet: it waits in the claim, unrecorded).
   */
  function claim(index: DestIndex, id: Identity | undefined, run: FolderRun, ref: MessageRef): 'store' | 'present' | 'copied before' | 'duplicate' | 'waiting' | MailferryError {
    if (p.dedupe === 'none' || id === undefined) return 'store';
    const c = index.get(id);
    if (c === undefined) {
      index.set(id, { run, key: ref.key });
      return 'store';
    }
    if (c === 'copied before') return c;
    if (typeof c === 'boolean') return c ? 'duplicate' : 'present';
    if (c.doubt) return c.doubt;
    if (claimedBy(c, run, ref)) return 'store';
    (c.waiting ??= []).push({ run, ref });
    return 'waiting';
  }

  /** The claimant of `id` is durably in the destination: what waited for it are its duplicates (recorded with `into`). */
  function claimStored(index: DestIndex, id: Identity, into?: JournalRecord[]): void {
    const c = index.get(id);
    if (c === undefined || typeof c !== 'object') return;
    index.set(id, true);
    for (const w of c.waiting ?? []) skip(w.run, w.ref, id, 'duplicate', into);
  }

  /**
   * The claimant of `id` (`run`, `ref`) will not store it (failed, gone from the source): the
   * first message waiting for it becomes the claimant, in a batch of its own; with none, the
   * identity is free again.
   */
  function claimLost(index: DestIndex, id: Identity, run: FolderRun, ref: MessageRef, mayHaveLanded: boolean): void {
    const c = index.get(id);
    if (c === undefined || typeof c !== 'object' || !claimedBy(c, run, ref)) return;
    if (mayHaveLanded) {
      c.doubt = new MailferryError('MESSAGE_FAILED', `not copied: a message with the same ${id.startsWith('mid:') ? 'Message-ID' : 'content'} may have been stored just before a connection was lost; the next run looks in the destination first`, { scope: 'message' });
      for (const w of c.waiting?.splice(0) ?? []) fail(w.run, w.ref, c.doubt);
      return;
    }
    const next = c.waiting?.shift();
    if (!next) return void index.delete(id);
    c.run = next.run;
    c.key = next.ref.key;
    if (stopped() || next.run.dest === undefined) return;
    const dest = next.run.dest;
    next.run.tasks.push(queue.add(once(() => runBatch(next.run, dest, index, [next.ref]))) as Promise<void>);
  }

  /**
   * A folder that no longer exists (NO_SUCH_MAILBOX: renamed or deleted by another client since
   * the copy began) fails as a whole, said once: its batches stop, and what they
   * had not copied is left without an outcome, not journaled, so the next run copies the folder
   * under whatever name it has then. Failing each message instead asked the server once per
   * message (one at a time, as after a refused FETCH) and listed every one of them.
   */
  const folderGone = (run: FolderRun, e: MailferryError) => {
    if (run.gone) return;
    run.gone = e;
    run.result.error = e.message;
    p.log.error({ msg: `${run.plan.name}: ${e.oneLine()}; the folder was renamed or deleted during the copy: the rest of it is left for the next run` });
  };

  async function runBatch(run: FolderRun, dest: string, index: DestIndex, batch: MessageRef[]): Promise<void> {
    // Its folder was found gone while this batch waited in the queue.
    if (run.gone) return;
    const box = run.plan.source.path;
    const stored: JournalRecord[] = [];
    /**
     * Identities this batch's puts stored: their waiting duplicates are let go once the batch has
     * flushed (a Maildir's directory fsync), not when the put returns, so a duplicate is never
     * journaled as done before the message it duplicates is durable.
     */
    const landed: Identity[] = [];
    let writer: SinkWriter | undefined;
    let remaining = batch;
    /** Messages of this batch with an outcome (copied, skipped, failed): never sent again. */
    const settled = new Set<string>();
    /** Identities by content claimed in this batch, by key (the others follow from the Message-ID). */
    const contentIds = new Map<string, Identity>();
    /** A message of this batch will not be stored: should it be an identity's claimant, the claim passes on. */
    const lost = (ref: MessageRef) => {
      const id = contentIds.get(ref.key) ?? identityBeforeBody(ref.messageId, p.dedupe);
      if (id !== undefined && id !== null) claimLost(index, id, run, ref, uncertain.has(ref.key));
    };
    const failed = (ref: MessageRef, err: MailferryError) => {
      fail(run, ref, err);
      lost(ref);
    };
    /**
     * Gone from the source since it was listed (expunged by another client): skipped, recorded as
     * done, unless the source may find it again (caps.keysReturn: a Maildir file renamed while it
     * was looked for): then its record goes to a list no one journals.
     */
    const vanished = (ref: MessageRef) => {
      settled.add(ref.key);
      skip(run, ref, undefined, 'vanished', p.source.caps.keysReturn ? [] : undefined);
      lost(ref);
    };
    for (const r of batch) j.append({ t: 'i', s: box, k: r.key, id: identityBeforeBody(r.messageId, p.dedupe) ?? undefined });

    /**
     * One put with its bookkeeping: uncertain while in flight; on success recorded (journal after
     * the batch's flush), counted and reported; a message-scoped refusal fails the message alone;
     * a lost connection leaves it uncertain (the put may have stored it) and is rethrown.
     */
    const putTracked = (ref: MessageRef, id: Identity | undefined, put: () => Promise<{ dk: string; bytes: number }>): Promise<void> => {
      uncertain.set(ref.key, { ref, id });
      let putting: Promise<{ dk: string; bytes: number }>;
      try {
        putting = put();
      } catch (err) {
        putting = Promise.reject(err);
      }
      return settlePut(ref, id, putting);
    };
    /** putTracked's wait: it holds the put's promise, not the message (see storeOne). */
    const settlePut = async (ref: MessageRef, id: Identity | undefined, putting: Promise<{ dk: string; bytes: number }>) => {
      try {
        const { dk, bytes } = await putting;
        uncertain.delete(ref.key);
        settled.add(ref.key);
        stored.push({ t: 'c', s: box, k: ref.key, id, d: dest, dk, ...sized(ref) });
        if (id !== undefined) landed.push(id);
        run.result.copied++;
        run.result.bytes += bytes;
        emit({ type: 'message', folder: run.plan.name, bytes });
        outcome({ outcome: 'copied', folder: run.plan.name, key: ref.key, messageId: ref.messageId, identity: id, dest: p.sink.displayName?.(dest) ?? dest, ...(dk ? { destKey: dk } : {}) });
      } catch (err) {
        const e = toMailferryError(err);
        if (e.scope !== 'message' && e.retryable) {
          // Refused (throttled) or never sent: not stored, so nothing to ask the destination first.
          if (e.refused || e.unsent) uncertain.delete(ref.key);
          throw e;
        }
        uncertain.delete(ref.key);
        if (e.scope !== 'message') throw e;
        // A streamed message the source found deleted before it sent a byte of it.
        if (e.gone) return vanished(ref);
        settled.add(ref.key);
        failed(ref, e);
      }
    };

    /** The put's key with its size. Not a closure of storeOne's: one would hold the body until the put is done. */
    const withBytes = (putting: Promise<string>, bytes: number) => putting.then((dk) => ({ dk, bytes }));
    /**
     * The put is returned, not awaited: the message's bytes are let go of as soon as the sink has
     * taken them (a Maildir's file thread copies them into its ring), not held until the put is
     * durable. Held across that wait (an fsync), a batch's buffers outlived two young-generation
     * collections and were freed only by a full one, so a copy's garbage outside the heap grew in
     * bursts of 10–20 MB until then (docs/ARCHITECTURE.md, "Speed").
     */
    const storeOne = async (ref: MessageRef, raw: Buffer, w: SinkWriter): Promise<void> => {
      // A server that understated the size in the listing: the limit holds for what it sent.
      if (raw.length > maxMessageBytes) return (settled.add(ref.key), failed(ref, tooLarge({ ...ref, size: raw.length })));
      const body = toSink(raw);
      // Its header unread by the listing (a POP3 server without TOP): its Message-ID is in the
      // body, and so is the date --since/--before filter on (the source dated the ref from it).
      if (ref.headerUnread) {
        ref.messageId = messageIdOf(body);
        const filtered = filterReason(p.filter, ref, true);
        if (filtered) {
          settled.add(ref.key);
          run.result.filtered = (run.result.filtered ?? 0) + 1;
          outcome({ outcome: 'skipped', folder: run.plan.name, key: ref.key, messageId: ref.messageId, reason: filtered });
          return;
        }
      }
      const before = ref.headerUnread ? null : identityBeforeBody(ref.messageId, p.dedupe);
      let id = before ?? undefined;
      if (id === undefined && p.dedupe !== 'none') {
        id = identityOfBody(ref.messageId, body, p.dedupe);
        contentIds.set(ref.key, id);
        const verdict = claim(index, id, run, ref);
        if (verdict instanceof MailferryError) return (settled.add(ref.key), failed(ref, verdict));
        // Waiting: its outcome comes with its claimant's (see Claim).
        if (verdict === 'waiting') return void settled.add(ref.key);
        if (verdict !== 'store') return (settled.add(ref.key), skip(run, ref, id, verdict));
      } else if (id === undefined && ref.messageId) {
        id = midIdentity(ref.messageId);
      }
      return putTracked(ref, id, () => withBytes(w.put(dest, body, { flags: ref.flags, internalDate: ref.internalDate }), body.length));
    };

    /** A large message, streamed source → sink without being held whole. */
    const streamOne = async (ref: MessageRef, r: SourceReader, w: SinkWriter): Promise<boolean> => {
      const chunks = await r.stream!(box, ref);
      if (!chunks) return false;
      const id = identityBeforeBody(ref.messageId, p.dedupe) ?? (ref.messageId ? midIdentity(ref.messageId) : undefined);
      await putTracked(ref, id, async () => {
        const { key: dk, bytes } = await w.putStream!(dest, toSinkStream(chunks), { flags: ref.flags, internalDate: ref.internalDate });
        return { dk, bytes };
      });
      return true;
    };
    /** Streamed when large, when both ends can, and when the identity needs no digest of the body. */
    const streamable = (ref: MessageRef, w: SinkWriter) =>
      ref.size > streamAbove && !!w.putStream && !(ref.headerUnread && datesFiltered) && (p.dedupe === 'none' || identityBeforeBody(ref.messageId, p.dedupe) !== null);
    const streams = (ref: MessageRef, r: SourceReader, w: SinkWriter) => !!r.stream && streamable(ref, w);

    let attempt = 0;
    /** After the server refused a FETCH of several messages: one message per FETCH, to find the bad one. */
    let single = false;
    /**
     * After a FETCH broke off (the server dropped it on a connection that worked): the first
     * message it did not send, fetched alone before the rest (see `brokeOff` below).
     */
    let suspect: MessageRef | undefined;
    let suspectFailures = 0;
    /** Suspects that failed alone, one after another with nothing fetched between them. */
    let unreadableInARow = 0;
    /**
     * Messages whose put failed with the connection (not the message): the sink may have stored
     * them (at-least-once). Before they are sent again the destination is asked, by identity.
     */
    const uncertain = new Map<string, { ref: MessageRef; id?: Identity }>();
    const resolveUncertain = async () => {
      if (uncertain.size === 0) return;
      if (p.dedupe !== 'none') {
        const there = new Set<Identity>();
        for await (const m of scanDestination(p.sink, dest, p.dedupe, j.state.stored.get(dest), scanMax)) if (m.identity) there.add(m.identity);
        for (const { ref, id } of uncertain.values()) {
          if (id !== undefined && there.has(id)) {
            // It did land: recorded as present, not sent twice; what waited for it are its duplicates.
            skip(run, ref, id, 'present');
            claimStored(index, id, stored);
            settled.add(ref.key);
            remaining = remaining.filter((r) => r !== ref);
          }
          // Else it is sent again, still its identity's claimant (claim() says 'store' to it).
        }
      }
      uncertain.clear();
    };
    try {
      while (remaining.length > 0 && !stopped()) {
        let reader: SourceReader | undefined;
        /** The streamed message in progress (a message-scoped source error is its own). */
        let current: MessageRef | undefined;
        const seen = new Set<string>();
        const inflight = new Set<Promise<void>>();
        /**
         * The first put of this attempt that failed (with the connection, not the message). Kept
         * here, not found by awaiting `inflight`: a put that fails while the fetch goes on leaves
         * the set as it settles, so Promise.all over what is left would never see it.
         */
        let putFailed: { err: unknown } | undefined;
        let part: MessageRef[] = [];
        let whole: MessageRef[] = [];
        /** The source's FETCH is under way on a live connection (`ready`): a failure now is the FETCH's. */
        let fetching = false;
        /** Gives back the bytes this attempt holds whole (`held`). */
        let giveBack: (() => void) | undefined;
        const settledBefore = settled.size;
        try {
          await resolveUncertain();
          if (remaining.length === 0) break;
          part = suspect ? [suspect] : single ? remaining.slice(0, 1) : remaining;
          // Taken here, in the loop: a writer refused at login (a server's connection limit) is
          // waited out and asked for again like any failure of this batch, not the end of the run.
          writer ??= await writers.acquire();
          const w = writer;
          // Its turn before its reader is taken: a connection is not left idle while it waits (its
          // idle timer would take the server for gone). Every source's reader streams.
          giveBack = await held.take(part.reduce((n, ref) => n + (streamable(ref, w) ? 0 : ref.size), 0));
          reader = await readers.acquire();
          await reader.ready?.(box);
          const r = reader;
          whole = part.filter((ref) => !streams(ref, r, w));
          fetching = true;
          for await (const msg of reader.fetch(box, whole)) {
            seen.add(msg.ref.key);
            const pr: Promise<void> = storeOne(msg.ref, msg.body, w).finally(() => inflight.delete(pr));
            pr.catch((err) => void (putFailed ??= { err })); // rethrown below; never an unhandled rejection
            inflight.add(pr);
            if (inflight.size >= putWindow) await Promise.race(inflight).catch(() => {});
            if (putFailed) throw putFailed.err;
            if (stopped()) break;
          }
          fetching = false;
          await Promise.allSettled(inflight);
          giveBack();
          giveBack = undefined;
          if (putFailed) throw putFailed.err;
          for (const ref of part) {
            if (stopped() || seen.has(ref.key) || !streams(ref, r, w)) continue;
            current = ref;
            if (await streamOne(ref, r, w)) seen.add(ref.key);
            current = undefined;
          }
          readers.release(reader);
          reader = undefined;
          if (!stopped()) for (const r of part) if (!seen.has(r.key)) vanished(r);
          remaining = suspect ? remaining.filter((x) => x !== suspect) : single ? remaining.slice(1) : [];
          suspect = undefined;
          unreadableInARow = 0;
          attempt = 0;
          throttle.ok();
        } catch (err) {
          await Promise.allSettled(inflight);
          giveBack?.();
          giveBack = undefined;
          if (reader) await readers.destroy(reader);
          const e = toMailferryError(err);
          if (e.code === 'THROTTLED' && writer && err === putFailed?.err) {
            // Its writer could not log in (the server's connection limit): let it go, so the
            // retry takes a writer another batch left logged in, not a login of its own again.
            const w = writer;
            writer = undefined;
            await w.flush().catch(() => {});
            await writers.destroy(w);
          }
          // Done means settled (copied, skipped or failed), not merely fetched: a put that failed
          // is sent again (after the destination is asked, when it may have landed).
          const progressed = settled.size > settledBefore;
          remaining = remaining.filter((r) => !settled.has(r.key));
          // Progress since the last failure (a link that drops every few MB): the retry budget
          // is for failures in a row, not for a long batch on a bad line.
          if (progressed) (attempt = 0), (unreadableInARow = 0);
          // The destination takes nothing more (a full disk, an account over quota: scope 'store'),
          // or never will this run: stop at once. What is in flight has settled above; what was
          // stored is journaled by `finally`, the rest is left for the rerun. Going on one message
          // at a time would fetch and send every message left, each refused.
          if (e.code === 'DEST_IO' || e.scope === 'store' || e.code === 'AUTH_FAILED' || e.code === 'TLS_FAILED' || e.code === 'INTERNAL') {
            setFatal(e);
            break;
          }
          if (e.code === 'NO_SUCH_MAILBOX') {
            folderGone(run, e);
            // Not stored by this batch: an identity one of them claimed passes to a message waiting for it.
            for (const r of remaining) lost(r);
            break;
          }
          if (e.scope === 'message' && remaining.length > 0) {
            // The source refused one message (a literal beyond the size limit, say): the one it
            // names, else the one being streamed, else the first not yet seen (FETCH answers come
            // in UID order).
            const culprit = remaining.find((r) => r.key === e.messageKey) ?? current ?? remaining.find((r) => whole.includes(r)) ?? remaining[0];
            settled.add(culprit.key);
            failed(culprit, e);
            remaining = remaining.filter((r) => r !== culprit);
            if (culprit === suspect) suspect = undefined;
            continue;
          }
          // The FETCH broke off on a connection that worked (Dovecot drops the connection with
          // "Internal error" at a message file it cannot read): the first message it did not send
          // is fetched alone, at once. Should it fail alone twice, the server cannot send it: it
          // fails, and the rest of the batch is copied (the next run tries it again). Ten such in
          // a row, nothing fetched between them, and the server is taken to be failing as a whole.
          // (--retries 0: nothing is fetched twice.)
          // Not when the FETCH was never sent: a pooled connection that had closed meanwhile.
          const brokeOff = p.retries > 0 && fetching && !e.unsent && err !== putFailed?.err && (e.code === 'NETWORK' || (e.code === 'PROTOCOL' && e.retryable));
          if (brokeOff && !suspect && !single) {
            suspect = remaining.find((x) => whole.includes(x) && !seen.has(x.key));
            suspectFailures = 0;
            if (suspect) {
              p.log.warn({ msg: `${run.plan.name}: ${e.message}; fetching message ${suspect.key} alone` });
              continue;
            }
          } else if (brokeOff && suspect && ++suspectFailures > Math.min(1, p.retries)) {
            const why = unreadableMessage(`the server could not send message ${suspect.key}: ${e.message}`);
            p.log.warn({ msg: `${run.plan.name}: ${why.message}` });
            settled.add(suspect.key);
            failed(suspect, why);
            remaining = remaining.filter((x) => x !== suspect);
            suspect = undefined;
            attempt = 0;
            if (++unreadableInARow < UNREADABLE_IN_A_ROW) continue;
            for (const x of remaining) (settled.add(x.key), failed(x, e));
            break;
          }
          if (!e.retryable && e.scope !== 'run' && !single && remaining.length > 1) {
            // The server refused the FETCH as a whole ("NO Invalid data in MIME part"): go on one
            // message at a time, so only the message it cannot serve fails.
            p.log.warn({ msg: `${run.plan.name}: ${e.message}; fetching the rest of the batch one message at a time` });
            single = true;
            suspect = undefined;
            continue;
          }
          if (!e.retryable || attempt >= p.retries) {
            if (e.scope === 'run') setFatal(e);
            else if (single && !e.retryable) {
              settled.add(remaining[0].key);
              failed(remaining[0], e);
              remaining = remaining.slice(1);
              continue;
            } else for (const r of remaining) (settled.add(r.key), failed(r, e));
            break;
          }
          attempt++;
          const delayMs = backoffDelay(attempt, backoffMs, e.retryAfterMs);
          // A throttle the driver already reported as it happened (cause ETHROTTLE) is not counted twice.
          if (e.code === 'THROTTLED' && (e.cause as { code?: string } | undefined)?.code !== 'ETHROTTLE') {
            const ev = throttle.note(run.plan.name, e.message, delayMs);
            emit({ type: 'throttled', folder: run.plan.name, at: ev.at, delayMs, message: e.message });
          }
          emit({ type: 'retry', folder: run.plan.name, attempt, delayMs, error: e.message });
          p.log.warn({ msg: `${run.plan.name}: ${e.message}; retry ${attempt}/${p.retries} in ${Math.round(delayMs)} ms` });
          await sleep(delayMs, stop.signal);
        }
      }
    } catch (err) {
      // Nothing above lets an error out of the loop; should one escape all the same, the run stops
      // and says so rather than leaving a rejected task for allSettled to swallow.
      setFatal(toMailferryError(err));
    } finally {
      // Every message of the batch leaves with an outcome. One without would be neither copied
      // nor failed, and the folder's `end` record would then pass over it for good: it fails
      // instead (not journaled as done), so the run is partial and the next run copies it.
      // (A folder gone has failed as a whole, and gets no `end` record.)
      if (!stopped() && !run.gone) {
        for (const r of batch) {
          if (settled.has(r.key)) continue;
          const e = new MailferryError('INTERNAL', 'the batch ended without an outcome for this message; the next run copies it', { scope: 'message' });
          p.log.error({ msg: `${run.plan.name}: message ${r.key}: ${e.message}` });
          failed(r, e);
        }
      }
      if (writer) {
        try {
          await writer.flush();
          writers.release(writer);
          for (const id of landed) claimStored(index, id, stored);
          for (const r of stored) j.append(r);
          await j.sync();
        } catch (err) {
          await writers.destroy(writer);
          setFatal(toMailferryError(err));
        }
      }
    }
  }

  /**
   * Nothing in the destination to skip a message of this folder by, nor a date filter: the source
   * may leave headers unread until the bodies come (ListOptions.headersAbove), which a source with
   * a header pass (POP3: a TOP per message, all before the first RETR) is spared. Only a first
   * copy (nothing done) into a destination folder that is missing or empty, and that no other
   * folder of this run copies into. Each message is still deduplicated, from its body.
   */
  async function bodiesFirst(run: FolderRun, done: number): Promise<boolean> {
    if (!p.source.caps.headerPass || datesFiltered || done > 0 || !p.sink.existingMailbox || !p.sink.look) return false;
    try {
      const d = await p.sink.existingMailbox(run.plan.destSegments, run.plan.role, destHint(run.plan, j.state));
      if (d === null) return true;
      return !indexes.has(d) && (await p.sink.look(d)) === 'empty';
    } catch {
      // The copy meets the same failure when it makes the folder, and reports it.
      return false;
    }
  }

  /**
   * A folder stays where earlier runs put it while that exists, also when --map now names another
   * place: said, so a changed map is not taken as followed. Where it is was found by the check
   * before the copy (lostDestinations), which asked the destination with the same hint.
   */
  function sayMapNotFollowed(run: FolderRun): void {
    const d = foundDest.get(run.plan);
    if (!run.plan.mapped || d === undefined || d !== destHint(run.plan, j.state).prefer) return;
    const [kept, named] = [p.sink.displayName?.(d) ?? d, run.plan.destSegments.join('/')];
    if (kept !== named) p.log.warn({ msg: `${run.plan.name}: stays in ${kept}, where earlier runs copied it, not in ${named} as --map says (--restart copies it there)` });
  }

  /**
   * Open the workers' connections in the background, as many as there will be batches of a folder
   * of `messages` at once (none for a folder with nothing to copy): readers and writers.
   */
  function warm(messages: number): void {
    const workers = Math.min(queue.concurrency, Math.ceil(messages / batchMessages));
    readers.warm(workers);
    writers.warm(workers);
  }

  async function produce(run: FolderRun): Promise<void> {
    const box = run.plan.source.path;
    sayMapNotFollowed(run);
    const st = await p.source.status(box);
    run.validity = st.validity;
    run.next = st.next;
    const fstate = j.state.folder(box);
    if (fstate.validity !== st.validity) {
      if (fstate.validity !== undefined) p.log.warn({ msg: `${run.plan.name}: UIDVALIDITY changed; re-scanning the folder by identity` });
      j.append({ t: 'box', s: box, uv: st.validity });
    } else {
      const was = uidsGivenAgain(fstate, st.validity, st.next);
      if (was !== undefined) {
        p.log.warn({ msg: `${run.plan.name}: UIDNEXT went back from ${was} to ${st.next} under the same UIDVALIDITY: the server gives out UIDs again (restored from a backup?); re-scanning the folder by identity` });
        j.append({ t: 'box', s: box, uv: st.validity, again: true });
      }
    }
    /**
     * The destination folder, made if missing, and remembered as where this folder went: also
     * when none of its messages is stored by this run (all found present after --restart), so a
     * later `lost` record knows which folder's identities to forget. `nothing`: none of its
     * messages is to be stored, so a folder that exists is taken as it is (an IMAP destination
     * readies a folder for APPENDs with a SELECT: a rerun of N folders would be N of them).
     */
    const place = async (nothing = false): Promise<string> => {
      const hint = destHint(run.plan, j.state);
      const d = (nothing && (await p.sink.existingMailbox?.(run.plan.destSegments, run.plan.role, hint))) || (await p.sink.ensureMailbox(run.plan.destSegments, run.plan.role, hint));
      // Found missing before this run stored anything: nothing an earlier run stored there is in
      // it now (a checkpoint written before `to` was recorded had no name for it in its `lost`).
      if (run.result.destLost === 'missing' && j.state.stored.has(d)) j.append({ t: 'lost', s: box, d });
      if (fstate.dest !== d) j.append({ t: 'to', s: box, d });
      return d;
    };
    let afterSeq = 0;
    // Complete under the same filters: unchanged when its UIDNEXT is, else only what is new is listed.
    if (fstate.end && fstate.end.uv === st.validity && (fstate.end.fk ?? '') === fk && st.next !== undefined) {
      if (st.next === fstate.end.next) {
        run.result.unchanged = true;
        // Named as a copy names it: the folder the destination check found (a folder with an
        // end record has done messages, so it was looked at).
        const there = foundDest.get(run.plan);
        if (there) run.result.dest = p.sink.displayName?.(there) ?? there;
        return;
      }
      afterSeq = fstate.end.next - 1;
    }
    // Messages to copy by the count STATUS gives (without filters, which may leave out any of
    // them): the workers' connections log in now, while the folder is opened and listed, not once
    // its first listing chunk is in, when their logins compete with the listing for the server (a
    // first IMAP→IMAP copy on loopback: its first APPEND ~0.2 s sooner). Topped up below.
    if (!fk && st.messages > fstate.done.size) warm(st.messages - fstate.done.size);
    // Refs are taken as the source lists them and queued in batches: only a source's chunk and
    // the queued batches are held, whatever the size of the folder.
    let count: number | undefined;
    let todo = 0;
    let announced: number | undefined;
    let dest: string | undefined;
    let index: DestIndex | undefined;
    let batch: MessageRef[] = [];
    let bytes = 0;
    const enqueue = async () => {
      const b = batch;
      batch = [];
      bytes = 0;
      await queue.onSizeLessThan(concurrency);
      if (stopped()) return;
      run.tasks.push(queue.add(once(() => runBatch(run, dest!, index!, b))) as Promise<void>);
    };
    // A first copy into an empty destination: no header is needed before its message's body.
    const headersAbove = (await bodiesFirst(run, fstate.done.size)) ? streamAbove : undefined;
    const listing = p.source.list(box, { afterSeq, known: fstate.done, onCount: (n) => (count = n), unreadable: true, signal: stop.signal, headersAbove });
    // A source that reuses keys (POP3): what it lists now, to forget done keys it no longer has.
    const listed = p.source.caps.keysReused && afterSeq === 0 ? new Set<string>() : undefined;
    /** Done keys listed for another message than the one copied under them (see below). */
    let reissued = 0;
    for await (const ref of listing) {
      if (stopped() || run.gone) return;
      run.result.listed++;
      listed?.add(ref.key);
      // Done first: a message already copied is in the destination whatever the filters say now,
      // and a source may list a done key without its size or date (ListOptions.known).
      if (fstate.done.has(ref.key)) {
        if (doneAsListed(fstate, ref, p.source.caps.keysReused)) {
          // A key done before sizes were journaled learns its size (once).
          if (p.source.caps.keysReused && !fstate.sizes?.has(ref.key)) j.append({ t: 'k', s: box, k: ref.key, why: 'done', z: ref.size });
          run.result.already++;
          continue;
        }
        // Listed with another size than the message copied under it: the key names another
        // message now (a POP3 server whose index was rebuilt numbers its UIDLs from 1 again, and
        // a message that arrived since gets the UIDL of one copied before). Forgotten, and the
        // message checked against the destination as any new one is.
        j.append({ t: 'f', s: box, k: ref.key });
        reissued++;
      }
      if (ref.unreadable) {
        // The server cannot read it: it fails, unfetched, and the rest of the folder is copied.
        // A failure keeps the folder's `end` record out, so the next run lists it again.
        p.log.warn({ msg: `${run.plan.name}: ${ref.unreadable.message}` });
        fail(run, ref, ref.unreadable);
        continue;
      }
      const filtered = filterReason(p.filter, ref);
      if (filtered) {
        run.result.filtered = (run.result.filtered ?? 0) + 1;
        outcome({ outcome: 'skipped', folder: run.plan.name, key: ref.key, messageId: ref.messageId, reason: filtered });
        continue;
      }
      todo++;
      if (index === undefined) {
        // What the source said is coming (else what STATUS says the folder holds, less what is
        // done); set right when the listing ends if filters or changes made it differ.
        announced = count ?? Math.max(1, st.messages - fstate.done.size);
        // The workers' connections log in while the destination folder is made and read (when
        // STATUS did not already say there is something to copy).
        warm(announced);
        dest = await place();
        run.dest = dest;
        run.result.dest = p.sink.displayName?.(dest) ?? dest;
        index = await indexFor(dest);
        emit({ type: 'folder-start', folder: run.plan.name, dest, messages: announced });
      }
      const id = identityBeforeBody(ref.messageId, p.dedupe);
      if (ref.size > maxMessageBytes && !(id !== null && index.has(id))) {
        // Never fetched: over --max-message-size or the destination's APPENDLIMIT.
        const e = tooLarge(ref);
        p.log.warn({ msg: `${run.plan.name}: message ${ref.key}${ref.messageId ? ` ${ref.messageId}` : ''}: ${e.message}` });
        fail(run, ref, e);
        continue;
      }
      if (id !== null) {
        const verdict = claim(index, id, run, ref);
        if (verdict instanceof MailferryError) {
          fail(run, ref, verdict);
          continue;
        }
        if (verdict === 'waiting') continue; // its outcome comes with its claimant's (see Claim)
        if (verdict !== 'store') {
          skip(run, ref, id, verdict);
          continue;
        }
      }
      batch.push(ref);
      bytes += ref.size;
      if (batch.length >= batchMessages || bytes >= batchBytes) await enqueue();
    }
    if (reissued > 0) {
      // Keys a source gives out again are POP3 UIDLs.
      const one = reissued === 1;
      p.log.warn({ msg: `${run.plan.name}: ${counted(reissued, 'UIDL')} an earlier run copied a message under now ${one ? 'names' : 'name'} a message of another size: the server gave ${one ? 'it' : 'them'} out again (its index rebuilt?); ${one ? 'that message is' : 'those messages are'} checked against the destination as new ones` });
    }
    if (listed && !stopped()) {
      // The whole listing came: a done key not in it names a message gone from the source.
      for (const k of [...fstate.done, ...fstate.pending]) if (!listed.has(k)) j.append({ t: 'f', s: box, k });
    }
    if (announced !== undefined && todo !== announced) emit({ type: 'folder-total', folder: run.plan.name, messages: todo });
    if (batch.length > 0) await enqueue();
    // Nothing to copy: the folder is still made, so the destination has the source's folders
    // (an empty Archive or Drafts too), and named as a copy names it.
    if (index === undefined && !stopped()) {
      dest = await place(true);
      run.result.dest = p.sink.displayName?.(dest) ?? dest;
    }
  }

  /** Destination folders found by the check before the copy (lostDestinations). */
  let foundDest = new Map<FolderPlan, string>();

  /**
   * Once a folder's batches are done: the source may let go of what it keeps to read the folder
   * (a message queued for it later, in place of a failed duplicate, is read all the same); and the
   * destination folder's index is dropped when no later folder can be copied into it (same name,
   * or a special-use role that may lead there), so memory holds the index of the folders in
   * progress, not of every folder copied so far. Should a later folder land there after all, its
   * index is read again from the destination.
   */
  const letGo = (run: FolderRun, later: FolderPlan[]) => {
    const dest = run.dest;
    const same = (q: FolderPlan) => q.destSegments.join('\0').toLowerCase() === run.plan.destSegments.join('\0').toLowerCase();
    const dropIndex = dest !== undefined && !later.some((q) => same(q) || q.role);
    if (!dropIndex && !p.source.release) return;
    void Promise.allSettled(run.tasks).then(() => {
      if (dropIndex) indexes.delete(dest);
      p.source.release?.(run.plan.source.path);
    });
  };

  try {
    // Durable before anything is stored: a crash after the first new copy must not leave a
    // destination that is no longer empty next to a checkpoint that still has the folder done.
    const { lost, found } = await lostDestinations(p.sink, p.plans, j.state, p.log);
    foundDest = found;
    const lostWhy = new Map(lost.map((l) => [l.plan, l.why]));
    for (const l of lost) {
      p.log.warn({ msg: describeLost(l), [LOUD]: true });
      j.append({ t: 'lost', s: l.plan.source.path, ...(l.dest !== undefined ? { d: l.dest } : {}) });
    }
    if (lost.length > 0) await j.sync();
    for (const [i, plan] of p.plans.entries()) {
      if (stopped()) break;
      const run: FolderRun = {
        plan,
        tasks: [],
        result: { folder: plan.name, dest: displayName(plan.destSegments), listed: 0, already: 0, copied: 0, skipped: 0, failed: 0, filtered: 0, bytes: 0, unchanged: false },
      };
      const why = lostWhy.get(plan);
      if (why) run.result.destLost = why;
      runs.push(run);
      try {
        await produce(run);
        if (!stopped() && !run.gone) run.listedAll = true;
        letGo(run, p.plans.slice(i + 1));
      } catch (err) {
        const e = toMailferryError(err);
        if (e.scope === 'run' || e.scope === 'store' || e.code === 'DEST_IO' || e.code === 'INTERNAL') {
          setFatal(e);
          break;
        }
        // The listing meets a folder its batches found gone: said once already.
        if (!run.gone) {
          run.result.error = e.message;
          p.log.error({ msg: `${plan.name}: ${e.oneLine()}` });
        }
      }
    }
    await queue.onIdle();
  } finally {
    p.signal?.removeEventListener('abort', onAbort);
    await Promise.allSettled(runs.flatMap((r) => r.tasks));
    for (const run of runs) {
      const r = run.result;
      // The folder's books balance: every message listed was already done, filtered, copied,
      // skipped or failed. If not, no `end` record (the next run lists the folder again) and the
      // run is partial.
      const accounted = r.already + (r.filtered ?? 0) + r.copied + r.skipped + r.failed;
      if (!stopped() && !r.error && accounted !== r.listed) {
        r.error = `${r.listed - accounted} of ${r.listed} listed messages were left without an outcome; the next run lists the folder again`;
        p.log.error({ msg: `${r.folder}: ${r.error}` });
      }
      // Every message listed done, or left out by the filters (which the record names: under
      // others the folder is listed again in full). Also in a run stopped later (--max-runtime, a
      // signal), for a folder listed whole before the stop whose every message has its outcome:
      // else each night of a first backup spread over several would list again all the nights
      // before it copied.
      const whole = !stopped() || (run.listedAll === true && accounted === r.listed);
      if (whole && !r.error && r.failed === 0 && !r.unchanged && run.validity !== undefined && run.next !== undefined) {
        j.append({ t: 'end', s: run.plan.source.path, uv: run.validity, next: run.next, ...(fk ? { fk } : {}) });
      }
      emit({ type: 'folder-done', result: r });
      p.log.info({ msg: folderLine(r), folder: r.folder });
    }
    await j.sync().catch((err) => setFatal(toMailferryError(err)));
    await readers.closeAll();
    await writers.closeAll();
  }
  if (fatal) throw fatal;
  const folders = runs.map((r) => r.result);
  const sum = (k: 'copied' | 'skipped' | 'failed' | 'bytes') => folders.reduce((a, f) => a + f[k], 0);
  return {
    copied: sum('copied'),
    skipped: sum('skipped'),
    failed: sum('failed'),
    bytes: sum('bytes'),
    folders,
    failures,
    interrupted: p.signal?.aborted ?? false,
    ...(throttle.summary() ? { throttled: throttle.summary() } : {}),
  };
}
