// The peers: configurations (ported from /work/shared/bench/peers.sh) and their commands.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Invocation } from './measure.js';

export interface Server {
  host: string;
  imap: number;
  pop3: number;
}

const secret = (file: string, text: string): Promise<void> => writeFile(file, text, { mode: 0o600 });

/** An mbsync IMAP account and store named `name`, logging in as `user`. */
const mbsyncAccount = (s: Server, name: string, user: string): string =>
  `IMAPAccount ${name}\nHost ${s.host}\nPort ${s.imap}\nUser ${user}\nPass pass\nSSLType None\nAuthMechs LOGIN\n\nIMAPStore ${name}\nAccount ${name}\n`;

/** mbsync's pull channel from :far: to :near:, every folder, creating them near. */
const mbsyncPull = (syncState: string): string => `Channel c
Far :far:
Near :near:
Patterns *
Create Near
Sync Pull
SyncState ${syncState}
`;

/** mbsync pulling every folder of `user` into the Maildir `dir/mail`. It fsyncs every message (FSync yes). */
export async function mbsyncToMaildir(dir: string, s: Server, user: string): Promise<Invocation> {
  await mkdir(path.join(dir, 'mail'), { recursive: true });
  const rc = path.join(dir, 'mbsyncrc');
  await secret(rc, `${mbsyncAccount(s, 'far', user)}
MaildirStore near
Path ${dir}/mail/
Inbox ${dir}/mail/INBOX
SubFolders Verbatim

${mbsyncPull('*')}`);
  return { cmd: 'mbsync', args: ['-c', rc, '-q', 'c'] };
}

/**
 * mbsync pushing the Maildir++ tree `src` (its near store, Dovecot's layout: INBOX at the root,
 * folders as ".name") to `to`, creating the folders there. It keeps its state in the tree.
 */
export async function mbsyncPush(dir: string, s: Server, src: string, to: string): Promise<Invocation> {
  const rc = path.join(dir, 'mbsyncrc');
  await secret(rc, `${mbsyncAccount(s, 'far', to)}
MaildirStore near
Inbox ${src}/
SubFolders Maildir++

Channel c
Far :far:
Near :near:
Patterns *
Create Far
Sync Push
SyncState *
`);
  return { cmd: 'mbsync', args: ['-c', rc, '-q', 'c'] };
}

export async function mbsyncToImap(dir: string, s: Server, from: string, to: string): Promise<Invocation> {
  await mkdir(path.join(dir, 'state'), { recursive: true });
  const rc = path.join(dir, 'mbsyncrc');
  await secret(rc, `${mbsyncAccount(s, 'far', from)}\n${mbsyncAccount(s, 'near', to)}\n${mbsyncPull(`${dir}/state/`)}`);
  return { cmd: 'mbsync', args: ['-c', rc, '-q', 'c'] };
}

/** interimap: `to` is its "local", `from` its "remote"; a fresh database copies everything. */
export async function interimap(dir: string, s: Server, from: string, to: string): Promise<Invocation> {
  await mkdir(dir, { recursive: true });
  const conf = path.join(dir, 'config');
  const side = (name: string, user: string): string =>
    `[${name}]\ntype = imap\nhost = ${s.host}\nport = ${s.imap}\nSTARTTLS = NO\nusername = ${user}\npassword = pass\n`;
  await secret(conf, `database = ${dir}/interimap.db\nlist-mailbox = *\n\n${side('local', to)}\n${side('remote', from)}`);
  return { cmd: 'interimap', args: [`--config=${conf}`] };
}

/** mpop: every message of `user`'s POP3 maildrop into the Maildir `dir/mail`, kept on the server. */
export async function mpop(dir: string, s: Server, user: string): Promise<Invocation> {
  for (const sub of ['cur', 'new', 'tmp']) await mkdir(path.join(dir, 'mail', sub), { recursive: true });
  const rc = path.join(dir, 'mpoprc');
  await secret(rc, `account default
host ${s.host}
port ${s.pop3}
tls off
auth user
user ${user}
password pass
keep on
only_new on
uidls_file ${dir}/uidls
delivery maildir ${dir}/mail
`);
  await chmod(rc, 0o600);
  return { cmd: 'mpop', args: ['-C', rc, '-q', 'default'] };
}

export async function offlineimap(dir: string, s: Server, user: string): Promise<Invocation> {
  await mkdir(path.join(dir, 'mail'), { recursive: true });
  const rc = path.join(dir, 'offlineimaprc');
  await secret(rc, `[general]
accounts = a
metadata = ${dir}/meta
ui = quiet

[Account a]
localrepository = L
remoterepository = R

[Repository L]
type = Maildir
localfolders = ${dir}/mail

[Repository R]
type = IMAP
remotehost = ${s.host}
remoteport = ${s.imap}
remoteuser = ${user}
remotepass = pass
ssl = no
starttls = no
readonly = True
`);
  return { cmd: 'offlineimap', args: ['-c', rc, '-o', '-u', 'quiet'] };
}

/** "isync 1.4.4", or undefined when the tool is not installed. */
export function peerVersion(tool: 'mbsync' | 'mpop' | 'interimap' | 'offlineimap'): string | undefined {
  try {
    const out = execFileSync(tool, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const first = out.split('\n')[0]!.trim();
    return first.replace(/^\S*\/(interimap)/, '$1');
  } catch {
    return undefined;
  }
}
