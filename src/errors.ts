/**
 * The one error catalogue. Every failure mailferry reports is a MailferryError with a code,
 * a scope (how much of the job it spoils), whether retrying can help, and the exit code the
 * CLI ends with. User errors carry a hint; bugs say they are bugs.
 */
import { constants as osConstants } from 'node:os';

export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  config: 3,
  auth: 4,
  network: 5,
  partial: 6,
  locked: 7,
  /** --max-runtime reached: stopped like an interrupt, the rerun continues. */
  timeUp: 8,
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * How much of the job a failure spoils. 'store': the destination as a whole takes nothing more
 * (an account over quota): the run stops, as for 'run'.
 */
export type Scope = 'message' | 'mailbox' | 'store' | 'run';

export type ErrorCode =
  | 'USAGE'
  | 'BAD_URL'
  | 'PASSWORD_IN_URL'
  | 'MISSING_SECRET'
  | 'BAD_CONFIG'
  | 'AUTH_FAILED'
  | 'TLS_FAILED'
  | 'TLS_UNAVAILABLE'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'PROTOCOL'
  | 'THROTTLED'
  | 'NO_SUCH_MAILBOX'
  | 'MAILBOX_FAILED'
  | 'BAD_MAILBOX_NAME'
  | 'MESSAGE_FAILED'
  | 'MESSAGE_TOO_LARGE'
  | 'DEST_IO'
  | 'DEST_FULL'
  | 'CHECKPOINT_LOCKED'
  | 'CHECKPOINT_UNREADABLE'
  | 'CHECKPOINT_MISMATCH'
  | 'CHECKPOINT_IO'
  | 'INTERRUPTED'
  | 'TIME_UP'
  | 'PARTIAL'
  | 'INTERNAL';

const EXIT_OF: Record<ErrorCode, ExitCode> = {
  USAGE: EXIT.usage,
  BAD_URL: EXIT.config,
  PASSWORD_IN_URL: EXIT.config,
  MISSING_SECRET: EXIT.config,
  BAD_CONFIG: EXIT.config,
  AUTH_FAILED: EXIT.auth,
  TLS_FAILED: EXIT.auth,
  TLS_UNAVAILABLE: EXIT.auth,
  NETWORK: EXIT.network,
  TIMEOUT: EXIT.network,
  PROTOCOL: EXIT.network,
  THROTTLED: EXIT.network,
  NO_SUCH_MAILBOX: EXIT.config,
  MAILBOX_FAILED: EXIT.partial,
  BAD_MAILBOX_NAME: EXIT.partial,
  MESSAGE_FAILED: EXIT.partial,
  MESSAGE_TOO_LARGE: EXIT.partial,
  DEST_IO: EXIT.config,
  // The destination account is over quota: like a full disk, nothing goes on until space is made.
  DEST_FULL: EXIT.config,
  CHECKPOINT_LOCKED: EXIT.locked,
  CHECKPOINT_UNREADABLE: EXIT.locked,
  CHECKPOINT_MISMATCH: EXIT.config,
  // The checkpoint cannot be written (a full disk): as a destination that cannot be.
  CHECKPOINT_IO: EXIT.config,
  INTERRUPTED: EXIT.interrupted,
  TIME_UP: EXIT.timeUp,
  PARTIAL: EXIT.partial,
  INTERNAL: EXIT.internal,
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['NETWORK', 'TIMEOUT', 'THROTTLED']);

export interface ErrorOptions {
  scope?: Scope;
  hint?: string;
  cause?: unknown;
  retryable?: boolean;
  /** Milliseconds a server asked us to wait before retrying (throttling). */
  retryAfterMs?: number;
  /** A message-scoped error about a message the thrower can name: its source key. */
  messageKey?: string;
  /** The command was never sent (its connection was already closed): no answer of a server is at fault. */
  unsent?: boolean;
  /** The server answered the command with a refusal (NO, BAD): nothing it asked for was done. */
  refused?: boolean;
  /**
   * The source found the message gone (deleted by another client since it was listed), having
   * checked: the engine skips it as vanished, as it does a message a fetch leaves out.
   */
  gone?: boolean;
}

export class MailferryError extends Error {
  readonly code: ErrorCode;
  readonly scope: Scope;
  readonly hint?: string;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly messageKey?: string;
  readonly unsent?: boolean;
  readonly refused?: boolean;
  readonly gone?: boolean;

  constructor(code: ErrorCode, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MailferryError';
    this.code = code;
    this.scope = opts.scope ?? 'run';
    this.hint = opts.hint;
    this.retryable = opts.retryable ?? RETRYABLE.has(code);
    this.retryAfterMs = opts.retryAfterMs;
    this.messageKey = opts.messageKey;
    if (opts.unsent) this.unsent = true;
    if (opts.refused) this.refused = true;
    if (opts.gone) this.gone = true;
  }

  get exitCode(): ExitCode {
    return EXIT_OF[this.code];
  }

  /** One line for a person: the message, then the hint if there is one. */
  oneLine(): string {
    return this.hint ? `${this.message} (${this.hint})` : this.message;
  }
}

/**
 * Messages found unreadable one after another, nothing readable between them, before the server
 * is taken to be failing as a whole (the listing of a folder, or a batch of bodies, then fails).
 */
export const UNREADABLE_IN_A_ROW = 10;

/**
 * A message the source's server cannot send or read: it fails alone, the rest of its folder is
 * copied, and the next run tries it again.
 */
export function unreadableMessage(message: string, messageKey?: string): MailferryError {
  return new MailferryError('MESSAGE_FAILED', message, {
    scope: 'message',
    retryable: false,
    messageKey,
    hint: "the rest of the folder is copied and the next run tries it again; the server's log says why",
  });
}

export function exitCodeOf(code: ErrorCode): ExitCode {
  return EXIT_OF[code];
}

/** EDQUOT's number here (122 on Linux): Node 20 has no name for it. */
const EDQUOT = osConstants.errno.EDQUOT as number | undefined;

/**
 * The errno code of a failed file operation. A disk quota reached comes from Node 20 without its
 * name ('Unknown system error -122' from a callback, 'UNKNOWN' from a sync call): known by its
 * number instead, so it is said as what it is.
 */
export function errnoCode(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  if (EDQUOT !== undefined && typeof e?.errno === 'number' && Math.abs(e.errno) === EDQUOT) return 'EDQUOT';
  return e?.code;
}

/** Why a file operation failed, in a few words (for a one-line error), from its errno code. */
export function fileErrorReason(err: unknown): string {
  switch (errnoCode(err)) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such directory';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'a file stands in the way';
    case 'EISDIR':
      return 'it is a directory';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left';
    case 'EFBIG':
      return 'file too large (a file size limit)';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EIO':
      return 'input/output error (EIO)';
    default:
      return (err as Error).message;
  }
}

/** Wrap anything thrown into a MailferryError; unknown errors are bugs (exit 1). */
export function toMailferryError(err: unknown): MailferryError {
  if (err instanceof MailferryError) return err;
  const sys = err as NodeJS.ErrnoException | undefined;
  // Not bugs: the world the run was started in. A relative path resolved in a working
  // directory removed since, and the process's open-file limit reached (`ulimit -n`) where no
  // driver expected it (a module loaded on first use).
  if (sys?.syscall === 'uv_cwd') {
    return new MailferryError('BAD_CONFIG', 'the current directory no longer exists, so a relative path cannot be resolved', { hint: 'run it from a directory that exists, or give absolute paths', cause: err });
  }
  if (sys?.code === 'EMFILE' || sys?.code === 'ENFILE') {
    return new MailferryError('BAD_CONFIG', `too many open files (${sys.code}): the process's limit is too low for this run`, { hint: 'raise it (ulimit -n 1024) or lower --concurrency', cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new MailferryError('INTERNAL', `internal error: ${message}`, {
    hint: 'this is a bug in mailferry; please report it with --log-file output',
    cause: err,
  });
}

/**
 * A failure that spoils one folder, not a whole verify or dry run (as copy fails a folder and
 * goes on): one a rerun meets again (a folder that cannot be read or named). A transient one
 * (the network) still ends them at exit 5: rerun.
 */
export function spoilsOneFolder(err: unknown): err is MailferryError {
  return err instanceof MailferryError && (err.scope === 'mailbox' || err.scope === 'message') && !err.retryable && err.code !== 'INTERRUPTED';
}
