/**
 * The checkpoint `checkpoint show|reset` work on: the PATH given, or the one a copy of the job
 * file (--config) uses — its `checkpoint:`, else the default path of its source and destination.
 */
import { statSync } from 'node:fs';
import { MailferryError } from '../errors.js';
import { looksLikeCheckpoint } from '../checkpoint/journal.js';
import { expandHome } from '../checkpoint/path.js';
import { readJobFile } from '../engine/config-file.js';
import { jobCheckpointPath } from '../engine/checkpoint-info.js';
import { schemaOf } from './job-file.js';

const isFile = (path: string) => statSync(path, { throwIfNoEntry: false })?.isFile() === true;

export async function checkpointArg(path: string | undefined, config: string | undefined, command: string): Promise<string> {
  if (path !== undefined && config !== undefined) {
    throw new MailferryError('USAGE', "give the checkpoint's PATH or --config FILE, not both", { hint: `mailferry checkpoint ${command} PATH, or mailferry checkpoint ${command} --config FILE for that job's checkpoint` });
  }
  if (config === undefined) {
    if (path === undefined) throw new MailferryError('USAGE', 'missing PATH: the checkpoint file', { hint: `or --config FILE for a job file's; see: mailferry checkpoint ${command} --help` });
    // A script's unset "$CP": no file is named (reset would say there is nothing to do).
    if (path.trim() === '') throw new MailferryError('USAGE', 'PATH needs a file name, not an empty string', { hint: 'name the checkpoint file, or use --config FILE for a job file\'s' });
    // Quoted (a script's CP='~/…'), ~/ is still the home directory, as in the path flags.
    path = expandHome(path);
    // A job file where its checkpoint was meant (`checkpoint show job.yaml`): said how to get that.
    if (/\.(ya?ml|json)$/i.test(path) && isFile(path) && !looksLikeCheckpoint(path)) {
      throw new MailferryError('BAD_CONFIG', `${path} is not a mailferry checkpoint`, { hint: `a job file? mailferry checkpoint ${command} -c ${path} takes its checkpoint; nothing was changed` });
    }
    return path;
  }
  if (config.trim() === '') throw new MailferryError('USAGE', '--config needs a file name, not an empty string', { hint: 'name the job file, or give the checkpoint file as PATH' });
  // Checked as copy checks it (a typo is named with its line); loaded here, as copy loads itself lazily.
  const { default: Copy } = await import('../commands/copy.js');
  const job = await readJobFile(config, schemaOf(Copy.flags, ['source', 'dest']));
  if (typeof job.checkpoint === 'string') return job.checkpoint;
  if (typeof job.source !== 'string' || typeof job.dest !== 'string') {
    throw new MailferryError('BAD_CONFIG', `${config} names no checkpoint: it has no 'checkpoint:', nor 'source:' and 'dest:'`, { hint: 'give the checkpoint file as PATH' });
  }
  return jobCheckpointPath(job.source, job.dest);
}
