import { Args, Flags } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../../cli/base.js';
import { outputFlags } from '../../cli/flags.js';
import { checkpointArg } from '../../cli/checkpoint-arg.js';
import { distinctFiles } from '../../cli/options.js';
import { resetCheckpoint } from '../../engine/checkpoint-info.js';
import { EXIT } from '../../errors.js';

export default class CheckpointReset extends BaseCommand {
  static summary = 'Delete a checkpoint: the next copy rebuilds what is done from the destination.';

  static description = `Safe: the destination is the truth, so the next copy scans it and copies only what is missing
(no duplicates). Refuses while a run holds the checkpoint's lock (exit 7) and refuses a file that is not
a mailferry checkpoint (exit 3). A missing checkpoint is not an error. --config FILE deletes the checkpoint
of that job file's copy.`;

  static examples = [
    '<%= config.bin %> checkpoint reset ~/.local/state/mailferry/3f1c2a9b0d4e5f60.journal',
    '<%= config.bin %> checkpoint reset --config /etc/mailferry/alice.yaml',
  ];

  static args = {
    path: Args.string({ description: 'the checkpoint file (or --config: the job file whose checkpoint it is)' }),
  };

  static flags = {
    config: Flags.string({ char: 'c', description: "instead of PATH: the job file's checkpoint, as copy --config FILE finds it (its 'checkpoint:', else the default path of its source and dest)", helpValue: 'FILE' }),
    ...outputFlags,
  };

  protected async execute(): Promise<CommandOutcome> {
    const { args, flags } = await this.parse(CheckpointReset);
    const path = await checkpointArg(args.path, flags.config, 'reset');
    // The log is appended to: never to the checkpoint or the job file (as copy and verify refuse it).
    distinctFiles({ '--log-file': flags['log-file'] }, { '--config': flags.config, [args.path === undefined ? "the job's checkpoint" : 'PATH']: path });
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    const r = resetCheckpoint(path, (m) => this.logger.warn({ msg: m }));
    return { result: r, human: [r.removed ? `removed checkpoint ${r.path}` : `no checkpoint at ${r.path}: nothing to do`], exitCode: EXIT.ok };
  }
}
