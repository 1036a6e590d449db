/**
 * --delete-source (POP3): after the copy, delete from the source exactly the messages the
 * checkpoint records as done for good, i.e. stored in the destination (APPEND acknowledged, or
 * file and directory fsynced) with the journal fsynced after that, or skipped because their
 * identity is already in the destination. Never a message that failed or was filtered out.
 *
 * "Identity" is the dedupe mode's: under --dedupe message-id a second message with a Message-ID
 * already in the destination counts as copied (it is named in the report as a duplicate) and is
 * deleted too. --dedupe content keeps every message whose bytes differ.
 */
import { MailferryError } from '../errors.js';
import type { Journal } from '../checkpoint/journal.js';
import type { Source } from '../drivers/types.js';
import type { Logger } from '../log.js';
import type { FolderPlan } from './plan.js';

export function checkDeleteSource(source: Source): void {
  if (!source.deleteMessages) {
    throw new MailferryError('USAGE', '--delete-source works only with a POP3 source', { hint: 'drop --delete-source; IMAP and Maildir sources are never modified' });
  }
}

/** Returns how many messages the source deleted. */
export async function deleteFromSource(source: Source, journal: Journal, plans: FolderPlan[], log: Logger): Promise<number> {
  checkDeleteSource(source);
  let deleted = 0;
  for (const plan of plans) {
    const keys = [...journal.state.folder(plan.source.path).done];
    if (keys.length === 0) continue;
    const n = await source.deleteMessages!(plan.source.path, keys);
    deleted += n;
    log.info({ msg: `${plan.name}: deleted ${n} copied messages from the source` });
  }
  return deleted;
}
