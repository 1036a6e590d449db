/** Turning parsed flags into engine configuration shared by copy, verify and folders. */
import { MailferryError } from '../errors.js';
import type { NetConfig } from '../engine/session.js';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { parseEndpoint, passwordEnvVar, realPathOf, type TlsMode } from '../engine/endpoint.js';
import { buildFilter, parseMap, type FilterSpec, type FolderMap } from '../engine/filters.js';
import type { Logger } from '../log.js';
import { secretResolver } from './secrets.js';

export interface NetFlags {
  'source-tls'?: TlsMode;
  'dest-tls'?: TlsMode;
  'tls-ca'?: string[];
  insecure: boolean;
  compress: boolean;
  timeout: number;
  'source-password-file'?: string;
  'dest-password-file'?: string;
  'source-password-command'?: string;
  'dest-password-command'?: string;
  'source-auth'?: 'password' | 'xoauth2';
  'dest-auth'?: 'password' | 'xoauth2';
}

/** A password or token is given for the role (a file, a command, the environment): a prompt aside. */
const secretGiven = (f: NetFlags, role: 'source' | 'dest') => f[`${role}-password-file`] !== undefined || f[`${role}-password-command`] !== undefined || process.env[passwordEnvVar(role)] !== undefined;

/**
 * SOURCE and DEST the wrong way round, as a hurried restore or verify has them (the backup's
 * maildir: first): the source password is given, the Maildir takes none, and the destination has
 * none. Said with the missing destination password, the error such a run meets first.
 */
function swappedHint(f: NetFlags, endpoints: { source?: string; dest?: string } | undefined): string | undefined {
  const { source, dest } = endpoints ?? {};
  if (source === undefined || dest === undefined) return undefined;
  const isMaildir = (url: string) => /^\s*maildir:/i.test(url);
  if (!isMaildir(source) || isMaildir(dest) || !secretGiven(f, 'source') || secretGiven(f, 'dest')) return undefined;
  return `SOURCE comes first, then DEST: is ${source.trim()} meant as DEST?`;
}

export function netConfigFrom(f: NetFlags, log: Logger, endpoints?: { source?: string; dest?: string }): NetConfig {
  return {
    sourceTls: f['source-tls'],
    destTls: f['dest-tls'],
    tlsCa: f['tls-ca'] ?? [],
    insecure: f.insecure,
    compress: f.compress,
    timeoutMs: f.timeout * 1000,
    sourceAuth: f['source-auth'],
    destAuth: f['dest-auth'],
    sourceSecret: secretResolver('source', { file: f['source-password-file'], command: f['source-password-command'], auth: f['source-auth'] }, log),
    destSecret: secretResolver('dest', { file: f['dest-password-file'], command: f['dest-password-command'], auth: f['dest-auth'], missingHint: swappedHint(f, endpoints) }, log),
  };
}

export interface SelectionFlags {
  folder?: string[];
  exclude?: string[];
  map?: string[];
  since?: string;
  before?: string;
  'max-size'?: string;
}

export function selectionFrom(f: SelectionFlags): { folders: string[]; exclude: string[]; map: FolderMap[]; filter: FilterSpec } {
  for (const flag of ['folder', 'exclude', 'map'] as const) {
    // An empty value (a script's unset "$F") is a mistake, not "every folder" or "none".
    if ((f[flag] ?? []).some((v) => v.trim() === '')) throw new MailferryError('USAGE', `--${flag} needs a value, not an empty string`, { hint: `leave --${flag} out, or give it a ${flag === 'map' ? "'OLD=NEW'" : 'folder name or glob'}` });
  }
  const map = (f.map ?? []).map(parseMap);
  // One folder mapped twice, to two places: which one was meant cannot be told.
  const to = new Map<string, string>();
  for (const m of map) {
    const key = m.from.join('/');
    const other = to.get(key);
    if (other !== undefined && other !== m.to.join('/')) throw new MailferryError('USAGE', `--map '${key}' is given twice: to '${other}' and to '${m.to.join('/')}'`, { hint: 'keep one of them' });
    to.set(key, m.to.join('/'));
  }
  return {
    folders: f.folder ?? [],
    exclude: f.exclude ?? [],
    map,
    filter: buildFilter({ since: f.since, before: f.before, maxSize: f['max-size'] }),
  };
}

/**
 * Files named by different flags must be different files (the checkpoint, the report, the log),
 * and none of them a file the run reads (the job file, a password file, a --tls-ca): --report
 * would truncate it, --log-file append to it. Compared by real path, so a link is no way around.
 */
export function distinctFiles(files: Record<string, string | undefined>, reads: Record<string, string | string[] | undefined> = {}): void {
  const seen = new Map<string, string>();
  for (const [flag, paths] of Object.entries(reads)) {
    for (const path of [paths ?? []].flat()) if (path.trim() !== '' && !seen.has(realPathOf(path))) seen.set(realPathOf(path), flag);
  }
  for (const [flag, path] of Object.entries(files)) {
    if (path === undefined) continue;
    if (path.trim() === '') throw new MailferryError('USAGE', `${flag} needs a file name, not an empty string`, { hint: `leave ${flag} out, or name a file` });
    if (path.endsWith('/')) throw new MailferryError('USAGE', `${flag} ${path} ends with '/': it names a directory, not a file`, { hint: `name a file in it, e.g. ${path}${flag === '--checkpoint' ? 'alice.journal' : flag === '--report' ? 'report.ndjson' : 'mailferry.log'}` });
    const abs = realPathOf(path);
    const other = seen.get(abs);
    if (other) throw new MailferryError('USAGE', `${other} and ${flag} name the same file ${abs}`, { hint: reads[other] !== undefined ? `${flag} would overwrite what the run reads: give it a file of its own` : 'give each its own file: one would overwrite the other' });
    seen.set(abs, flag);
  }
}

/** The files every run reads, by flag (for distinctFiles): the job file, the password files, a --tls-ca. */
export function filesRead(flags: Record<string, unknown>, config: string | undefined): Record<string, string | undefined> {
  const named = (flag: string) => flags[flag] as string | undefined;
  return { '--config': config, '--source-password-file': named('source-password-file'), '--dest-password-file': named('dest-password-file'), '--tls-ca': named('tls-ca') };
}

/**
 * Files the run writes are never in a Maildir's cur/, new/ or tmp/ (its root's or a folder's, a
 * source's or a destination's): there they are mail, read back as messages (a copy of that
 * Maildir stored the run's own report and log) or cleaned away. A URL that does not parse is
 * passed over here: the run says so.
 */
export function outsideMaildirs(files: Record<string, string | undefined>, urls: Array<string | undefined>): void {
  const roots: string[] = [];
  for (const url of urls) {
    try {
      const e = url === undefined ? undefined : parseEndpoint(url, 'source');
      // maildir:/ is refused by the run as the root of the file system, not for these files.
      if (e?.kind === 'maildir' && realPathOf(e.path) !== '/') roots.push(realPathOf(e.path));
    } catch {
      // the engine reports it
    }
  }
  for (const [flag, path] of Object.entries(files)) {
    if (path === undefined || path.trim() === '') continue;
    const abs = realPathOf(path);
    for (const root of roots) {
      const rel = relative(root, abs);
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) continue;
      // In the root's cur/, new/ or tmp/, or in those of a folder below it (a directory holding cur/ or new/).
      const dirs = rel.split(sep).slice(0, -1);
      const isFolder = (i: number) => i === 0 || dirs[i - 1]!.startsWith('.') || ['cur', 'new'].some((d) => existsSync(join(root, ...dirs.slice(0, i), d)));
      if (!dirs.some((d, i) => (d === 'cur' || d === 'new' || d === 'tmp') && isFolder(i))) continue;
      throw new MailferryError('USAGE', `${flag} ${abs} is in the Maildir ${root}'s cur/, new/ or tmp/: it would be read as a message`, { hint: "put it outside them; the Maildir's top directory is fine" });
    }
  }
}

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** A duration in seconds: 90, 90s, 45m, 2h, 1h30m, 1d. */
export function parseDuration(flag: string, text: string): number {
  const t = text.trim().toLowerCase();
  let secs = 0;
  if (/^\d+$/.test(t)) secs = Number(t);
  else if (/^(\d+[smhd])+$/.test(t)) for (const m of t.matchAll(/(\d+)([smhd])/g)) secs += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  else throw new MailferryError('USAGE', `--${flag}: '${text}' is not a duration`, { hint: 'write it as seconds or with units: 90, 90s, 45m, 2h, 1h30m' });
  if (secs <= 0) throw new MailferryError('USAGE', `--${flag}: '${text}' must be more than 0`, { hint: 'e.g. 2h' });
  return secs;
}
