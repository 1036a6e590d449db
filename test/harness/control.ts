// Operations on a running harness Dovecot that need only files and the doveadm binary, so they
// work both in the process that started Dovecot and in vitest worker processes.
import { spawn } from 'node:child_process';
import { chown, mkdir, rename, writeFile, access } from 'node:fs/promises';
import path from 'node:path';

export interface DovecotControl {
  dir: string;
  conf: string;
  /** One passwd-file per user, `${passwdDir}/${name}`. */
  passwdDir: string;
  /** uid/gid that owns the mail (Dovecot refuses mail access as root). */
  mailUid: number;
  mailGid: number;
}

export interface MailUser {
  name: string;
  password: string;
  home: string;
  maildir: string;
}

export interface DoveadmResult {
  stdout: Buffer;
  stderr: string;
}

// Dovecot's default auth_username_chars, minus '@' to keep paths boring.
const USER_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function homeOf(ctl: Pick<DovecotControl, 'dir'>, user: string): string {
  return path.join(ctl.dir, 'home', user);
}

export function maildirOf(ctl: Pick<DovecotControl, 'dir'>, user: string): string {
  return path.join(homeOf(ctl, user), 'Maildir');
}

/**
 * Add a user. Why a passwd-file per user instead of appending to one file: passwd-file re-reads a
 * changed file only if no lookup happened in the same second (db-passwd-file.c keeps
 * last_sync_time), so "append, then log in at once" fails. A path with %u is opened per lookup,
 * so a new user's file is seen immediately. For the same reason a user cannot be re-added with
 * another password: that call rejects.
 */
export async function addUser(ctl: DovecotControl, name: string, password = 'pass'): Promise<MailUser> {
  if (!USER_RE.test(name)) throw new Error(`bad user name ${JSON.stringify(name)}`);
  if (/[:\r\n\0]/.test(password)) throw new Error('password must not contain ":", CR, LF or NUL');
  const file = path.join(ctl.passwdDir, name);
  if (await exists(file)) throw new Error(`user ${name} already exists`);
  const home = homeOf(ctl, name);
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chown(home, ctl.mailUid, ctl.mailGid);
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, `${name}:{PLAIN}${password}:${ctl.mailUid}:${ctl.mailGid}::${home}::\n`, { mode: 0o644 });
  await rename(tmp, file);
  return { name, password, home, maildir: path.join(home, 'Maildir') };
}

/** Run `doveadm -c CONF ...args`; rejects with stderr on a non-zero exit. */
export function doveadm(ctl: Pick<DovecotControl, 'conf'>, args: string[], input?: Buffer): Promise<DoveadmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('doveadm', ['-c', ctl.conf, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr });
      else reject(new Error(`doveadm ${args.join(' ')} failed (${code ?? signal}): ${stderr.trim()}`));
    });
    child.stdin.on('error', () => undefined); // EPIPE if doveadm exits early; 'close' reports it
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}
