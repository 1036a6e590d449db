import { Args } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../../cli/base.js';
import { outputFlags } from '../../cli/flags.js';
import { resetCheckpoint } from '../../engine/checkpoint-info.js';
import { EXIT } from '../../errors.js';

export default class CheckpointReset extends BaseCommand {
  static summary = 'Delete a checkpoint: the next copy rebuilds what is done from the destination.';

  static description = `Safe: the destination is the truth, so the next copy scans it and copies only what is missing
(no duplicates). Refuses while a run holds the checkpoint's lock (exit 7) and refuses a file that is not
a mailferry checkpoint (exit 3). A missing checkpoint is not an error.`;

  static examples = ['<%= config.bin %> checkpoint reset ~/.local/state/mailferry/3f1c2a9b0d4e5f60.journal'];

  static args = {
    path: Args.string({ required: true, description: 'the checkpoint file' }),
  };

  static flags = { ...outputFlags };

  protected async execute(): Promise<CommandOutcome> {
    const { args, flags } = await this.parse(CheckpointReset);
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    const r = resetCheckpoint(args.path, (m) => this.logger.warn({ msg: m }));
    return { result: r, human: [r.removed ? `removed checkpoint ${r.path}` : `no checkpoint at ${r.path}: nothing to do`], exitCode: EXIT.ok };
  }
}
