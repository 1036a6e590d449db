/**
 * oclif's `command_not_found` hook: an unknown command is a usage error like any other — one line
 * (with the nearest command when there is one), or the JSON envelope with --json; exit 2.
 */
import type { Hook } from '@oclif/core';
import { EXIT } from '../errors.js';
import { printable } from '../strings.js';

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

const hook: Hook<'command_not_found'> = async function (opts) {
  // oclif joins the words it could not place with ':' ("cpoy:imaps://…:maildir:/x").
  let words = opts.id.split(':');
  // `mailferry help [COMMAND]`: the same as `mailferry [COMMAND] --help`.
  if (words[0] === 'help') {
    const target = words.slice(1);
    const id = target.join(':');
    if (target.length === 0 || opts.config.findCommand(id) || opts.config.findTopic(id)) {
      const { Help } = await import('@oclif/core');
      await new Help(opts.config).showHelp(target);
      process.exit(EXIT.ok);
    }
    words = target;
  }
  const known = opts.config.commands.filter((c) => !c.hidden).map((c) => c.id.replace(/:/g, ' '));
  const typed = words[0] === 'checkpoint' && words[1] ? `checkpoint ${words[1]}` : words[0]!;
  const near = known.map((k) => ({ k, d: distance(typed, k) })).sort((x, y) => x.d - y.d)[0];
  const hint = typed.startsWith('-') ? `commands: ${known.join(', ')}` : near && near.d <= Math.max(2, Math.floor(typed.length / 3)) ? `did you mean 'mailferry ${near.k}'?` : `commands: ${known.join(', ')}`;
  const message = typed.startsWith('-') ? 'no command given' : `unknown command '${typed}'`;
  usageExit(message, hint, opts.argv ?? []);
};

/** A usage error before any command runs: one line, or the JSON envelope with --json; exit 2. */
export function usageExit(message: string, hint: string, argv: string[]): never {
  if (argv.includes('--json') || process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ status: EXIT.usage, error: { code: 'USAGE', message, hint }, warnings: [] }) + '\n');
  } else {
    process.stderr.write(printable(`mailferry: error: ${message} (${hint})`) + '\n');
  }
  process.exit(EXIT.usage);
}

export default hook;
