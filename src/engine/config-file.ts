/**
 * Job files (--config job.yaml): YAML or JSON, parsed with the `yaml` package. The keys are the
 * long flag names of the command (plus `source` and `dest`), checked against a schema the caller
 * gives; an unknown key or a value of the wrong type is an error naming the key and its line.
 * Relative paths in path-valued keys are taken relative to the job file, so cron's working
 * directory does not matter.
 */
import { readGivenFile } from '../given-file.js';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { isUtf8 } from 'node:buffer';
import type { Node, Pair } from 'yaml';
import { MailferryError } from '../errors.js';
import { expandHome } from '../checkpoint/path.js';

/**
 * Checks a value as its flag would (e.g. a date for `since`); throws a MailferryError whose message
 * begins with the flag (`--since: …`). The file names the key and line instead.
 */
export type ValueCheck = (value: string) => unknown;

export type FieldType =
  /** `endpoint`: a URL whose relative maildir: path is taken relative to the job file. */
  | { kind: 'string'; path?: boolean; endpoint?: boolean; check?: ValueCheck }
  | { kind: 'boolean' }
  | { kind: 'integer'; min?: number; max?: number }
  | { kind: 'option'; options: readonly string[] }
  /** A list of strings; `pairs` also accepts a mapping {a: b}, turned into "a=b". */
  | { kind: 'strings'; path?: boolean; pairs?: boolean; check?: ValueCheck };

export type JobValue = string | number | boolean | string[];

const NEVER: Record<string, string> = {
  password: 'a job file holds no passwords: use source-password-file or source-password-command (and dest-…)',
  'source-password': 'use source-password-file or source-password-command',
  'dest-password': 'use dest-password-file or dest-password-command',
};

function closest(key: string, keys: string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, i) => i);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const t = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = t;
      }
    }
    return d[b.length];
  };
  let best: string | undefined;
  let bestD = 3;
  for (const k of keys) {
    const dd = dist(key.toLowerCase(), k);
    if (dd < bestD) (best = k), (bestD = dd);
  }
  return best;
}

export async function readJobFile(path: string, schema: Record<string, FieldType>): Promise<Record<string, JobValue>> {
  // Loaded here rather than imported: only a run with --config pays its ~25 ms of start-up.
  const { isMap, isScalar, isSeq, LineCounter, parseDocument } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  let text: string;
  let notUtf8: boolean;
  try {
    const { bytes } = await readGivenFile(path);
    text = bytes.toString('utf8');
    notUtf8 = text.includes('\uFFFD') && !isUtf8(bytes);
  } catch (err) {
    throw new MailferryError('BAD_CONFIG', `cannot read job file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: 'check the --config path',
    });
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const lineOf = (n: Node | null | undefined | Pair['key']): number => {
    const r = (n as Node | null | undefined)?.range;
    return r ? lc.linePos(r[0]).line : 1;
  };
  const bad = (line: number, what: string, hint?: string) => new MailferryError('BAD_CONFIG', `${path} line ${line}: ${what}`, { hint });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
    throw bad(line, e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, ''), 'a job file is YAML or JSON: key: value, one per line');
  }
  const base = dirname(resolve(path));
  // ~ is the home directory, as in a maildir: URL (no shell expands it in a file), not a directory named ~.
  const abs = (p: string) => {
    const q = expandHome(p);
    return isAbsolute(q) ? q : resolve(base, q);
  };
  // `maildir:backup` in a job file is beside the file, like the other paths in it (not ~/…).
  const relativeMaildir = (url: string) => {
    const m = /^maildir:(.*)$/i.exec(url);
    // A space after the colon is left for the URL's parser to refuse, not made a path beside the file.
    return m && m[1] && !isAbsolute(m[1]) && !m[1].startsWith('~') && !/^\s/.test(m[1]) ? `maildir:${abs(m[1])}` : url;
  };
  const root = doc.contents;
  if (root === null || root === undefined) return {};
  if (!isMap(root)) throw bad(lineOf(root as Node), 'the job file must be a mapping of keys to values', "one 'key: value' per line, e.g. source: imaps://alice@mail.example.org");
  const out: Record<string, JobValue> = {};
  for (const pair of root.items) {
    const keyNode = pair.key as Node;
    const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
    const line = lineOf(keyNode);
    if (NEVER[key]) throw bad(line, `key '${key}' is not allowed`, NEVER[key]);
    const type = schema[key];
    if (!type) {
      const near = closest(key, Object.keys(schema));
      throw bad(line, `unknown key '${key}'`, near ? `did you mean '${near}'?` : `keys are the long flag names: ${Object.keys(schema).slice(0, 8).join(', ')}, …`);
    }
    const vnode = pair.value as Node | null;
    const vline = vnode ? lineOf(vnode) : line;
    const v: unknown = vnode && 'toJSON' in vnode ? (vnode as { toJSON(): unknown }).toJSON() : null;
    // A file saved in latin1: its bytes read as UTF-8 become U+FFFD, and a path or folder name
    // would silently be another (`dest: maildir:/srv/J\xf6rg`). Refused, as such an argument is;
    // a comment in latin1 is no matter.
    if (notUtf8 && JSON.stringify(v)?.includes('\uFFFD')) {
      throw bad(vline, `'${key}' is not valid UTF-8 (${JSON.stringify(v).replace(/\uFFFD/g, '?').replace(/^"|"$/g, '').slice(0, 200)})`, 'save the job file in UTF-8: read as UTF-8 the value names something else than what was written');
    }
    const wrong = (want: string) => bad(vline, `'${key}' must be ${want}`, `got ${v === null ? 'nothing' : JSON.stringify(v).slice(0, 60)}`);
    const checked = (x: string, check?: ValueCheck): string => {
      try {
        check?.(x);
      } catch (err) {
        if (!(err instanceof MailferryError)) throw err;
        throw bad(vline, `'${key}': ${err.message.replace(/^--[\w-]+: /, '')}`, err.hint);
      }
      return x;
    };
    switch (type.kind) {
      case 'string': {
        // A value its flag reads as a number too (max-size: 1048576 bytes, max-runtime: 3600 s) may be one.
        const text = typeof v === 'number' && type.check && Number.isFinite(v) ? String(v) : v;
        if (typeof text !== 'string' || text === '') throw wrong('a string');
        out[key] = type.path ? abs(text) : type.endpoint ? relativeMaildir(text) : checked(text, type.check);
        break;
      }
      case 'boolean':
        if (typeof v !== 'boolean') throw wrong('true or false');
        out[key] = v;
        break;
      case 'integer':
        if (typeof v !== 'number' || !Number.isInteger(v)) throw wrong('a whole number');
        if (type.min !== undefined && v < type.min) throw wrong(`at least ${type.min}`);
        if (type.max !== undefined && v > type.max) throw wrong(`at most ${type.max}`);
        out[key] = v;
        break;
      case 'option':
        if (typeof v !== 'string' || !type.options.includes(v)) throw wrong(`one of ${type.options.join(', ')}`);
        out[key] = v;
        break;
      case 'strings': {
        let list: unknown[];
        if (typeof v === 'string') list = [v];
        else if (isSeq(vnode)) list = v as unknown[];
        else if (type.pairs && isMap(vnode)) list = Object.entries(v as Record<string, unknown>).map(([a, b]) => (typeof b === 'string' ? `${a}=${b}` : null));
        else throw wrong(type.pairs ? 'a list of strings or a mapping' : 'a string or a list of strings');
        if (!list.every((x) => typeof x === 'string' && x !== '')) throw wrong('a list of strings');
        out[key] = (list as string[]).map((x) => (type.path ? abs(x) : checked(x, type.check)));
        break;
      }
    }
  }
  return out;
}
