import { Args } from '@oclif/core';
import { BaseCommand, type CommandOutcome } from '../../cli/base.js';
import { outputFlags } from '../../cli/flags.js';
import { renderCheckpointList } from '../../cli/render.js';
import { expandHome, stateDir } from '../../checkpoint/path.js';
import { listCheckpoints } from '../../engine/checkpoint-list.js';
import { EXIT } from '../../errors.js';

export default class CheckpointList extends BaseCommand {
  static summary = 'List the checkpoints in the state directory (or DIR): each one\'s job, last run and size.';

  static description = `Newest first. A job whose URL or path was edited (a server moved, a backup directory moved) starts
a new checkpoint and leaves the old one: find it here, then "checkpoint reset PATH" deletes it.
Reads only. Checkpoints named with --checkpoint elsewhere are listed with that directory as DIR.
Exit 3 when DIR cannot be read.`;

  static examples = ['<%= config.bin %> checkpoint list', '<%= config.bin %> checkpoint list /var/lib/mailferry --json'];

  static args = {
    dir: Args.string({ required: false, description: 'the directory (default: the state directory, $XDG_STATE_HOME/mailferry)' }),
  };

  static flags = { ...outputFlags };

  protected async execute(): Promise<CommandOutcome> {
    const { args, flags } = await this.parse(CheckpointList);
    this.setOutput({ json: flags.json, quiet: flags.quiet, verbose: flags.verbose, logFile: flags['log-file'] });
    const given = args.dir !== undefined && args.dir !== '';
    // Quoted (a script's DIR='~/…'), ~/ is still the home directory, as in checkpoint show's PATH.
    const r = listCheckpoints(given ? expandHome(args.dir!) : stateDir(), given);
    return { result: r, human: renderCheckpointList(r), exitCode: EXIT.ok };
  }
}
