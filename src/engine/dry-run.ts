/**
 * `mailferry copy --dry-run`: the plan of a copy — per folder, what would be copied (count,
 * bytes) and what would be skipped and why — decided exactly as copy decides, touching nothing:
 * the destination is opened read-only, the checkpoint is only read (no lock, no record).
 */
import { existsSync } from 'node:fs';
import { CheckpointState, doneAsListed, Journal, otherJob, uidsGivenAgain, type JobHeader } from '../checkpoint/journal.js';
import { checkpointPathOf, jobKey } from '../checkpoint/path.js';
import { sameJob } from '../checkpoint/same-job.js';
import { MailferryError, spoilsOneFolder } from '../errors.js';
import { openSink, openSource } from '../drivers/registry.js';
import type { MessageRef, Room, Sink, Source } from '../drivers/types.js';
import type { Logger } from '../log.js';
import { scanDestination } from './dest-scan.js';
import { checkDeleteSource } from './delete-source.js';
import { lostDestinations } from './dest-lost.js';
import type { LostWhy } from './events.js';
import { checkNotNested, describeEndpoint, parseEndpoint, selfPrefix } from './endpoint.js';
import { bodiesForDigest } from './digest-bodies.js';
import { filterKey, filterReason, hasDateFilter } from './filters.js';
import { identityBeforeBody, identityOfFetched, type Identity } from './identity.js';
import type { CopyJobConfig } from './job.js';
import { destHint, displayName, planJob, type FolderPlan } from './plan.js';
import { netFactory } from './session.js';

export interface DryRunFolder {
  folder: string;
  dest: string;
  /** The destination folder exists already. */
  destExists: boolean;
  listed: number;
  copy: number;
  bytes: number;
  /** Messages decided by a digest of their bytes (no Message-ID, or --dedupe content): fetched. */
  byContent: number;
  /** Reason → count: checkpoint, present, duplicate, larger than --max-size, … */
  skip: Record<string, number>;
  /** Unchanged since the last complete run: not even listed. */
  unchanged: boolean;
  /** The destination folder is gone or empty though the checkpoint has messages done: copied again. */
  destLost?: LostWhy;
  /** Would fail unfetched: larger than --max-message-size or the destination's APPENDLIMIT. */
  tooLarge: number;
  /** Would fail unfetched: the source's server cannot read them (the listing broke off there). */
  unreadable: number;
  /** The folder would fail: it cannot be read or named (what it would copy is not known). */
  error?: string;
}

export interface DryRunResult {
  dryRun: true;
  source: string;
  dest: string;
  checkpoint: string;
  folders: DryRunFolder[];
  copy: number;
  bytes: number;
  skipped: number;
  /** Messages that would fail unfetched (too large). */
  tooLarge: number;
  /** Messages that would fail unfetched (the source's server cannot read them). */
  unreadable: number;
  /** Folders that would fail (each in `folders` with its `error`). */
  failedFolders: number;
  /** --delete-source: messages the copy would delete from the source (done, copied, or already there). */
  delete?: number;
  /** Room left in the destination, where it says (an IMAP quota, a Maildir's disk). */
  room?: Room;
  /** The plan copies more bytes than `room` has left: the copy would stop when it is full (exit 3). */
  wouldNotFit?: boolean;
}

function readCheckpoint(path: string, ours: JobHeader, restart: boolean, dedupe: string): CheckpointState {
  if (restart || !existsSync(path)) return new CheckpointState();
  const { state, header } = Journal.replay(path);
  if (!sameJob(header, ours, dedupe)) throw otherJob(path, header, ours);
  return state;
}

export async function planCopy(cfg: CopyJobConfig, hooks: { log: Logger }): Promise<DryRunResult> {
  const src = parseEndpoint(cfg.source, 'source', cfg.sourceTls);
  const dst = parseEndpoint(cfg.dest, 'dest', cfg.destTls);
  const net = await netFactory(cfg, hooks.log);
  checkNotNested(src, dst);
  const srcDesc = describeEndpoint(src);
  const dstDesc = describeEndpoint(dst);
  // Same path as the real run, computed without creating the state directory.
  const checkpoint = cfg.checkpoint ?? checkpointPathOf(srcDesc, dstDesc);
  const state = readCheckpoint(checkpoint, { job: jobKey(srcDesc, `${dstDesc}\n${cfg.dedupe}`), source: srcDesc, dest: dstDesc }, cfg.restart, cfg.dedupe);
  let source: Source | undefined;
  let sink: Sink | undefined;
  try {
    sink = await openSink(dst, net('dest'), { readOnly: true });
    if (!sink.existingMailbox) throw new MailferryError('USAGE', `--dry-run cannot read a ${dst.scheme}: destination yet`, { hint: 'plan a maildir: or imap: destination' });
    source = await openSource(src, net('source'));
    // As the copy would refuse it: --delete-source needs a source that can delete (POP3).
    if (cfg.deleteSource) checkDeleteSource(source);
    const { plans, unmatched, unusedExcludes } = planJob(await source.listMailboxes(), src, dst, cfg, await selfPrefix(src, dst));
    for (const w of unusedExcludes) hooks.log.warn({ msg: w });
    // As copy does: a folder whose destination was wiped is planned as if the checkpoint had none of it.
    const lost = new Map((await lostDestinations(sink, plans, state, hooks.log)).lost.map((l) => [l.plan, l.why]));
    const maxBytes = Math.min(cfg.maxMessageBytes ?? Infinity, sink.caps.maxMessageBytes ?? Infinity);
    /** Per destination folder: its identities, each with why a message of it is skipped. */
    const indexes = new Map<string, Map<Identity, 'present' | 'copied before'>>();
    const claims = new Map<string, Set<Identity>>();
    const folders: DryRunFolder[] = [];
    const [from, into] = [source, sink];
    const existingMailbox = sink.existingMailbox.bind(sink);
    // One folder's plan; a folder that cannot be read (or named) fails alone, as in the copy.
    const planFolder = async (plan: FolderPlan): Promise<void> => {
      const box = plan.source.path;
      const destName = displayName(plan.destSegments);
      const existing = await existingMailbox(plan.destSegments, plan.role, destHint(plan, state));
      // Not there yet: named where the copy would make it (Sent/2020 under the account's Sent Items).
      const plannedBox = existing === null && into.plannedMailbox ? await into.plannedMailbox(plan.destSegments, plan.role, destHint(plan, state)) : existing;
      const row: DryRunFolder = { folder: plan.name, dest: plannedBox !== null ? (into.displayName?.(plannedBox) ?? destName) : destName, destExists: existing !== null, listed: 0, copy: 0, bytes: 0, byContent: 0, skip: {}, unchanged: false, tooLarge: 0, unreadable: 0 };
      const destLost = lost.get(plan);
      if (destLost) row.destLost = destLost;
      folders.push(row);
      const skip = (why: string) => (row.skip[why] = (row.skip[why] ?? 0) + 1);
      const st = await from.status(box);
      const fstate = destLost ? undefined : state.folders.get(box);
      // As copy: UIDs given out again under the same validity are taken as a new validity.
      const sameValidity = fstate?.validity === st.validity && uidsGivenAgain(fstate, st.validity, st.next) === undefined;
      if (sameValidity && fstate?.end && fstate.end.uv === st.validity && (fstate.end.fk ?? '') === filterKey(cfg.filter) && st.next !== undefined && st.next === fstate.end.next) {
        row.unchanged = true;
        return;
      }
      let index = indexes.get(destName);
      if (!index) {
        index = new Map();
        if (existing !== null && cfg.dedupe !== 'none') {
          // A folder found lost: what earlier runs stored there is not in it (the copy forgets it).
          const known = destLost ? undefined : state.stored.get(existing);
          for await (const e of scanDestination(into, existing, cfg.dedupe, known, Number.isFinite(maxBytes) ? maxBytes : undefined)) if (e.identity) index.set(e.identity, 'present');
          // As copy: stored by an earlier run and deleted by hand since is not copied again.
          if (known) for (const id of state.copiedBefore(existing)) if (!index.has(id)) index.set(id, 'copied before');
        }
        indexes.set(destName, index);
      }
      // What this plan would store into the destination folder, from any source folder mapped
      // there: a second message of it is a duplicate, as the copy says, not present.
      let claimed = claims.get(destName);
      if (!claimed) claims.set(destName, (claimed = new Set<Identity>()));
      const planned = claimed;
      const decide = (id: Identity, size: number) => {
        if (planned.has(id)) return skip('duplicate');
        const there = index!.get(id);
        if (there) return skip(there);
        planned.add(id);
        row.copy++;
        row.bytes += size;
      };
      const needBody: MessageRef[] = [];
      const datesFiltered = hasDateFilter(cfg.filter);
      for await (const ref of from.list(box, { unreadable: true })) {
        row.listed++;
        // In copy's order: done first, then unreadable, the filters, the size limit (unless already there).
        if (sameValidity && doneAsListed(fstate, ref, from.caps.keysReused)) {
          skip('done (checkpoint)');
          continue;
        }
        if (ref.unreadable) {
          row.unreadable++;
          continue;
        }
        const filtered = filterReason(cfg.filter, ref);
        if (filtered) {
          skip(filtered);
          continue;
        }
        const id = identityBeforeBody(ref.messageId, cfg.dedupe);
        if (ref.size > maxBytes && !(id !== null && index.has(id))) {
          row.tooLarge++;
          continue;
        }
        // A header unread (POP3 without TOP): its date, which the filters need, is in the body.
        if (ref.headerUnread && datesFiltered) needBody.push(ref);
        else if (id !== null) decide(id, ref.size);
        else if (cfg.dedupe === 'none') (row.copy++, (row.bytes += ref.size));
        else needBody.push(ref);
      }
      // Decided by content, as copy decides them: the bodies are read (never written anywhere).
      row.byContent = needBody.length;
      for await (const m of bodiesForDigest(from, box, needBody, () => row.unreadable++, undefined, cfg.retries ?? 5)) {
        const filtered = m.ref.headerUnread ? filterReason(cfg.filter, m.ref, true) : null;
        if (filtered) skip(filtered);
        else if (cfg.dedupe === 'none') (row.copy++, (row.bytes += m.ref.size));
        else decide(identityOfFetched(m.ref, m.body, cfg.dedupe), m.ref.size);
      }
    };
    for (const plan of plans) {
      try {
        await planFolder(plan);
      } catch (err) {
        if (!spoilsOneFolder(err)) throw err;
        let row = folders.find((f) => f.folder === plan.name);
        if (!row) folders.push((row = { folder: plan.name, dest: displayName(plan.destSegments), destExists: false, listed: 0, copy: 0, bytes: 0, byContent: 0, skip: {}, unchanged: false, tooLarge: 0, unreadable: 0 }));
        row.error = err.message;
      }
    }
    // As copy: a --folder that named nothing would fail.
    for (const u of unmatched) folders.push({ folder: u.glob, dest: '', destExists: false, listed: 0, copy: 0, bytes: 0, byContent: 0, skip: {}, unchanged: false, tooLarge: 0, unreadable: 0, error: u.error.message });
    const skipped = folders.reduce((n, f) => n + Object.values(f.skip).reduce((a, b) => a + b, 0), 0);
    const bytes = folders.reduce((n, f) => n + f.bytes, 0);
    // Not known (no QUOTA, a server that will not say): nothing to compare with.
    const room = (await sink.room?.().catch(() => null)) ?? undefined;
    const wouldNotFit = room !== undefined && bytes > room.free;
    return {
      dryRun: true,
      source: srcDesc,
      dest: dstDesc,
      checkpoint,
      folders,
      copy: folders.reduce((n, f) => n + f.copy, 0),
      bytes,
      skipped,
      tooLarge: folders.reduce((n, f) => n + f.tooLarge, 0),
      unreadable: folders.reduce((n, f) => n + f.unreadable, 0),
      failedFolders: folders.filter((f) => f.error).length,
      ...(cfg.deleteSource
        ? { delete: folders.reduce((n, f) => n + (f.unchanged ? 0 : f.copy + (f.skip['done (checkpoint)'] ?? 0) + (f.skip.present ?? 0) + (f.skip.duplicate ?? 0)), 0) }
        : {}),
      ...(room ? { room } : {}),
      ...(wouldNotFit ? { wouldNotFit } : {}),
    };
  } finally {
    await source?.close().catch(() => {});
    await sink?.close().catch(() => {});
  }
}
