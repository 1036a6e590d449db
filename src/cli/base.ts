/**
 * The base of every command: one JSON envelope on stdout ({status, result|error, warnings}),
 * exit codes from the one table, user errors as one line with a hint, bugs said to be bugs.
 */
import { Command, type Interfaces } from '@oclif/core';
import { expandHome } from '../checkpoint/path.js';
import { PATH_FLAGS } from './flags.js';
import { EXIT, fileErrorReason, MailferryError, toMailferryError } from '../errors.js';
import { besideJson } from './beside-json.js';
import { closeLogs, createLogger, FILE_ONLY, forTerminal, redact, safeJson, type Logger } from '../log.js';

// As oclif's parser types them (not exported by name).
type FlagOutput = { [name: string]: any };
type ArgOutput = { [name: string]: any };
type Input<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput> = Interfaces.Input<F, B, A>;
type ParserOutput<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput> = Interfaces.ParserOutput<F, B, A>;

/**
 * Node decodes the command line as UTF-8 and turns each byte that is not into U+FFFD: a path
 * named in latin1 (`maildir:/srv/lat\xe9n`) would silently become another path. Refused.
 */
function refuseUndecodable(argv: string[]): void {
  const bad = argv.find((a) => a.includes('\uFFFD'));
  if (bad === undefined) return;
  throw new MailferryError('USAGE', `an argument is not valid UTF-8 (${bad.replace(/\uFFFD/g, '?')}): it would name something else than what was typed`, {
    hint: 'give paths and names in UTF-8: rename a latin1 directory, or reach it through a symbolic link with a UTF-8 name',
  });
}

/** Signals that stop a run: Ctrl-C, a service manager or `kill`, the terminal closed. */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** The same signal again within this is the same stop delivered twice, not a second request. */
const ECHO_MS = 250;

export interface OutputSettings {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  logFile?: string;
}

export interface CommandOutcome {
  /** The `result` of the JSON envelope. */
  result: unknown;
  /** Lines for a person, on stdout. */
  human: string[];
  exitCode: number;
}

export abstract class BaseCommand extends Command {
  protected logger: Logger = createLogger({ stderrLevel: 'warn' });
  protected warnings: string[] = [];
  protected output: OutputSettings = { json: false, quiet: false, verbose: false };
  /** Error codes that end the run without a line on stderr (still in --json and --log-file). */
  protected silentErrors = new Set<string>();

  /** Parse, do the work, say what happened. */
  protected abstract execute(): Promise<CommandOutcome>;

  /** oclif's parse, with a leading `~/` of a path flag's value made the home directory (flags.ts#PATH_FLAGS). */
  protected async parse<F extends FlagOutput, B extends FlagOutput, A extends ArgOutput>(options?: Input<F, B, A>, argv?: string[]): Promise<ParserOutput<F, B, A>> {
    const out = await super.parse(options, argv);
    const flags = out.flags as Record<string, unknown>;
    for (const name of PATH_FLAGS) {
      const v = flags[name];
      if (typeof v === 'string') flags[name] = expandHome(v);
      else if (Array.isArray(v)) flags[name] = v.map((x) => (typeof x === 'string' ? expandHome(x) : x));
    }
    return out;
  }

  /** Set up output from parsed flags; commands call this right after parse(). */
  protected setOutput(o: OutputSettings): void {
    this.output = o;
    if (o.logFile !== undefined && o.logFile.trim() === '') throw new MailferryError('USAGE', '--log-file needs a file name, not an empty string', { hint: 'leave --log-file out, or name a file' });
    // Checked here, on the values: oclif's own check counts --no-verbose as --verbose.
    if (o.quiet && o.verbose) throw new MailferryError('USAGE', '--quiet and --verbose cannot both be on', { hint: 'keep one of them' });
    besideJson({ '--log-file': o.logFile }, o.json);
    const warnings = this.warnings;
    const base = createLogger({
      stderrLevel: o.quiet ? 'error' : o.verbose ? 'debug' : o.json ? 'error' : 'warn',
      loud: o.quiet && !o.json,
      file: o.logFile,
      fileLevel: 'debug',
      onFileError: (message) => {
        warnings.push(redact(message));
        if (!o.json) process.stderr.write(forTerminal(`mailferry: warning: ${message}`) + '\n');
      },
    });
    const wrap = (l: Logger): Logger => ({
      trace: (e) => l.trace(e),
      debug: (e) => l.debug(e),
      info: (e) => l.info(e),
      warn: (e) => {
        warnings.push(redact(typeof e === 'string' ? e : String(e.msg ?? '')));
        l.warn(e);
      },
      error: (e) => l.error(e),
      enabled: (lv) => l.enabled(lv),
      child: (f) => wrap(l.child(f)),
    });
    this.logger = wrap(base);
    // The first line of a --log-file (argv is not logged: a password command's text may hold a secret).
    this.logger.info({ msg: `mailferry ${this.id ?? ''} started`, version: this.config.version, pid: process.pid });
  }

  private wantsJson(): boolean {
    return this.output.json || this.argv.includes('--json');
  }

  /**
   * Set by a command while it can stop gracefully on a signal (copy: finishes the messages in
   * flight); otherwise a signal ends the command at once with exit 130 (and the JSON envelope).
   */
  protected onSignal?: (sig: NodeJS.Signals) => void;

  /** End now, interrupted: the error line or envelope, the log, exit 130. */
  protected interruptNow(message = 'interrupted', code: 'INTERRUPTED' | 'TIME_UP' = 'INTERRUPTED'): never {
    const err = new MailferryError(code, message, { scope: 'run' });
    this.fail(err);
    closeLogs();
    process.exit(err.exitCode);
  }

  async run(): Promise<void> {
    (globalThis as { mailferrySignals?: boolean }).mailferrySignals = true;
    let last: { sig: NodeJS.Signals; at: number } | undefined;
    const handler = (sig: NodeJS.Signals) => {
      // One stop sent twice at once is one stop, not "again": coreutils `timeout` signals the
      // process, then its process group (which holds it) a moment later; so do some supervisors.
      const now = Date.now();
      if (last && last.sig === sig && now - last.at < ECHO_MS) return;
      last = { sig, at: now };
      if (this.onSignal) this.onSignal(sig);
      else this.interruptNow(`interrupted (${sig})`);
    };
    // SIGHUP: the terminal it ran in was closed; stopped like Ctrl-C (the checkpoint saved).
    for (const sig of STOP_SIGNALS) process.on(sig, handler);
    try {
      refuseUndecodable(this.argv);
      const out = await this.execute();
      let printed = true;
      if (this.wantsJson()) {
        printed = this.print(safeJson({ status: out.exitCode, result: out.result, warnings: this.warnings }) + '\n');
      } else if (!this.output.quiet || out.exitCode !== EXIT.ok) {
        printed = this.print(out.human.map((line) => forTerminal(line) + '\n').join(''));
      }
      // The work is done, but its result could not be said: not a success for a script.
      if (!this.stdoutFailed || !process.exitCode) process.exitCode = printed || out.exitCode !== EXIT.ok ? out.exitCode : EXIT.config;
      this.logger.info({ msg: `finished: exit ${process.exitCode}`, exit: process.exitCode });
    } catch (err) {
      this.fail(err);
    } finally {
      for (const sig of STOP_SIGNALS) process.off(sig, handler);
      closeLogs();
    }
  }

  /** oclif routes parse errors (unknown flags, bad values) here. */
  async catch(err: Error & { oclif?: { exit?: number } }): Promise<void> {
    if (err.oclif?.exit === 0) throw err; // --help, --version
    this.fail(err);
  }

  private fail(err: unknown): void {
    const e = this.asMailferryError(err);
    const status = e.exitCode;
    if (this.wantsJson()) {
      this.print(safeJson({ status, error: { code: e.code, message: e.message, hint: e.hint }, warnings: this.warnings }) + '\n');
    } else if (!this.silentErrors.has(e.code)) {
      process.stderr.write(forTerminal(`mailferry: error: ${e.oneLine()}`) + '\n');
    }
    // Into --log-file too (only there: stderr has the error line), so a log says how a run ended.
    this.logger.error({ msg: `run failed: ${e.oneLine()}`, code: e.code, exit: status, [FILE_ONLY]: true });
    if (e.code === 'INTERNAL') this.logger.debug({ msg: 'internal error', stack: (e.cause as Error | undefined)?.stack });
    process.exitCode = status;
  }

  /**
   * Standard output, which may be a file on a full disk: its write fails (thrown, or as an
   * 'error' event a moment later), said once on stderr; the exit is then 3 where it would have
   * been 0 (a script must not take a result it did not get for success). A reader that went away
   * (EPIPE: `| head`) is no failure. Returns false when the text was not written.
   */
  private print(text: string): boolean {
    if (this.stdoutFailed) return false;
    if (!this.watchingStdout) {
      this.watchingStdout = true;
      // oclif's own listener throws any error but EPIPE (a stack trace, exit 1): replaced.
      process.stdout.removeAllListeners('error');
      process.stdout.on('error', (err) => this.stdoutFailure(err));
    }
    try {
      process.stdout.write(text);
      return true;
    } catch (err) {
      this.stdoutFailure(err);
      return false;
    }
  }

  private stdoutFailed = false;
  private watchingStdout = false;

  private stdoutFailure(err: unknown): void {
    if (this.stdoutFailed) return;
    this.stdoutFailed = true;
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
    process.stderr.write(`mailferry: error: cannot write the result to standard output (${fileErrorReason(err)})\n`);
    if (!process.exitCode) process.exitCode = EXIT.config;
  }

  private asMailferryError(err: unknown): MailferryError {
    if (err instanceof MailferryError) return err;
    const o = err as { oclif?: { exit?: number }; message?: string; name?: string };
    if (o?.oclif?.exit === 2 || /Error$/.test(o?.name ?? '') && o?.oclif) {
      // oclif's note about flags that take several values ("provide all arguments before that
      // flag") is not true of mailferry's (each takes one value per use, anywhere): dropped.
      const msg = (o.message ?? 'bad arguments')
        .split('\n')
        .map((s) => s.trim())
        .filter((s) => s && s !== 'See more help with --help' && !/^Note: --\S+ allows multiple values|^Alternatively, you can use "--"/.test(s));
      // oclif opens some messages with a heading ("The following error occurred:", "Missing 1
      // required arg:"): the heading is dropped or joined to what it introduces, so the one line says it.
      // `--dry-run=yes`: oclif takes the boolean and then misreads the arguments ("Unexpected
      // argument: DEST"): the flag is named instead.
      const flags = (this.constructor as { flags?: Record<string, { type?: string }> }).flags ?? {};
      const valued = this.argv.map((a) => /^--([a-z][a-z-]*)=/.exec(a)).find((m) => m && flags[m[1]!]?.type === 'boolean');
      if (valued) return new MailferryError('USAGE', `--${valued[1]} takes no value ('${valued[0]}…'): it is on when given`, { hint: `write --${valued[1]}, or leave it out` });
      let first = (msg.shift() ?? 'bad arguments').replace(/^Error:\s*/, '');
      // "Missing 1 required arg:" then each argument's name and its description, wrapped: said
      // from the command's own definition of them, whole.
      if (/^Missing \d+ required args?:$/.test(first)) {
        const defined = (this.constructor as { args?: Record<string, { required?: boolean; description?: string }> }).args ?? {};
        const rest = ` ${msg.join(' ')} `;
        const missing = Object.entries(defined).filter(([name, a]) => a.required && rest.includes(` ${name} `));
        if (missing.length > 0) {
          return new MailferryError('USAGE', `missing ${missing.map(([name, a]) => `${name.toUpperCase()}${a.description ? `: ${a.description}` : ''}`).join('; ')}`, {
            hint: `see: mailferry ${(this.id ?? '').replace(/:/g, ' ')} --help`,
          });
        }
      }
      if (/^The following errors? occurred:$/.test(first) && msg.length) first = msg.shift()!;
      else if (first.endsWith(':') && msg.length) first = `${first} ${msg.shift()!.replace(/\s{2,}/g, ' — ')}`;
      return new MailferryError('USAGE', first, { hint: msg.join(' ') || `see: mailferry ${(this.id ?? '').replace(/:/g, ' ')} --help` });
    }
    return toMailferryError(err);
  }
}
