/**
 * oclif's `init` hook: a topic given flags but no command (`mailferry checkpoint --json`) is a
 * usage error, as `mailferry --json` is; oclif would print the topic's help and exit 0, which a
 * script reads as success. The topic alone (`mailferry checkpoint`) or with a help flag still
 * shows its help.
 */
import type { Hook } from '@oclif/core';
import { usageExit } from './command-not-found.js';

const hook: Hook<'init'> = async function (opts) {
  const id = opts.id;
  if (!id || opts.argv.length === 0 || opts.config.findCommand(id) || !opts.config.findTopic(id)) return;
  if (opts.argv.some((a) => a === '--help' || a === '-h')) return;
  const subs = opts.config.commands.filter((c) => !c.hidden && c.id.startsWith(`${id}:`)).map((c) => c.id.replace(/:/g, ' '));
  usageExit(`'${id.replace(/:/g, ' ')}' needs a command`, `one of: ${subs.join(', ')}`, opts.argv);
};

export default hook;
