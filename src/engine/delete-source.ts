/**
 * --delete-source (POP3): after the copy, delete from the source the messages the checkpoint
 * records as done for good — stored in the destination (APPEND acknowledged, or file and
 * directory fsynced) with the journal fsynced after that, or skipped because their identity is
 * already in the destination — and that the destination holds now. Never a message that failed
 * or was filtered out.
 *
 * "Holds now" is checked against a fresh scan of each destination folder, because the checkpoint
 * can be out of date: a copy deleted from the destination since (by a person, a client, a
 * retention rule), say. The scan lists every file; those the checkpoint knows by name keep the
 * identity it recorded, and only the others are read.
 * Such messages stay on the server, with a warning; the next run without the checkpoint's
 * word for it (`--restart`) copies them.
 *
 * "Identity" is the dedupe mode's: under --dedupe message-id a second message with a Message-ID
 * already in the destination counts as there (it is named in the report as a duplicate) and is
 * deleted too. --dedupe content (and none) compares the bytes.
 */
import { MailferryError, spoilsOneFolder, toMailferryError } from '../errors.js';
import type { Journal } from '../checkpoint/journal.js';
import type { MessageRef, Sink, Source } from '../drivers/types.js';
import { LOUD, type Logger } from '../log.js';
import { counted } from '../strings.js';
import { scanDestination } from './dest-scan.js';
import { bodiesForDigest } from './digest-bodies.js';
import { identityBeforeBody, identityOfFetched, type DedupeMode, type Identity } from './identity.js';
import { destHint, type FolderPlan } from './plan.js';

export function checkDeleteSource(source: Source): void {
  if (!source.deleteMessages) {
    throw new MailferryError('USAGE', '--delete-source works only with a POP3 source', { hint: 'drop --delete-source; IMAP and Maildir sources are never modified' });
  }
}

export interface DeleteOptions {
  source: Source;
  sink: Sink;
  journal: Journal;
  plans: FolderPlan[];
  dedupe: DedupeMode;
  log: Logger;
  /** Ctrl-C or --max-runtime: stop, deleting nothing not yet committed. */
  signal?: AbortSignal;
}

export interface DeleteResult {
  /** Messages the source deleted. */
  deleted: number;
  /** Done messages left there because the destination lacks them now. */
  kept: number;
  /** Messages the server refused to delete (left there). */
  refused: number;
  /** Stopped by the signal before its deletions were committed: those were not made. */
  interrupted: boolean;
  /** What ended the deletions early (the counts are what was done before it). */
  error?: MailferryError;
  /**
   * The error came while the server was deleting (DELE … QUIT: a connection lost before the
   * server said whether it committed them): what it deleted of that folder is not known.
   */
  uncertain?: boolean;
}

/** Deletes from the source what is copied and in the destination now (see above). */
export async function deleteFromSource(o: DeleteOptions): Promise<DeleteResult> {
  checkDeleteSource(o.source);
  const mode = o.dedupe === 'none' ? 'content' : o.dedupe;
  let deleted = 0;
  let kept = 0;
  let refused = 0;
  const stopped = () => o.signal?.aborted === true;
  const interrupted = () => ({ deleted, kept, refused, interrupted: true });
  let deleting = false;
  try {
    for (const plan of o.plans) {
      if (stopped()) return interrupted();
      const done = o.journal.state.folder(plan.source.path).done;
      if (done.size === 0) continue;
      // Read only (a sink that cannot say which folder it is confirms nothing, so deletes nothing),
      // where the copy puts the folder: where earlier runs put it (a --map given then, not now).
      // A folder whose destination cannot be named (two source folders would be one) confirms nothing.
      const box = (await o.sink.existingMailbox?.(plan.destSegments, plan.role, destHint(plan, o.journal.state))?.catch((err: unknown) => {
        if (spoilsOneFolder(err)) return null;
        throw err;
      })) ?? null;
      const there = new Set<Identity>();
      if (box !== null) {
        // A file the checkpoint knows (stored or read by an earlier run) is there by its name, with
        // the identity recorded: only the others are read, as the copy's own scan does. Else every
        // night would read the whole backup, which grows while the mailbox stays small. (Under
        // --dedupe none what was recorded is not the content identity compared here.)
        const known = o.dedupe === mode ? o.journal.state.stored.get(box) : undefined;
        for await (const m of scanDestination(o.sink, box, mode, known)) {
          if (stopped()) return interrupted();
          if (m.identity) there.add(m.identity);
        }
      }
      const confirmed: string[] = [];
      const byBody: MessageRef[] = [];
      let absent = 0;
      // A message listed as unreadable (a POP3 one without a UIDL) is never done: passed over, never deleted.
      for await (const ref of o.source.list(plan.source.path, { signal: o.signal, unreadable: true })) {
        if (stopped()) return interrupted();
        if (ref.unreadable || !done.has(ref.key)) continue;
        const id = identityBeforeBody(ref.messageId, mode);
        if (id === null) byBody.push(ref);
        else if (there.has(id)) confirmed.push(ref.key);
        else absent++;
      }
      // One the source cannot send now is not confirmed: it stays on the server.
      for await (const m of bodiesForDigest(o.source, plan.source.path, byBody, () => absent++)) {
        if (stopped()) return interrupted();
        if (there.has(identityOfFetched(m.ref, m.body, mode))) confirmed.push(m.ref.key);
        else absent++;
      }
      // A listing stopped by the signal ends early, with what it had: nothing to decide from.
      if (stopped()) return interrupted();
      if (absent > 0) {
        o.log.warn({ msg: `${plan.name}: ${counted(absent, 'message')} the checkpoint has as copied ${absent === 1 ? 'is' : 'are'} not in the destination now: left on the server (rerun with --restart to copy them, then delete)`, [LOUD]: true });
      }
      kept += absent;
      if (confirmed.length === 0) continue;
      let outcome;
      try {
        deleting = true;
        outcome = await o.source.deleteMessages!(plan.source.path, confirmed, o.signal);
        deleting = false;
      } catch (err) {
        if (err instanceof MailferryError && err.code === 'INTERRUPTED') return interrupted();
        throw err;
      }
      deleted += outcome.deleted.length;
      refused += outcome.refused.length;
      for (const r of outcome.refused) o.log.warn({ msg: `${plan.name}: message ${r.key}: ${r.error.message}; left on the server (the next run with --delete-source tries again)`, [LOUD]: true });
      // Deleted (the server said so at QUIT): their keys are free for the server to give to new
      // messages (a UIDL numbered again after its index was rebuilt), which must not pass for done.
      if (outcome.deleted.length > 0 && o.source.caps.keysReused) {
        for (const k of outcome.deleted) o.journal.append({ t: 'f', s: plan.source.path, k });
        await o.journal.sync();
      }
      o.log.info({ msg: `${plan.name}: deleted ${counted(outcome.deleted.length, 'copied message')} from the source` });
    }
  } catch (err) {
    // Known up to here: what each folder before deleted, and none of this one unless the server was deleting.
    return { deleted, kept, refused, interrupted: false, error: toMailferryError(err), ...(deleting ? { uncertain: true } : {}) };
  }
  return { deleted, kept, refused, interrupted: false };
}
