/**
 * --source-password-command / --dest-password-command: run a command through the shell and take
 * its standard output (one trailing newline stripped) as the password or token. Its output is
 * never echoed, logged or put in an error: a failure names only the exit status.
 */
import { isUtf8 } from 'node:buffer';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { procStat } from '../proc.js';
import { MailferryError } from '../errors.js';
import type { Role } from '../engine/endpoint.js';
import { atExit } from '../at-exit.js';

const TIMEOUT_MS = 120_000;
/** How long the output pipe is read after the command has exited. */
const EXIT_GRACE_MS = 500;

/** Linux: every descendant of `pid` (its children's children too), from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const ppid = Number(procStat(name)?.[1]); // undefined: gone meanwhile
      if (ppid) (children.get(ppid) ?? children.set(ppid, []).get(ppid)!).push(Number(name));
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) (out.push(c), walk(c));
  };
  walk(pid);
  return out;
}

export function runPasswordCommand(role: Role, command: string, timeoutMs = TIMEOUT_MS): Promise<string> {
  const flag = `--${role}-password-command`;
  const failed = (why: string) =>
    new MailferryError('MISSING_SECRET', `${flag} ${why}`, { hint: 'run the command yourself to see why; its output is never shown by mailferry' });
  return new Promise((resolve, reject) => {
    // The command gets no password of ours: neither side's variable is in its environment.
    const env = { ...process.env };
    delete env.MAILFERRY_SOURCE_PASSWORD;
    delete env.MAILFERRY_DEST_PASSWORD;
    // Its stdin is the terminal, for a command that asks there; never a pipe of the caller's (a
    // script's `while read` loop), which it could swallow.
    const child = spawn('/bin/sh', ['-c', command], { stdio: [process.stdin.isTTY ? 'inherit' : 'ignore', 'pipe', 'pipe'], env });
    // Should mailferry end while it runs (Ctrl-C), the command and what it started end too.
    const killAll = () => {
      for (const pid of [child.pid, ...(child.pid ? descendants(child.pid) : [])]) {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    child.on('close', atExit(killAll));
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.resume(); // drained, never shown: a helper may print secrets there too
    // Out of time: the shell and whatever it started (a grandchild holding the pipe open would
    // otherwise keep 'close' from ever coming), then no more waiting for the pipes.
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      clearTimeout(grace);
      killAll();
      child.stdout.destroy();
      child.stderr.destroy();
      reject(failed(`gave no answer within ${timeoutMs / 1000} s and was stopped`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(failed(`could not be started (${(err as NodeJS.ErrnoException).code ?? 'error'})`));
    });
    // The command has ended: what it printed is in the pipe. A process it left running (an agent
    // it started, `gpg-agent`, say) may hold the pipe open for good, so 'close' is not waited for
    // beyond a moment; that process is the command's own, left as it is.
    child.on('exit', (code, signal) => {
      grace = setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        settle(code, signal);
      }, EXIT_GRACE_MS);
    });
    child.on('close', (code, signal) => settle(code, signal));
    const settle = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      clearTimeout(grace);
      if (signal) return reject(failed(`was killed by ${signal}`));
      if (code !== 0) return reject(failed(`failed with exit status ${code}`));
      const bytes = Buffer.concat(out);
      if (!isUtf8(bytes)) return reject(notUtf8(`--${role}-password-command printed a password that is not valid UTF-8`));
      const value = bytes.toString('utf8').replace(/\r?\n$/, '');
      if (!value) return reject(failed('printed nothing'));
      if (/[\r\n]/.test(value)) return reject(failed('printed more than one line'));
      resolve(value);
    };
  });
}

/**
 * A password saved in another encoding (latin1 `Grün`): read as UTF-8 its bytes become U+FFFD, and
 * the login would send other bytes than the password and fail as a wrong one. Said as it is.
 */
export function notUtf8(what: string): MailferryError {
  return new MailferryError('MISSING_SECRET', `${what} (saved in another encoding?)`, { hint: 'save it in UTF-8: the password is sent as UTF-8' });
}
