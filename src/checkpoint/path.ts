/** Where checkpoints live by default: $XDG_STATE_HOME/mailferry/<job>.journal. */
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileErrorReason, MailferryError } from '../errors.js';
import { mkdirsSync } from '../mkdirs.js';

/**
 * The user's home: $HOME when it is an absolute path, else the account's (a HOME set empty or
 * relative, by a cron line or a script, must not put state under the current directory).
 */
export function userHome(): string {
  // Set by bin/run.cjs when the system has no home to give (HOME unset, a uid with no account
  // entry: `docker run --user 12345`): HOME then holds a stand-in for oclif, never used here.
  if ((globalThis as { mailferryNoHome?: boolean }).mailferryNoHome) throw noHome();
  let h: string;
  try {
    h = homedir();
    if (!isAbsolute(h)) h = userInfo().homedir;
  } catch {
    throw noHome();
  }
  return utf8Path(process.env.HOME === h ? 'HOME' : `the home directory of user ${process.getuid?.() ?? '?'}`, h);
}

/**
 * A leading `~` or `~/` of a path is the home directory, where no shell expanded it: in a job file,
 * a `maildir:` URL, or after `=` in a flag (`--checkpoint=~/x`). Anything else is left as it is.
 */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') ? userHome() + p.slice(1) : p;
}

/**
 * Node reads the environment (and the account entry) as UTF-8 and turns each byte that is not into
 * U+FFFD: a state directory named in latin1 (`HOME=/home/j\xf6rg`) would silently be another
 * directory, made afresh, and two such names could be one. Refused, as such an argument is.
 */
function utf8Path(what: string, path: string): string {
  if (!path.includes('\uFFFD')) return path;
  throw new MailferryError('BAD_CONFIG', `${what} is not valid UTF-8 (${path.replace(/\uFFFD/g, '?')}): read as UTF-8 it names another directory`, {
    hint: 'set XDG_STATE_HOME to a directory whose path is UTF-8 (a symbolic link with a UTF-8 name will do)',
  });
}

function noHome(): MailferryError {
  return new MailferryError('BAD_CONFIG', `no home directory for mailferry's state: HOME is not set to an absolute path and user ${process.getuid?.() ?? '?'} has no account entry`, {
    hint: 'set XDG_STATE_HOME (or HOME) to a directory mailferry may keep its checkpoints and locks in',
  });
}

/** $XDG_STATE_HOME/mailferry; a relative XDG_STATE_HOME is ignored, as the XDG spec says. */
export function stateDir(): string {
  const xdg = process.env.XDG_STATE_HOME;
  const base = xdg && isAbsolute(xdg) ? utf8Path('XDG_STATE_HOME', xdg) : join(userHome(), '.local', 'state');
  return join(base, 'mailferry');
}

export function jobKey(source: string, dest: string): string {
  return createHash('sha256').update(`${source}\n${dest}`).digest('hex');
}

/** Create a directory for mailferry's state (0700), or say in one line why it cannot be (exit 3). */
export function makeStateDir(dir: string, what = 'the state directory'): string {
  try {
    mkdirsSync(dir, 0o700);
  } catch (err) {
    throw new MailferryError('BAD_CONFIG', `cannot create ${what} ${dir}: ${fileErrorReason(err)}`, {
      // The destination's lock is kept in the state directory whatever the checkpoint's path.
      // (A --checkpoint elsewhere would not do: the lock directory is made there next.)
      hint: what === 'the checkpoint directory' ? 'give a --checkpoint PATH in a directory you can write to' : 'set XDG_STATE_HOME (or HOME) to a writable directory',
    });
  }
  checkPrivate(dir, what);
  return dir;
}

/**
 * Checkpoints and locks decide what is copied: a directory another user can write to (not sticky)
 * or owns would let that user replace them (mark messages done, block every run, or plant links).
 */
function checkPrivate(dir: string, what: string): void {
  const st = statSync(dir);
  const uid = process.getuid?.();
  const foreign = uid !== undefined && st.uid !== uid && st.uid !== 0;
  const open = (st.mode & 0o002) !== 0 && (st.mode & 0o1000) === 0;
  if (foreign || open) {
    throw new MailferryError('BAD_CONFIG', `${what} ${dir} is ${foreign ? 'owned by another user' : 'writable by every user'}: its checkpoints and locks could be replaced`, {
      hint: 'use a directory of your own (chmod o-w, or another XDG_STATE_HOME / --checkpoint)',
    });
  }
}

/** Where a job's checkpoint is by default (nothing created: copy makes its directory, the dry run and verify only read). */
export function checkpointPathOf(source: string, dest: string): string {
  return join(stateDir(), `${jobKey(source, dest).slice(0, 16)}.journal`);
}

/**
 * The lock of a destination, beside the checkpoints: one run at a time writes into a destination,
 * whatever checkpoint each names (two spellings of one job, or two --checkpoint paths, would
 * otherwise both copy everything: a dedupe scan cannot see what the other run has in flight).
 */
export function destinationLockPath(destKey: string): string {
  const dir = makeStateDir(join(stateDir(), 'locks'), 'the lock directory');
  return join(dir, createHash('sha256').update(destKey).digest('hex').slice(0, 16));
}
