// Load messages into a user's mailboxes through Dovecot: stage a throwaway Maildir++ and run
// `doveadm import` (port of load_import in /work/shared/bench/load-corpus.sh).
// The import copies each message with its flags (from the ":2,<letters>" suffix) and its
// received date (the staged file's mtime), which IMAP reports as INTERNALDATE.
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { doveadm, type DovecotControl } from './control.js';
import { maildirSubdir, toServerName } from './folders.js';

export interface StagedMessage {
  folder: string;
  bytes: Buffer;
  /** Maildir info letters, sorted: any of "DFRS". */
  letters: string;
  internalDate: Date;
}

export type ImportTarget = Pick<DovecotControl, 'dir' | 'conf'>;

/**
 * Where to stage. The import copies into the user's Maildir (no hard links, even on one file
 * system), so the stage may live elsewhere: prefer tmpfs, where writing 6,046 files takes ~0.2 s
 * instead of seconds on this VM's ext4 /tmp. MF_STAGE_DIR overrides.
 */
function stageParent(target: ImportTarget): string {
  const candidates = [process.env.MF_STAGE_DIR, '/dev/shm'];
  for (const c of candidates) {
    if (c === undefined || c === '') continue;
    try {
      accessSync(c, constants.W_OK | constants.X_OK);
      if (statSync(c).isDirectory()) return c;
    } catch {
      // not usable: try the next
    }
  }
  return target.dir;
}

export async function importMessages(target: ImportTarget, user: string, messages: StagedMessage[]): Promise<void> {
  const stage = await mkdtemp(path.join(stageParent(target), 'mf-stage-'));
  try {
    chmodSync(stage, 0o777); // doveadm reads the stage (and writes its uidlist/index) as the mail uid
    const root = path.join(stage, 'mdir');
    const made = new Set<string>();
    const mk = (d: string): void => {
      mkdirSync(d, { recursive: true });
      chmodSync(d, 0o777);
    };
    const folderDir = (folder: string): string => {
      const d = path.join(root, maildirSubdir(folder));
      if (!made.has(d)) {
        for (const sub of ['', 'cur', 'new', 'tmp']) mk(path.join(d, sub));
        made.add(d);
      }
      return d;
    };
    folderDir('INBOX');
    const expected = new Map<string, number>();
    // Unique base names: Dovecot keeps them as the messages' GUIDs; the leading counter makes
    // Dovecot assign UIDs in staging order.
    const batch = randomBytes(4).toString('hex');
    messages.forEach((m, i) => {
      if (!/^D?F?R?S?$/.test(m.letters)) throw new Error(`bad flag letters ${m.letters}`);
      const file = path.join(folderDir(m.folder), 'cur', `${String(i + 1).padStart(9, '0')}.mf${batch}:2,${m.letters}`);
      writeFileSync(file, m.bytes);
      utimesSync(file, m.internalDate, m.internalDate);
      const box = toServerName(m.folder);
      expected.set(box, (expected.get(box) ?? 0) + 1);
    });
    const before = await messageCounts(target, user);
    const { stderr } = await doveadm(target, ['import', '-u', user, `maildir:${root}:INDEX=${path.join(stage, 'idx')}`, '', 'all']);
    // doveadm import can log errors (e.g. permissions) and still exit 0: check what arrived.
    const after = await messageCounts(target, user);
    for (const [box, n] of expected) {
      const got = (after.get(box) ?? 0) - (before.get(box) ?? 0);
      if (got !== n) throw new Error(`doveadm import: ${box} got ${got} of ${n} messages. ${stderr.trim()}`);
    }
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
}

/** Message count per mailbox (decoded server names, e.g. "Archive.2002"). */
export async function messageCounts(target: Pick<DovecotControl, 'conf'>, user: string): Promise<Map<string, number>> {
  const { stdout } = await doveadm(target, ['-f', 'tab', 'mailbox', 'status', '-u', user, 'messages', '*']);
  const counts = new Map<string, number>();
  for (const line of stdout.toString('utf8').split('\n').slice(1)) {
    const tab = line.lastIndexOf('\t');
    if (tab > 0) counts.set(line.slice(0, tab), Number(line.slice(tab + 1)));
  }
  return counts;
}
