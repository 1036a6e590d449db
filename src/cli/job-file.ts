/**
 * --config FILE for a command: the job file's keys are the command's long flag names (plus
 * `source` and `dest`), typed from the flag definitions; a flag given on the command line wins.
 */
import { MailferryError } from '../errors.js';
import { readJobFile, type FieldType, type JobValue, type ValueCheck } from '../engine/config-file.js';
import { parseDate, parseMap, parseSize } from '../engine/filters.js';
import { parseDuration } from './options.js';
import { PATH_FLAGS } from './flags.js';

interface FlagDef {
  type: 'boolean' | 'option';
  multiple?: boolean;
  options?: readonly string[];
  min?: number;
  max?: number;
  default?: unknown;
}

const NOT_IN_FILE = new Set(['config', 'help', 'json']);
/** Values checked when the file is read, so a mistake names the file's key and line. */
const CHECKS: Record<string, ValueCheck> = {
  since: (v) => parseDate('since', v),
  before: (v) => parseDate('before', v),
  'max-size': (v) => parseSize('max-size', v),
  'max-message-size': (v) => parseSize('max-message-size', v),
  map: parseMap,
  'max-runtime': (v) => parseDuration('max-runtime', v),
};

export function schemaOf(flags: Record<string, unknown>, args: string[]): Record<string, FieldType> {
  const schema: Record<string, FieldType> = {};
  for (const a of args) schema[a] = { kind: 'string', endpoint: true };
  for (const [name, raw] of Object.entries(flags)) {
    if (NOT_IN_FILE.has(name)) continue;
    const f = raw as FlagDef;
    if (f.type === 'boolean') schema[name] = { kind: 'boolean' };
    else if (f.multiple) schema[name] = { kind: 'strings', path: PATH_FLAGS.has(name), pairs: name === 'map', check: CHECKS[name] };
    else if (f.options) schema[name] = { kind: 'option', options: f.options };
    else if ('min' in f || 'max' in f || typeof f.default === 'number') schema[name] = { kind: 'integer', min: f.min, max: f.max };
    else schema[name] = { kind: 'string', path: PATH_FLAGS.has(name), check: CHECKS[name] };
  }
  return schema;
}

interface RawToken {
  type: string;
  flag?: string;
}

/**
 * Merge a job file under the parsed flags and args. `raw` are oclif's parse tokens: a flag that
 * appears there was given on the command line and is kept.
 */
/** Flags of which one at most may be on; given on the command line, one decides for all. */
const EXCLUSIVE = [['quiet', 'verbose']];

export async function mergeJobFile<F extends Record<string, unknown>, A extends Record<string, unknown>>(
  file: string | undefined,
  defs: { flags: Record<string, unknown>; args: string[]; alsoAccepted?: Record<string, unknown> },
  parsed: { flags: F; args: A; raw: RawToken[] },
): Promise<{ flags: F; args: A }> {
  const flags = { ...parsed.flags } as Record<string, unknown>;
  const args = { ...parsed.args } as Record<string, unknown>;
  if (file) {
    const given = new Set(parsed.raw.filter((t) => t.type === 'flag').map((t) => t.flag));
    // Keys of a sibling command (copy's, for verify) are checked but not applied: one job file serves both.
    const schema = { ...schemaOf(defs.alsoAccepted ?? {}, []), ...schemaOf(defs.flags, defs.args) };
    const values: Record<string, JobValue> = await readJobFile(file, schema);
    for (const group of EXCLUSIVE) {
      const set = group.filter((k) => values[k] === true);
      if (set.length > 1) throw new MailferryError('BAD_CONFIG', `${file}: ${set.map((k) => `'${k}'`).join(' and ')} cannot both be on`, { hint: `keep one of them` });
      // One of them turned on on the command line decides for all: --verbose over a file's
      // `quiet: true` (a --no- form turns off only its own).
      if (group.some((k) => given.has(k) && parsed.flags[k] === true)) for (const k of group) given.add(k);
    }
    for (const [k, v] of Object.entries(values)) {
      if (!(k in defs.flags) && !defs.args.includes(k)) continue;
      if (defs.args.includes(k)) {
        if (args[k] === undefined) args[k] = v;
      } else if (!given.has(k)) flags[k] = v;
    }
  }
  for (const a of defs.args) {
    if (args[a] === undefined) {
      throw new MailferryError('USAGE', `missing ${a.toUpperCase()}`, { hint: file ? `give it as an argument or as '${a}:' in ${file}` : `give it as an argument, or use --config FILE with '${a}:'` });
    }
  }
  return { flags: flags as F, args: args as A };
}
