/**
 * Whose the files a Maildir sink creates are. Root backing up or restoring another user's Maildir
 * (owned by that user, served by that user's Dovecot) must leave what it creates there the
 * user's: a folder, message or `dovecot-keywords` of root's, mode 0700/0600, is one that user's
 * Dovecot cannot open (doveadm gets the same by dropping privileges; mailferry also writes root's
 * checkpoint in the same run, so it cannot drop them). Each file is given away through its open
 * descriptor before it is written, fsynced or renamed into place, so there is no moment at which
 * a finished file is root's; a directory by its name, not following a link planted there.
 */
import { promises as fs, type Stats } from 'node:fs';

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * The owner to give what is created in a Maildir whose root existed as `root` before the run:
 * its owner, when this process is root and the root is another user's; otherwise none (what is
 * created stays this process's, with no call more per message).
 */
export function ownerFor(root: Stats | null): Owner | undefined {
  if (!root?.isDirectory() || process.geteuid?.() !== 0 || root.uid === 0) return undefined;
  return { uid: root.uid, gid: root.gid };
}

/** A directory just made, given to `owner` (a link put in its place is not followed). */
export async function giveDir(path: string, owner: Owner): Promise<void> {
  await fs.lchown(path, owner.uid, owner.gid);
}
