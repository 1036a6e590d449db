import { Args, Flags } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../cli/base.js';
import { configFlag, connectionFlags, filterFlags, outputFlags, retriesFlag, selectionFlags } from '../cli/flags.js';
import { mergeJobFile } from '../cli/job-file.js';
import { netConfigFrom, selectionFrom } from '../cli/options.js';
import { counted, headerText } from '../strings.js';
import { notFitting, renderPlan } from '../cli/render.js';
import { formatBytes, progressView } from '../cli/progress.js';
import { openReport } from '../cli/report.js';
import { crashHook } from '../cli/crash-hook.js';
import { EXIT } from '../errors.js';
import { LOUD } from '../log.js';
import { parseSize } from '../engine/filters.js';
import { longTimeout } from '../retry.js';
import { distinctFiles, filesRead, outsideMaildirs, parseDuration } from '../cli/options.js';
import { besideJson } from '../cli/beside-json.js';

export default class Copy extends BaseCommand {
  static summary = 'Copy every folder of SOURCE into DEST: one-way, additive, resumable, deduplicated by Message-ID.';

  static description = `Endpoints are URLs: imap://user@host[:port][/folder], imaps://… (TLS, port 993), maildir:PATH,
and as a source pop3://user@host[:port] or pop3s://… (TLS, port 995). A folder in the source URL copies
just that folder; a folder in an IMAP destination URL is a prefix (POP3 mail lands in it). Passwords come from $MAILFERRY_SOURCE_PASSWORD /
$MAILFERRY_DEST_PASSWORD, --source-password-file / --dest-password-file, --source-password-command /
--dest-password-command, or a no-echo prompt on a terminal — never from the command line.
Run it again and it copies only what is new; interrupted runs resume from the checkpoint.
--dry-run prints the plan and touches nothing; --config FILE reads a YAML/JSON job file whose keys
are these flags' long names (flags given override it).

Exit codes: 0 ok, 1 internal error (a bug), 2 usage, 3 configuration, 4 authentication/TLS, 5 network (rerun to resume),
6 partial (some messages failed; listed), 7 checkpoint locked, 8 stopped at --max-runtime (resumable),
130 interrupted (resumable).`;

  static examples = [
    'MAILFERRY_SOURCE_PASSWORD=… <%= config.bin %> copy imaps://alice@mail.example.org maildir:/srv/backup/alice',
    "<%= config.bin %> copy imaps://alice@mail.example.org maildir:~/Mail --folder 'Archive/*' --exclude Junk",
    '<%= config.bin %> copy imaps://alice@mail.example.org/INBOX maildir:/srv/backup/alice-inbox --json',
    '<%= config.bin %> copy pop3s://alice@pop.example.org imaps://alice@imap.example.org/Migrated --delete-source',
    '<%= config.bin %> copy imaps://alice@old.example.org imaps://alice@new.example.org',
    '<%= config.bin %> copy maildir:/srv/backup/alice imaps://alice@new.example.org',
    "<%= config.bin %> copy imaps://alice@mail.example.org maildir:/srv/backup/alice --source-password-command 'pass show mail/alice'",
    "<%= config.bin %> copy imaps://alice@old.example.org maildir:/srv/alice --since 2024-01-01 --max-size 25M --map 'Sent Items=Sent' --dry-run",
    '<%= config.bin %> copy --config /etc/mailferry/alice.yaml --quiet',
  ];

  static args = {
    source: Args.string({ description: 'where mail comes from (imap://, imaps://, pop3://, pop3s://, maildir:PATH)' }),
    dest: Args.string({ description: 'where it goes (imap://, imaps://, maildir:PATH)' }),
  };

  static flags = {
    ...connectionFlags,
    ...selectionFlags,
    ...filterFlags,
    ...configFlag,
    'dry-run': Flags.boolean({ char: 'n', description: 'show the plan (folders, counts, bytes to copy; what is skipped and why) and touch nothing', default: false, allowNo: true }),
    concurrency: Flags.integer({ char: 'j', description: 'parallel connections to the source (1–64)', default: 4, min: 1, max: 64, helpValue: 'N' }),
    checkpoint: Flags.string({ description: 'checkpoint file (default: under $XDG_STATE_HOME/mailferry, keyed by source and destination)', helpValue: 'PATH' }),
    restart: Flags.boolean({ description: 'start the checkpoint over (the destination is still deduplicated)', default: false, allowNo: true }),
    dedupe: Flags.option({ options: ['message-id', 'content', 'none'] as const, default: 'message-id', description: 'how a message already in the destination is recognised' })(),
    ...retriesFlag,
    'max-message-size': Flags.string({ description: 'largest message to copy (e.g. 256M); larger ones are not fetched and are reported as failed', default: '256M', helpValue: 'SIZE' }),
    report: Flags.string({ description: 'write one NDJSON line per message outcome to FILE', helpValue: 'FILE' }),
    'skip-if-locked': Flags.boolean({ description: 'when another run holds the checkpoint or is copying into DEST, exit 7 without printing anything (cron: no mail for an overlap; --log-file records it)', default: false, allowNo: true }),
    'max-runtime': Flags.string({ description: 'stop after DURATION (e.g. 2h, 45m, 90s): finish the messages in flight, save the checkpoint, exit 8; the next run continues', helpValue: 'DURATION' }),
    'delete-source': Flags.boolean({ description: 'POP3 source: delete each message once its copy is durable in DEST (default: mail stays on the server)', default: false, allowNo: true }),
    ...outputFlags,
  };

  protected async execute(): Promise<CommandOutcome> {
    const parsed = await this.parse(Copy);
    const { args, flags } = await mergeJobFile(parsed.flags.config, { flags: Copy.flags, args: ['source', 'dest'] }, parsed);
    // Before any of them is opened: --report truncates its file, --log-file appends to its own.
    distinctFiles(
      { '--checkpoint': flags.checkpoint, '--report': flags.report, '--log-file': flags['log-file'] },
      filesRead(flags, parsed.flags.config),
    );
    outsideMaildirs({ '--checkpoint': flags.checkpoint, '--report': flags.report, '--log-file': flags['log-file'] }, [args.source, args.dest]);
    besideJson({ '--report': flags.report }, flags.json);
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    if (flags['skip-if-locked']) this.silentErrors.add('CHECKPOINT_LOCKED');
    const cfg = {
      source: args.source!,
      dest: args.dest!,
      ...netConfigFrom(flags, this.logger, args),
      ...selectionFrom(flags),
      concurrency: flags.concurrency,
      checkpoint: flags.checkpoint,
      restart: flags.restart,
      dedupe: flags.dedupe,
      retries: flags.retries,
      maxMessageBytes: parseSize('max-message-size', flags['max-message-size']),
      deleteSource: flags['delete-source'],
    };
    const maxRuntime = flags['max-runtime'] === undefined ? undefined : parseDuration('max-runtime', flags['max-runtime']);
    if (flags['dry-run']) {
      // From a job file, a dry run is easy to leave in by mistake: a cron job that never copies.
      if (!parsed.flags['dry-run']) this.logger.warn({ msg: `${flags.config} sets dry-run: nothing is copied`, [LOUD]: true });
      if (flags.report) this.logger.warn({ msg: '--report is not written by a dry run' });
      const { planCopy } = await import('../engine/dry-run.js');
      const plan = await planCopy(cfg, { log: this.logger });
      const full = notFitting(plan);
      if (full) this.logger.warn({ msg: full, [LOUD]: true });
      const human = renderPlan(plan);
      // The plan in --log-file too, so a dry run leaves a trace there like a copy does.
      for (const line of human) this.logger.info({ msg: line.trim() });
      // A plan with failures in it says so as the copy would: partial (exit 6).
      const wouldFail = plan.failedFolders + plan.tooLarge + plan.unreadable > 0;
      return { result: plan, human, exitCode: wouldFail ? EXIT.partial : EXIT.ok };
    }
    const { runCopyJob } = await import('../engine/job.js');
    const crash = crashHook();
    const view = progressView({ json: flags.json, quiet: flags.quiet });
    const report = openReport(flags.report, (msg) => this.logger.warn({ msg, [LOUD]: true }));
    const abort = new AbortController();
    let signals = 0;
    // Asked to stop, the run finishes what is in flight; should that not end (a server that never
    // finishes an answer), it stops at once after twice --timeout, as a second signal would.
    const graceMs = 2 * flags.timeout * 1000;
    let grace: NodeJS.Timeout | undefined;
    const stopWithin = (why: string, code: 'INTERRUPTED' | 'TIME_UP') =>
      (grace ??= setTimeout(() => this.interruptNow(`${why}, and what was in flight did not finish within ${graceMs / 1000} s: stopped at once (the checkpoint has every message it recorded; rerun to resume)`, code), graceMs).unref());
    // Until the copy begins (passwords, logins, listings) nothing is in flight: a signal or
    // --max-runtime ends the run at once (exit 130 or 8), not after a login that may never come.
    let copying = false;
    this.onSignal = (sig) => {
      if (!copying) this.interruptNow(`interrupted (${sig}) before anything was copied`);
      signals++;
      if (signals > 1) this.interruptNow(`${sig} again: stopped at once (the checkpoint has every message it recorded; rerun to resume)`);
      this.logger.warn({ msg: `${sig}: finishing messages in flight and saving the checkpoint (again to quit at once)` });
      abort.abort();
      stopWithin(sig, 'INTERRUPTED');
    };
    let timeUp = false;
    const timer =
      maxRuntime === undefined
        ? undefined
        : longTimeout(() => {
            if (abort.signal.aborted) return;
            if (!copying) this.interruptNow(`--max-runtime ${flags['max-runtime']} reached before anything was copied`, 'TIME_UP');
            timeUp = true;
            this.logger.warn({ msg: `--max-runtime ${flags['max-runtime']} reached: finishing messages in flight and saving the checkpoint` });
            abort.abort();
            stopWithin(`--max-runtime ${flags['max-runtime']} reached`, 'TIME_UP');
          }, maxRuntime * 1000);
    const started = Date.now();
    try {
      const r = await runCopyJob(
        cfg,
        { log: this.logger, signal: abort.signal, onCopying: () => (copying = true), onLocked: () => report.begin(), onEvent: (e) => (view.onEvent(e), crash(e)), onOutcome: (o) => report.write(o) },
      );
      const secs = (Date.now() - started) / 1000;
      const filtered = r.folders.reduce((n, f) => n + (f.filtered ?? 0), 0);
      // A deletion that failed after a whole copy: its own exit (5 for a lost connection), unless the copy's is graver.
      const copyExit = r.interrupted ? (timeUp ? EXIT.timeUp : EXIT.interrupted) : r.failed > 0 || r.deleteRefused || r.folders.some((f) => f.error) ? EXIT.partial : EXIT.ok;
      const exitCode = r.deleteError && (copyExit === EXIT.ok || copyExit === EXIT.partial) ? r.deleteError.exitCode : copyExit;
      const human = [
        `${r.interrupted ? (timeUp ? 'stopped at --max-runtime: ' : 'interrupted: ') : ''}copied ${counted(r.copied, 'message')} (${formatBytes(r.bytes)}), skipped ${r.skipped}${filtered ? `, left out by filters ${filtered}` : ''}, failed ${r.failed}, in ${r.folders.length} folder${r.folders.length === 1 ? '' : 's'}, ${secs.toFixed(1)} s`,
        ...r.failures.slice(0, 50).map((f) => `failed: ${f.folder} #${f.key}${f.messageId ? ` ${headerText(f.messageId)}` : ''}: ${f.error}`),
        ...(r.failures.length > 50 ? [`… and ${r.failures.length - 50} more (see --report)`] : []),
        ...r.folders.filter((f) => f.error).map((f) => `folder failed: ${f.folder}: ${f.error}`),
        ...(r.deleted !== undefined && !(r.interrupted && r.deleted === 0)
          ? [
              `deleted ${counted(r.deleted, 'message')} from the source` +
                (r.keptOnSource && r.keptOnSource > (r.deleteRefused ?? 0) ? `; ${r.keptOnSource - (r.deleteRefused ?? 0)} left there: not in the destination now (rerun with --restart to copy them)` : '') +
                (r.deleteRefused ? `; ${r.deleteRefused} left there: the server refused to delete them (rerun to try again)` : ''),
            ]
          : []),
        ...(r.deleteError
          ? [
              `deleting from the source failed: ${r.deleteError.oneLine()}; ${r.deleteUncertain ? 'what the server deleted of that folder is not known' : r.deleted ? `only the ${counted(r.deleted, 'message')} above ${r.deleted === 1 ? 'was' : 'were'} deleted` : 'nothing was deleted'} (${copyExit === EXIT.ok ? 'the copy is complete; ' : ''}rerun to delete what is copied)`,
            ]
          : []),
        ...(r.interrupted ? [timeUp ? 'rerun the same command to continue' : 'rerun the same command to resume'] : []),
        ...(r.throttled ? [`throttled: the server slowed the run down ${counted(r.throttled.count, 'time')}, ${(r.throttled.totalWaitMs / 1000).toFixed(1)} s of waiting, from ${r.throttled.first} to ${r.throttled.last}; workers went down to ${r.throttled.minWorkers}`] : []),
      ];
      const result = {
        copied: r.copied,
        skipped: r.skipped,
        filtered,
        failed: r.failed,
        bytes: r.bytes,
        seconds: secs,
        interrupted: r.interrupted,
        ...(r.interrupted ? { stoppedBy: timeUp ? 'max-runtime' : 'signal' } : {}),
        checkpoint: r.checkpoint,
        ...(r.deleted !== undefined ? { deleted: r.deleted, keptOnSource: r.keptOnSource ?? 0, ...(r.deleteRefused ? { deleteRefused: r.deleteRefused } : {}) } : {}),
        ...(r.deleteError ? { deleteError: { code: r.deleteError.code, message: r.deleteError.message, ...(r.deleteUncertain ? { uncertain: true } : {}) } } : {}),
        folders: r.folders,
        failures: r.failures,
        ...(r.throttled ? { throttled: r.throttled } : {}),
      };
      this.logger.info({ msg: human[0]!, copied: r.copied, skipped: r.skipped, failed: r.failed, bytes: r.bytes, seconds: secs });
      return { result, human, exitCode };
    } finally {
      timer?.clear();
      // The run ended in time: its result is the one printed.
      clearTimeout(grace);
      view.stop();
      report.close();
      this.onSignal = undefined;
    }
  }
}
