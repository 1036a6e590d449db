/**
 * A copy job from configuration to result: endpoints parsed, drivers opened, checkpoint locked
 * and replayed, folders planned, the pipeline run, everything closed again.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Journal } from '../checkpoint/journal.js';
import { acquireLock, type Lock } from '../checkpoint/lock.js';
import { checkpointPathOf, destinationLockPath, jobKey, makeStateDir } from '../checkpoint/path.js';
import { checkSinkKind, openSink, openSource } from '../drivers/registry.js';
import type { Sink, Source } from '../drivers/types.js';
import type { Logger } from '../log.js';
import { toMailferryError, type MailferryError } from '../errors.js';
import { copy } from './copy.js';
import { checkNotNested, describeEndpoint, destinationLockKey, parseEndpoint, realPathOf, selfPrefix } from './endpoint.js';
import type { CopyEvent, CopyResult, FolderResult, Outcome } from './events.js';
import type { DedupeMode } from './identity.js';
import { planJob } from './plan.js';
import { Throttle } from './throttle.js';
import { checkDeleteSource, deleteFromSource, type DeleteResult } from './delete-source.js';
import { hasFilter, type FilterSpec, type FolderMap } from './filters.js';
import { netFactory, type NetConfig } from './session.js';
import { counted } from '../strings.js';

export interface CopyJobConfig extends NetConfig {
  source: string;
  dest: string;
  folders: string[];
  exclude: string[];
  concurrency: number;
  checkpoint?: string;
  restart: boolean;
  dedupe: DedupeMode;
  retries: number;
  /** --map: source folder → destination folder. */
  map?: FolderMap[];
  /** --since / --before / --max-size. */
  filter?: FilterSpec;
  /** POP3: delete what is durably copied, after the copy (delete-source.ts). */
  deleteSource?: boolean;
  /** --max-message-size: larger messages are not copied and are reported as failed. */
  maxMessageBytes?: number;
}

export interface JobHooks {
  log: Logger;
  /** Asked to stop: the copy finishes what is in flight (before it starts, see `onCopying`). */
  signal?: AbortSignal;
  /**
   * Called when the setup (passwords, logins, listings, locks) is done and copying begins. Until
   * then nothing is in flight: a caller asked to stop may end the process at once.
   */
  onCopying?: () => void;
  /** Called once the run holds the checkpoint's and the destination's locks. */
  onLocked?: () => void;
  onEvent?: (e: CopyEvent) => void;
  onOutcome?: (o: Outcome) => void;
}

export interface CopyJobResult extends CopyResult {
  checkpoint: string;
  /** Messages deleted from the source (--delete-source). */
  deleted?: number;
  /**
   * --delete-source: messages left on the source though copied: not in the destination now, or
   * their deletion refused by the server (those also counted in `deleteRefused`).
   */
  keptOnSource?: number;
  /** --delete-source: messages whose deletion the server refused (exit 6; the next run tries again). */
  deleteRefused?: number;
  /**
   * --delete-source failed after the copy (a destination that could not be read, a connection
   * lost, a checkpoint that could not be written): `deleted` counts what was deleted before it;
   * the copy's counts stand, and the next run deletes what is copied.
   */
  deleteError?: MailferryError;
  /** The deletion failed while the server was deleting: what it deleted of that folder is not known. */
  deleteUncertain?: boolean;
}

export async function runCopyJob(cfg: CopyJobConfig, hooks: JobHooks): Promise<CopyJobResult> {
  const src = parseEndpoint(cfg.source, 'source', cfg.sourceTls);
  const dst = parseEndpoint(cfg.dest, 'dest', cfg.destTls);
  // One throttle log for the whole run: control connections and workers report into it.
  const throttle = new Throttle(cfg.concurrency);
  const onThrottle = (t: { ms: number; message: string; warned?: boolean }) => {
    const ev = throttle.note('server', t.message, t.ms);
    hooks.onEvent?.({ type: 'throttled', folder: '', at: ev.at, delayMs: t.ms, message: t.message });
    // One warning per wait: a driver that warns of it itself (with its retry count) is not echoed.
    if (!t.warned) hooks.log.warn({ msg: `throttled by the server, waiting ${(t.ms / 1000).toFixed(1)} s: ${t.message}` });
  };
  const net = await netFactory({ ...cfg, onThrottle }, hooks.log);

  checkSinkKind(dst);
  checkNotNested(src, dst);
  const self = await selfPrefix(src, dst);
  const srcDesc = describeEndpoint(src);
  const dstDesc = describeEndpoint(dst);
  const checkpoint = cfg.checkpoint ?? checkpointPathOf(srcDesc, dstDesc);
  makeStateDir(dirname(checkpoint), cfg.checkpoint === undefined ? 'the state directory' : 'the checkpoint directory');
  const warn = (m: string) => hooks.log.warn({ msg: m });
  const lock = acquireLock(checkpoint, warn);
  hooks.log.info({ msg: `copy ${srcDesc} → ${dstDesc}`, checkpoint });
  let destLock: Lock | undefined;
  let inDestLock: Lock | undefined;
  let source: Source | undefined;
  let sink: Sink | undefined;
  let journal: Journal | undefined;
  try {
    // One run at a time into a destination, whatever checkpoint it names.
    destLock = acquireLock(destinationLockPath(await destinationLockKey(dst)), warn, `is copying into ${dstDesc}`);
    hooks.onLocked?.();
    // The source, the plan and the checkpoint's checks first, then the destination, then the
    // checkpoint is written: a folder that does not exist, --delete-source with a source that
    // cannot delete or a checkpoint of another job fails before the destination is made, and a
    // destination that cannot be written fails before a checkpoint is created.
    // A first copy (no checkpoint yet, or started over) of every message fetches: its workers'
    // connections log in as soon as the source's own has, while the folders are listed and
    // planned, rather than once the first folder's STATUS has said so (copy.ts#warm). A rerun
    // still logs them in only when there is something new, and a no-op rerun not at all.
    const first = (cfg.restart || !existsSync(checkpoint)) && !hasFilter(cfg.filter);
    source = await openSource(src, net('source'), { readers: first ? cfg.concurrency : 0 });
    if (cfg.deleteSource) checkDeleteSource(source);
    const mailboxes = await source.listMailboxes();
    const { plans, unmatched, unusedExcludes } = planJob(mailboxes, src, dst, cfg, self);
    const openJournal = Journal.prepare(checkpoint, {
      header: { job: jobKey(srcDesc, `${dstDesc}\n${cfg.dedupe}`), source: srcDesc, dest: dstDesc },
      restart: cfg.restart,
      dedupe: cfg.dedupe,
    });
    sink = await openSink(dst, net('dest'), { log: hooks.log, sourceAccount: self !== undefined });
    // A Maildir is locked in itself too: a run with another state directory (cron's HOME, an
    // admin's sudo) has other lock files, and both would copy everything into it. In its tmp/,
    // where no reader looks for mail and no name can be a folder.
    if (dst.kind === 'maildir') inDestLock = acquireLock(join(realPathOf(dst.path), 'tmp', 'mailferry'), warn, `is copying into ${dstDesc}`);
    journal = openJournal();
    hooks.onCopying?.();
    for (const u of unmatched) hooks.log.error({ msg: u.error.oneLine() });
    for (const w of unusedExcludes) hooks.log.warn({ msg: w });
    const result = await copy({
      source,
      sink,
      plans,
      journal,
      concurrency: cfg.concurrency,
      dedupe: cfg.dedupe,
      retries: cfg.retries,
      filter: cfg.filter,
      maxMessageBytes: cfg.maxMessageBytes,
      throttle,
      log: hooks.log,
      signal: hooks.signal,
      onEvent: hooks.onEvent,
      onOutcome: hooks.onOutcome,
    });
    // Only after copy() returned: every "copied" record it wrote has been fsynced.
    // Not after an interrupt: the user asked it to stop; the next run deletes.
    let deletion: DeleteResult | undefined;
    let deleteError: MailferryError | undefined;
    if (cfg.deleteSource && !result.interrupted) {
      try {
        deletion = await deleteFromSource({ source, sink, journal, plans, dedupe: cfg.dedupe, log: hooks.log, signal: hooks.signal });
        deleteError = deletion.error;
      } catch (err) {
        // The copy stands (its records are durable); only the deletion's outcome is not known.
        deleteError = toMailferryError(err);
      }
    }
    // Stopped during the deletions too (Ctrl-C, --max-runtime): an interrupted run, as it says.
    const interrupted = result.interrupted || deletion?.interrupted === true;
    if (cfg.deleteSource && interrupted) hooks.log.warn({ msg: `interrupted: ${deletion?.deleted ? `deleted ${counted(deletion.deleted, 'message')} from the source, nothing more` : 'nothing deleted from the source'} (the next complete run deletes what is copied)` });
    return {
      ...result,
      // A --folder that named nothing fails as a folder: the run is partial (exit 6).
      folders: [...result.folders, ...unmatched.map((u): FolderResult => ({ folder: u.glob, listed: 0, already: 0, copied: 0, skipped: 0, failed: 0, bytes: 0, unchanged: false, error: u.error.message }))],
      interrupted,
      checkpoint,
      ...(deletion ? { deleted: deletion.deleted, keptOnSource: deletion.kept + deletion.refused, ...(deletion.refused ? { deleteRefused: deletion.refused } : {}) } : cfg.deleteSource && !deleteError ? { deleted: 0 } : {}),
      ...(deleteError ? { deleteError, ...(!deletion || deletion.uncertain ? { deleteUncertain: true } : {}) } : {}),
    };
  } finally {
    await source?.close().catch(() => {});
    await sink?.close().catch(() => {});
    journal?.close();
    inDestLock?.release();
    destLock?.release();
    lock.release();
  }
}
