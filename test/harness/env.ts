// For test files: the Dovecot started by global-setup.ts, seen from a worker process.
// The seeded user (info.user, "corpus") is shared by every test file running in parallel: treat it
// as read-only (EXAMINE, BODY.PEEK, no flag changes, no POP3 RETR/DELE). Tests that write use
// freshUser() and seed it with seedCorpus/seedFixtures(harness(), user.name, ...).
import { inject } from 'vitest';
import * as control from './control.js';
import type { DoveadmResult, DovecotControl, MailUser } from './control.js';
import { readManifest, type ManifestEntry } from './manifest.js';
import type { DovecotInfo } from './provided.js';

export interface Harness extends DovecotInfo {
  addUser(name: string, password?: string): Promise<MailUser>;
  /** addUser with a name unique across workers and calls: `${prefix}-${pid}-${n}`. */
  freshUser(prefix?: string, password?: string): Promise<MailUser>;
  doveadm(args: string[], input?: Buffer): Promise<DoveadmResult>;
  maildirOf(user: string): string;
  /** Everything seeded for info.user, with bytes (read from disk on first call, then cached). */
  manifest(): ManifestEntry[];
}

let counter = 0;
let cachedManifest: ManifestEntry[] | undefined;

export function harness(): Harness {
  const info = inject('dovecot') as DovecotInfo | undefined;
  if (info === undefined) throw new Error('no Dovecot: test/harness/global-setup.ts did not run (MF_DOVECOT=0?)');
  const ctl: DovecotControl = {
    dir: info.dir, conf: info.conf, passwdDir: info.passwdDir, mailUid: info.mailUid, mailGid: info.mailGid,
  };
  return {
    ...info,
    addUser: (name, password) => control.addUser(ctl, name, password),
    freshUser: (prefix = 'u', password) => control.addUser(ctl, `${prefix}-${process.pid}-${++counter}`, password),
    doveadm: (args, input) => control.doveadm(ctl, args, input),
    maildirOf: (user) => control.maildirOf(ctl, user),
    manifest: () => (cachedManifest ??= readManifest(info.manifestPath)),
  };
}
