import { Args, Flags } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../cli/base.js';
import { configFlag, connectionFlags, filterFlags, outputFlags, retriesFlag, selectionFlags } from '../cli/flags.js';
import { mergeJobFile } from '../cli/job-file.js';
import { distinctFiles, filesRead, netConfigFrom, outsideMaildirs, selectionFrom } from '../cli/options.js';
import { renderVerify } from '../cli/render.js';
import { EXIT } from '../errors.js';

export default class Verify extends BaseCommand {
  static summary = 'Check that DEST holds every message of SOURCE: lists what is missing and what is extra.';

  static description = `Folders are paired exactly as copy pairs them (--folder, --exclude, --map), and messages are
compared by identity: the Message-ID, or a digest of the bytes for messages without one (--dedupe content
compares every message by its bytes). Only reads: nothing is created or changed on either side.
Ends with a verdict line. The same --config job file as copy works here.

Exit codes: 0 DEST holds everything of SOURCE (extra messages in DEST are allowed), 6 something is
missing or a source message its server cannot read was not compared, 1 internal error (a bug),
2 usage, 3 configuration, 4 authentication/TLS, 5 network, 130 interrupted.`;

  static examples = [
    'MAILFERRY_SOURCE_PASSWORD=… <%= config.bin %> verify imaps://alice@mail.example.org maildir:/srv/backup/alice',
    "<%= config.bin %> verify imaps://alice@mail.example.org maildir:/srv/backup/alice --folder INBOX --since 2024-01-01",
    "<%= config.bin %> verify imaps://alice@old.example.org maildir:/srv/alice --map 'Sent Items=Sent' --json",
    '<%= config.bin %> verify --config /etc/mailferry/alice.yaml --quiet',
  ];

  static args = {
    source: Args.string({ description: 'the store that should be fully copied (imap://, imaps://, pop3://, pop3s://, maildir:PATH)' }),
    dest: Args.string({ description: 'the copy (maildir:PATH, imap://, imaps://)' }),
  };

  static flags = {
    ...connectionFlags,
    ...selectionFlags,
    ...filterFlags,
    ...configFlag,
    checkpoint: Flags.string({ description: "the copy's checkpoint, read only, for the folders earlier runs chose (default: the copy's default path, or a job file's)", helpValue: 'PATH' }),
    dedupe: Flags.option({ options: ['message-id', 'content', 'none'] as const, default: 'message-id', description: "how messages are matched ('none', from a copy job file, matches by Message-ID)" })(),
    ...retriesFlag,
    ...outputFlags,
  };

  protected async execute(): Promise<CommandOutcome> {
    const parsed = await this.parse(Verify);
    const { default: Copy } = await import('./copy.js');
    const { args, flags } = await mergeJobFile(parsed.flags.config, { flags: Verify.flags, args: ['source', 'dest'], alsoAccepted: Copy.flags }, parsed);
    // The log is appended to: never to a file verify reads (the checkpoint, the job file, a password file).
    distinctFiles(
      { '--log-file': flags['log-file'] },
      { '--checkpoint': flags.checkpoint, ...filesRead(flags, parsed.flags.config) },
    );
    outsideMaildirs({ '--log-file': flags['log-file'] }, [args.source, args.dest]);
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    const { runVerify } = await import('../engine/verify.js');
    const r = await runVerify(
      {
        source: args.source!,
        dest: args.dest!,
        ...netConfigFrom(flags, this.logger, args),
        ...selectionFrom(flags),
        retries: flags.retries,
        dedupe: flags.dedupe === 'content' ? 'content' : 'message-id',
        // The copy's checkpoint (given, or a job file's, else the default): where it put each folder.
        checkpoint: flags.checkpoint,
        checkpointNamed: parsed.flags.checkpoint !== undefined,
      },
      { log: this.logger },
    );
    this.logger.info({ msg: r.verdict, missing: r.missing, extra: r.extra });
    return { result: r, human: renderVerify(r), exitCode: r.ok ? EXIT.ok : EXIT.partial };
  }
}
