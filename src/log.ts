/**
 * The one logger factory. Logs go to stderr (human lines) and/or a --log-file (JSON lines),
 * never to stdout. Every registered secret is masked in every line, at every level.
 */
import { writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { mkdirsSync } from './mkdirs.js';
import { closePrivate, openPrivate } from './private-file.js';
import { printable, shownHeaders } from './strings.js';
import { fileErrorReason, MailferryError } from './errors.js';

/** Where a line for stderr goes: stderr, or what draws on the terminal meanwhile (the progress bars, above them). */
let lineSink: ((text: string) => void) | undefined;
function stderrLine(text: string): void {
  if (lineSink) lineSink(text);
  else process.stderr.write(text);
}

/** Lines for stderr go to `sink` until it is undefined again (the progress bars draw them above themselves). */
export function divertStderrLines(sink: ((text: string) => void) | undefined): void {
  lineSink = sink;
}

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

export type LogEntry = Record<string, unknown> | string;

export interface Logger {
  trace(entry: LogEntry): void;
  debug(entry: LogEntry): void;
  info(entry: LogEntry): void;
  warn(entry: LogEntry): void;
  error(entry: LogEntry): void;
  /** Whether an entry at `level` is written anywhere (so costly entries can be skipped). */
  enabled(level: Level): boolean;
  /** A logger that stamps every entry with `fields`. */
  child(fields: Record<string, unknown>): Logger;
}

const secrets = new Set<string>();
/** The secrets as given (not their escaped forms): looked for inside base64 runs too. */
const plain = new Set<string>();

/**
 * Register a secret (password, token): it is replaced by *** wherever it would be logged, also as
 * it looks escaped inside a JSON string or an IMAP quoted string (a server may echo a command),
 * as its UTF-8 bytes read one byte per character (how a server's echo of a non-ASCII password
 * is read back), and inside base64 (any SASL response a server echoes: PLAIN, XOAUTH2,
 * OAUTHBEARER, whatever else the line around the secret holds).
 */
export function registerSecret(secret: string): void {
  if (secret.length < 1) return;
  plain.add(secret);
  const bytewise = Buffer.from(secret, 'utf8').toString('latin1');
  for (const form of bytewise === secret ? [secret] : [secret, bytewise]) {
    secrets.add(form);
    const json = JSON.stringify(form).slice(1, -1);
    if (json !== form) secrets.add(json);
    const quoted = form.replace(/[\\"]/g, '\\$&');
    if (quoted !== form) secrets.add(quoted);
    // The JSON form of the quoted form: a server's echo inside a --json or --log-file line.
    const both = JSON.stringify(quoted).slice(1, -1);
    if (both !== quoted) secrets.add(both);
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Mask every registered secret. Secrets of 6+ characters are masked wherever they appear;
 * shorter ones only where they stand alone, so that a weak test password like "pass" does not
 * turn the word "password" into nonsense.
 */
export function redact(text: string): string {
  if (secrets.size === 0) return text;
  let out = text;
  for (const s of secrets) {
    if (!out.includes(s)) continue;
    out = s.length >= 6 ? out.split(s).join('***') : out.replace(new RegExp(`(?<![A-Za-z0-9])${escapeRe(s)}(?![A-Za-z0-9])`, 'g'), '***');
  }
  return out.replace(BASE64_RUN, (run) => (holdsSecret(Buffer.from(run, 'base64').toString('utf8')) ? '***' : run));
}

/** A run that may be base64 of something holding a secret (a SASL response is at least this long). */
const BASE64_RUN = /[A-Za-z0-9+/]{12,}={0,2}/g;

function holdsSecret(decoded: string): boolean {
  for (const s of plain) if (decoded.includes(s)) return true;
  return false;
}

/** A line for a terminal: secrets masked, a server's control characters shown as \xNN. */
export function forTerminal(text: string): string {
  return printable(redact(text));
}

export interface LogOptions {
  /** Lowest level written to stderr; 'off' writes nothing there. */
  stderrLevel: Level | 'off';
  /** Path of a JSON-lines log file taking every level from `fileLevel`. */
  file?: string;
  fileLevel?: Level;
  /** Warnings marked LOUD go to stderr even when stderrLevel is above warn (--quiet). */
  loud?: boolean;
  /** The log file stopped taking lines (a full disk): said once; the run goes on without it. */
  onFileError?: (message: string) => void;
}

interface Output {
  stderrMin: number;
  fileMin: number;
  fd?: number;
  file?: string;
  loudToStderr?: boolean;
  onFileError?: (message: string) => void;
}

/** An entry with this field set goes to the --log-file only (what stderr has already said otherwise). */
export const FILE_ONLY = 'fileOnly';
/** A warning with this field set is shown even under --quiet: what a cron job's owner must hear of. */
export const LOUD = 'loud';

function render(entry: LogEntry): Record<string, unknown> {
  if (typeof entry === 'string') return { msg: entry };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (v instanceof Error) out[k] = { message: v.message, code: (v as { code?: unknown }).code };
    else if (typeof v === 'bigint') out[k] = v.toString();
    else out[k] = v;
  }
  return out;
}

/**
 * JSON with every string value redacted before it is escaped (masking the JSON text instead could
 * turn a short numeric secret in a count into invalid JSON, and misses escaped forms).
 */
export function safeJson(obj: Record<string, unknown>): string {
  try {
    return JSON.stringify(obj, (k, v) => (typeof v === 'string' ? redact(shownHeaders(k, v) as string) : typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? `<${v.length} bytes>` : v));
  } catch {
    return JSON.stringify({ msg: redact(String(obj.msg ?? '')) });
  }
}

class SinkLogger implements Logger {
  constructor(
    private readonly out: Output,
    private readonly fields: Record<string, unknown>,
  ) {}

  enabled(level: Level): boolean {
    const n = ORDER[level];
    return n >= this.out.stderrMin || n >= this.out.fileMin;
  }

  private write(level: Level, entry: LogEntry): void {
    const n = ORDER[level];
    if (!this.enabled(level) && !(this.out.loudToStderr && n >= ORDER.warn)) return;
    const { [FILE_ONLY]: fileOnly, [LOUD]: loud, ...rec } = { ...this.fields, ...render(entry) };
    if ((n >= this.out.stderrMin || (loud && this.out.loudToStderr)) && !fileOnly) {
      const { msg, ...rest } = rec;
      const extra = Object.keys(rest).length ? ' ' + safeJson(rest) : '';
      stderrLine(forTerminal(`mailferry: ${level === 'info' ? '' : level + ': '}${String(msg ?? '')}${extra}`) + '\n');
    }
    if (this.out.fd !== undefined && n >= this.out.fileMin) {
      try {
        writeSync(this.out.fd, safeJson({ time: new Date().toISOString(), level, ...rec }) + '\n');
      } catch (err) {
        // A full disk, an I/O error: the log stops, the run (and its result) does not.
        this.out.fd = undefined;
        this.out.fileMin = Infinity;
        const message = `cannot write --log-file ${this.out.file} (${fileErrorReason(err)}): nothing more is logged there`;
        if (this.out.onFileError) this.out.onFileError(message);
        else stderrLine(forTerminal(`mailferry: warning: ${message}`) + '\n');
      }
    }
  }

  trace(e: LogEntry): void { this.write('trace', e); }
  debug(e: LogEntry): void { this.write('debug', e); }
  info(e: LogEntry): void { this.write('info', e); }
  warn(e: LogEntry): void { this.write('warn', e); }
  error(e: LogEntry): void { this.write('error', e); }
  child(fields: Record<string, unknown>): Logger {
    return new SinkLogger(this.out, { ...this.fields, ...fields });
  }
}

let openFds: number[] = [];

export function createLogger(opts: LogOptions): Logger {
  const out: Output = {
    stderrMin: opts.stderrLevel === 'off' ? Infinity : ORDER[opts.stderrLevel],
    fileMin: opts.file ? ORDER[opts.fileLevel ?? 'debug'] : Infinity,
    file: opts.file,
    loudToStderr: opts.loud,
    onFileError: opts.onFileError,
  };
  if (opts.file) {
    try {
      // Its directory as the checkpoint's is: made (0700) when missing, so a new job's log can start.
      mkdirsSync(dirname(resolve(opts.file)), 0o700);
      out.fd = openPrivate(opts.file, 'append');
    } catch (err) {
      throw new MailferryError('BAD_CONFIG', `cannot write --log-file ${opts.file}: ${fileErrorReason(err)}`, { hint: 'choose a log file in a directory you can write to' });
    }
    openFds.push(out.fd);
  }
  return new SinkLogger(out, {});
}

export function closeLogs(): void {
  for (const fd of openFds) {
    try {
      closePrivate(fd);
    } catch {
      // its last lines could not be written (said when they were not)
    }
  }
  openFds = [];
}

/** A logger that drops everything (library use, tests). */
export const silentLogger: Logger = createLogger({ stderrLevel: 'off' });
