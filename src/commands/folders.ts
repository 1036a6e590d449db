import { Args } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../cli/base.js';
import { connectionFlags, outputFlags } from '../cli/flags.js';
import { distinctFiles, filesRead, netConfigFrom, outsideMaildirs } from '../cli/options.js';
import { renderFolders } from '../cli/render.js';
import { EXIT } from '../errors.js';

export default class Folders extends BaseCommand {
  static summary = 'List the folders of a store with message counts, sizes and special-use roles.';

  static description = `The look before a migration: what is there, how much, and which folder is Sent, Drafts, Junk,
Trash or Archive. Sizes come from IMAP STATUS (SIZE where the server has it). The endpoint uses the
source's password settings ($MAILFERRY_SOURCE_PASSWORD, --source-password-file, --source-password-command).

Exit codes: 0 ok, 1 internal error (a bug), 2 usage, 3 configuration, 4 authentication/TLS, 5 network.`;

  static examples = [
    'MAILFERRY_SOURCE_PASSWORD=… <%= config.bin %> folders imaps://alice@mail.example.org',
    "<%= config.bin %> folders imaps://alice@mail.example.org --source-password-command 'pass show mail/alice' --json",
    '<%= config.bin %> folders maildir:/srv/backup/alice',
  ];

  static args = {
    endpoint: Args.string({ required: true, description: 'the store to look at (imap://, imaps://, pop3://, pop3s://, maildir:PATH)' }),
  };

  static flags = {
    // One endpoint, with the source's settings: the --dest-… flags would be ignored.
    ...Object.fromEntries(Object.entries(connectionFlags).filter(([name]) => !name.startsWith('dest-'))),
    ...outputFlags,
  } as Omit<typeof connectionFlags, 'dest-tls' | 'dest-password-file' | 'dest-password-command' | 'dest-auth'> & typeof outputFlags;

  protected async execute(): Promise<CommandOutcome> {
    const { args, flags } = await this.parse(Folders);
    // The log is appended to: never to a file the run reads (a password file, a --tls-ca), nor into the Maildir's cur/, new/, tmp/.
    distinctFiles({ '--log-file': flags['log-file'] }, filesRead(flags, undefined));
    outsideMaildirs({ '--log-file': flags['log-file'] }, [args.endpoint]);
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    const { listFolders } = await import('../engine/inventory.js');
    const inv = await listFolders({ endpoint: args.endpoint, ...netConfigFrom(flags, this.logger) }, this.logger);
    return { result: inv, human: renderFolders(inv), exitCode: EXIT.ok };
  }
}
