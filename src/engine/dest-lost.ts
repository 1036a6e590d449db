/**
 * A destination wiped since the last run. The checkpoint says which source messages are done, and
 * a done message is never looked at again: were its destination folder deleted or emptied (a
 * backup directory removed, an IMAP folder deleted), a rerun would report success and leave it
 * empty. Before anything is copied, each folder with done messages has its destination looked at
 * (a stat and a directory's first entries, or one IMAP STATUS); a folder found gone or empty is
 * copied again, its done keys forgotten. So is an IMAP folder deleted and made again that holds
 * other mail by now (a re-provisioned account's welcome message): its UIDVALIDITY is not the one
 * of the dest keys the checkpoint has stored there. Looked at for every folder first, so folders
 * merged into one destination all see it as it was before this run stored anything.
 *
 * Messages deleted by hand from a destination that still holds others are not noticed: the
 * checkpoint remembers them as done (`--restart` checks every message against the destination).
 */
import { toMailferryError } from '../errors.js';
import type { CheckpointState } from '../checkpoint/journal.js';
import type { FolderLook, Sink } from '../drivers/types.js';
import type { Logger } from '../log.js';
import { LOST_WORDS, type LostWhy } from './events.js';
import { destHint, type FolderPlan } from './plan.js';
import { counted } from '../strings.js';

export interface LostDestination {
  plan: FolderPlan;
  /** The destination folder's name in the sink, when it still exists. */
  dest?: string;
  why: LostWhy;
  /** Messages of the source folder the checkpoint had as done. */
  done: number;
}

export interface DestinationLook {
  lost: LostDestination[];
  /** The sink's name of each looked-at destination folder that exists (a run names them from here). */
  found: Map<FolderPlan, string>;
}

export async function lostDestinations(sink: Sink, plans: readonly FolderPlan[], state: CheckpointState, log: Logger): Promise<DestinationLook> {
  const lost: LostDestination[] = [];
  const found = new Map<FolderPlan, string>();
  if (!sink.existingMailbox || !sink.look) return { lost, found };
  // Each destination asked once: folders merged into one share the answers.
  const names = new Map<string, Promise<string | null>>();
  const looks = new Map<string, Promise<FolderLook>>();
  for (const plan of plans) {
    const f = state.folders.get(plan.source.path);
    const done = f?.done.size ?? 0;
    // A folder the checkpoint knows nothing of has nothing to lose (and no name to report unchanged).
    if (done === 0 && !f?.end) continue;
    const hint = destHint(plan, state);
    const memo = `${plan.role ?? ''}\0${JSON.stringify([hint.under, hint.prefer])}\0${plan.destSegments.join('\0')}`;
    try {
      let name = names.get(memo);
      if (!name) names.set(memo, (name = sink.existingMailbox(plan.destSegments, plan.role, hint)));
      const dest = await name;
      if (dest !== null) found.set(plan, dest);
      // Gone, also when it held nothing (an empty source folder's, made by the run that ended it).
      if (dest === null) {
        lost.push({ plan, why: 'missing', done });
        continue;
      }
      if (done === 0) continue;
      let look = looks.get(dest);
      if (!look) looks.set(dest, (look = sink.look(dest, state.stored.get(dest)?.keys())));
      const seen = await look;
      if (seen !== 'holds') lost.push({ plan, dest, why: seen, done });
    } catch (err) {
      // Not known to be lost: the folder's copy meets the same failure and reports it.
      log.debug({ msg: `${plan.name}: could not look at the destination folder: ${toMailferryError(err).message}` });
    }
  }
  return { lost, found };
}

export function describeLost(l: LostDestination): string {
  if (l.done === 0) return `${l.plan.name}: the destination folder ${LOST_WORDS[l.why]}; making it again`;
  const again = l.why === 'replaced' ? 'checking each against it again: what is not there is copied' : 'copying the folder again';
  return `${l.plan.name}: the destination folder ${LOST_WORDS[l.why]}, though the checkpoint has ${counted(l.done, 'message')} of this folder done; ${again}`;
}
