import { Args, Flags } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../../cli/base.js';
import { outputFlags } from '../../cli/flags.js';
import { checkpointArg } from '../../cli/checkpoint-arg.js';
import { distinctFiles } from '../../cli/options.js';
import { renderCheckpoint } from '../../cli/render.js';
import { showCheckpoint } from '../../engine/checkpoint-info.js';
import { EXIT } from '../../errors.js';

export default class CheckpointShow extends BaseCommand {
  static summary = 'Show what a checkpoint records: its job, folders, messages done and pending, its lock.';

  static description = `The path is printed by copy (human summary with --verbose, "checkpoint" in its --json result).
--config FILE shows the checkpoint of that job file's copy instead. Reads only. Exit 7 when the checkpoint is unreadable, 3 when there is none at PATH.`;

  static examples = [
    '<%= config.bin %> checkpoint show ~/.local/state/mailferry/3f1c2a9b0d4e5f60.journal',
    '<%= config.bin %> checkpoint show /var/lib/mailferry/alice.journal --json',
    '<%= config.bin %> checkpoint show --config /etc/mailferry/alice.yaml',
  ];

  static args = {
    path: Args.string({ description: 'the checkpoint file (or --config: the job file whose checkpoint it is)' }),
  };

  static flags = {
    config: Flags.string({ char: 'c', description: "instead of PATH: the job file's checkpoint, as copy --config FILE finds it (its 'checkpoint:', else the default path of its source and dest)", helpValue: 'FILE' }),
    ...outputFlags,
  };

  protected async execute(): Promise<CommandOutcome> {
    const { args, flags } = await this.parse(CheckpointShow);
    const path = await checkpointArg(args.path, flags.config, 'show');
    // The log is appended to: never to the checkpoint or the job file (as copy and verify refuse it).
    distinctFiles({ '--log-file': flags['log-file'] }, { '--config': flags.config, [args.path === undefined ? "the job's checkpoint" : 'PATH']: path });
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    const c = showCheckpoint(path);
    return { result: c, human: renderCheckpoint(c), exitCode: EXIT.ok };
  }
}
