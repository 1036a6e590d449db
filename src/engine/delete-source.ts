/**
 * --delete-source (POP3): after the copy, delete from the source the messages the checkpoint
 * records as done for good — stored in the destination (APPEND acknowledged, or file and
 * directory fsynced) with the journal fsynced after that, or skipped because their identity is
 * already in the destination — and that the destination holds now. Never a message that failed
 * or was filtered out.
 *
 * "Holds now" is checked against a fresh scan of each destination folder, because the checkpoint
 * can be out of date: a copy deleted from the destination since (by a person, a client, a
 * retention rule), or a second message skipped as a duplicate of one that then failed to store.
 * Such messages stay on the server, with a warning; the next run without the checkpoint's
 * word for it (`--restart`) copies them.
 *
 * "Identity" is the dedupe mode's: under --dedupe message-id a second message with a Message-ID
 * already in the destination counts as there (it is named in the report as a duplicate) and is
 * deleted too. --dedupe content (and none) compares the bytes.
 */
import { MailferryError, spoilsOneFolder } from '../errors.js';
import type { Journal } from '../checkpoint/journal.js';
import type { MessageRef, Sink, Source } from '../drivers/types.js';
import { LOUD, type Logger } from '../log.js';
import { scanDestination } from './dest-scan.js';
import { bodiesForDigest } from './digest-bodies.js';
import { identityBeforeBody, identityOfFetched, type DedupeMode, type Identity } from './identity.js';
import type { FolderPlan } from './plan.js';

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
}

/** Returns how many messages the source deleted, and how many done ones were kept because the destination lacks them. */
export async function deleteFromSource(o: DeleteOptions): Promise<{ deleted: number; kept: number }> {
  checkDeleteSource(o.source);
  const mode = o.dedupe === 'none' ? 'content' : o.dedupe;
  let deleted = 0;
  let kept = 0;
  for (const plan of o.plans) {
    const done = o.journal.state.folder(plan.source.path).done;
    if (done.size === 0) continue;
    // Read only (a sink that cannot say which folder it is confirms nothing, so deletes nothing).
    // A folder whose destination cannot be named (two source folders would be one) confirms nothing.
    const box = (await o.sink.existingMailbox?.(plan.destSegments, plan.source.specialUse)?.catch((err: unknown) => {
      if (spoilsOneFolder(err)) return null;
      throw err;
    })) ?? null;
    const there = new Set<Identity>();
    if (box !== null) for await (const m of scanDestination(o.sink, box, mode)) if (m.identity) there.add(m.identity);
    const confirmed: string[] = [];
    const byBody: MessageRef[] = [];
    let absent = 0;
    for await (const ref of o.source.list(plan.source.path)) {
      if (!done.has(ref.key)) continue;
      const id = identityBeforeBody(ref.messageId, mode);
      if (id === null) byBody.push(ref);
      else if (there.has(id)) confirmed.push(ref.key);
      else absent++;
    }
    // One the source cannot send now is not confirmed: it stays on the server.
    for await (const m of bodiesForDigest(o.source, plan.source.path, byBody, () => absent++)) {
      if (there.has(identityOfFetched(m.ref, m.body, mode))) confirmed.push(m.ref.key);
      else absent++;
    }
    if (absent > 0) {
      o.log.warn({ msg: `${plan.name}: ${absent} message(s) the checkpoint has as copied are not in the destination now: left on the server (rerun with --restart to copy them, then delete)`, [LOUD]: true });
    }
    const n = confirmed.length > 0 ? await o.source.deleteMessages!(plan.source.path, confirmed) : 0;
    // Deleted (the server said so at QUIT): their keys are free for the server to give to new
    // messages (a UIDL numbered again after its index was rebuilt), which must not pass for done.
    if (n > 0 && o.source.caps.keysReused) {
      for (const k of confirmed) o.journal.append({ t: 'f', s: plan.source.path, k });
      await o.journal.sync();
    }
    deleted += n;
    kept += absent;
    o.log.info({ msg: `${plan.name}: deleted ${n} copied messages from the source` });
  }
  return { deleted, kept };
}
