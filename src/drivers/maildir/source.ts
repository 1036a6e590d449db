/**
 * Maildir as a source. Reads the layouts mail tools write:
 * - Maildir++ (mailferry's own output, Dovecot's default, mbsync `SubFolders Maildir++`): INBOX is
 *   the root, folder A/B is the directory ".A.B", components in modified UTF-7 (names.ts).
 * - Nested directories (mbsync `SubFolders Verbatim`, offlineimap with `sep = /`): any directory
 *   below the root that holds cur/ is a folder, named by its path, taken literally.
 * Flags come from the ":2," suffix, INTERNALDATE from the file's mtime, the key is the unique part
 * of the file name (which stays when a mail client changes flags). Bodies are read as they are
 * (LF line endings; the engine converts for an IMAP destination).
 */
import { promises as fs, constants as C } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { MailferryError } from '../../errors.js';
import type { FetchedMessage, ListOptions, MailboxInfo, MailboxStatus, MessageRef, Source, SourceReader } from '../types.js';
import { infoToFlags, keywordsPath, readKeywords } from './flags.js';
import { printable, shared } from '../../strings.js';
import { nestedSegment, segmentsOfDirName } from './names.js';
import { readHead, readMessageFile } from './read-header.js';
import { messageChunks } from './compressed.js';
import { keyOfFileName } from './unique.js';
import { FolderFiles, type FileRef } from './relook.js';
import { mapOrdered } from '../../parallel.js';
import { handOver } from '../../hand-over.js';
import { roleOf } from './roles.js';

export const MAILDIR_VALIDITY = 'maildir';
const SUBDIRS = new Set(['cur', 'new', 'tmp']);
const NO_FLAGS: string[] = Object.freeze([]) as unknown as string[];
/** Files of a folder stat'ed and their headers read at once while it is listed. */
const LIST_PARALLEL = 32;
/** Message files of a batch read at once, and the bytes they may hold ahead of the engine. */
const FETCH_PARALLEL = 8;
const FETCH_AHEAD_BYTES = 4 * 1024 * 1024;

function readError(err: unknown, path: string, scope: 'run' | 'mailbox' | 'message' = 'mailbox', messageKey?: string): MailferryError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new MailferryError('NO_SUCH_MAILBOX', `${path} does not exist`, { scope, hint: 'check the maildir: path', messageKey });
  if (code === 'EACCES' || code === 'EPERM') {
    // The Maildir itself (scope 'run'): nothing can be copied, a configuration error (exit 3), as a path that does not exist is.
    if (scope === 'run') return new MailferryError('BAD_CONFIG', `cannot read ${path}: permission denied`, { scope, hint: 'run mailferry as a user who may read this Maildir' });
    return new MailferryError('MAILBOX_FAILED', `cannot read ${path}: permission denied`, { scope, messageKey });
  }
  if (code === 'ELOOP') {
    return new MailferryError('MAILBOX_FAILED', `${path} is a symbolic link: not followed (a link in a Maildir can point at any file)`, { scope, messageKey, hint: 'put the message file itself in the Maildir' });
  }
  return new MailferryError('MAILBOX_FAILED', `cannot read ${path}: ${(err as Error).message}`, { scope, messageKey });
}

/** A read's error: ENOENT as it is (the file may have been renamed: looked for again), else the message's. */
function rethrow(err: unknown, path: string, key: string): never {
  if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
  throw readError(err, path, 'message', key);
}

const linkError = (path: string, what: string) =>
  new MailferryError('MAILBOX_FAILED', `${path} is a symbolic link: not followed (a link in a Maildir can point at any ${what})`, { scope: 'mailbox', hint: `put the ${what} itself in the Maildir` });

/** A file name as read from the disk: UTF-8 (as every mail tool writes them), else undefined. */
function utf8Name(raw: Buffer): string | undefined {
  const name = raw.toString('utf8');
  return Buffer.byteLength(name) === raw.length && Buffer.from(name, 'utf8').equals(raw) ? name : undefined;
}

/** A name that is not UTF-8 as a person can read it: its bytes, `\xNN` for each beyond ASCII. */
function bytesShown(raw: Buffer): string {
  let s = '';
  for (const b of raw) s += b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return printable(s);
}

/**
 * The Maildir folders in `dir` whose directory names are not UTF-8 (an old latin1 client's
 * `.Archiv-März`), named by their bytes. fs reads such a name with U+FFFD in it, a path that does
 * not exist, so the folder would be passed over unseen, its mail never copied: each is listed,
 * and fails, named. Looked for only when a name read holds U+FFFD.
 */
async function nonUtf8Folders(dir: string, names: readonly string[]): Promise<Array<{ shown: string; error: MailferryError }>> {
  if (!names.some((n) => n.includes('\uFFFD'))) return [];
  const out: Array<{ shown: string; error: MailferryError }> = [];
  const base = Buffer.from(dir + '/');
  for (const raw of await fs.readdir(dir, { encoding: 'buffer' }).catch(() => [] as Buffer[])) {
    if (utf8Name(raw) !== undefined) continue;
    const path = Buffer.concat([base, raw]);
    const sub = async (s: string) => (await fs.stat(Buffer.concat([path, Buffer.from(`/${s}`)])).catch(() => null))?.isDirectory() === true;
    if (!(await sub('cur')) && !(await sub('new'))) continue;
    const shown = bytesShown(raw);
    out.push({
      shown,
      error: new MailferryError('MAILBOX_FAILED', `${printable(dir)}/${shown}: the folder's name is not UTF-8, so it is not read`, {
        scope: 'mailbox',
        hint: 'rename the directory to its UTF-8 spelling (e.g. convmv -f latin1 -t utf-8), then rerun',
      }),
    });
  }
  return out;
}

async function isMaildir(dir: string): Promise<boolean> {
  return (await maildirCheck(dir)) === true;
}

/**
 * Whether `dir` is a Maildir (holds cur/ or new/); the error when that cannot be told (a directory the
 * user may not enter): such a directory is listed as a folder that fails, never passed over.
 */
async function maildirCheck(dir: string): Promise<boolean | MailferryError> {
  // cur/, or new/ alone: mail no client has opened yet (getmail, procmail), or a backup tool that
  // drops empty directories. Dovecot serves such a folder (it makes the cur/ it lacks). A new/
  // that holds a cur/ of its own is a folder named "new" (a nested layout), not this one's mail.
  const isDir = async (p: string): Promise<boolean | MailferryError> => {
    try {
      return (await fs.stat(p)).isDirectory();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'ENOENT' || code === 'ENOTDIR' ? false : readError(err, dir);
    }
  };
  const cur = await isDir(join(dir, 'cur'));
  if (cur !== false) return cur;
  const fresh = await isDir(join(dir, 'new'));
  if (fresh !== true) return fresh;
  const nested = await isDir(join(dir, 'new', 'cur'));
  return nested === false ? true : nested === true ? false : nested;
}

/** Nested folders deeper than this are not read (a loop of bind mounts, say): the one there fails. */
const MAX_DEPTH = 32;

/**
 * Files of one folder whose names share a key. One file seen under two names (a mail client
 * renamed it, or moved it from new/ to cur/, while the folder was read; a hard link) is one
 * message. Different files are different messages, even if a sync conflict or a backup restored
 * over a live Maildir gave them one unique part: the first (cur/ before new/, then by name) keeps
 * the key, each other one is known by its directory and whole name.
 */
async function sameKey(dir: string, key: string, group: FileRef[]): Promise<Array<FileRef & { key: string }>> {
  group.sort((a, b) => (a.sub !== b.sub ? (a.sub === 'cur' ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: Array<FileRef & { key: string }> = [];
  const inodes = new Set<string>();
  for (const f of group) {
    const st = await fs.lstat(join(dir, f.sub, f.name)).catch(() => null);
    if (!st) continue; // gone meanwhile
    const inode = `${st.dev}:${st.ino}`;
    if (inodes.has(inode)) continue;
    inodes.add(inode);
    out.push({ sub: f.sub, name: f.name, ino: st.ino, key: out.length === 0 ? key : `${key}:${f.sub}/${f.name}` });
  }
  return out;
}

/**
 * Message files are opened without following a symbolic link (ELOOP: reported, never read), and
 * without waiting at the open (a FIFO swapped in after the listing).
 */
const READ_NOFOLLOW = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

/** A nested-layout directory name → its folder name (`.Child`, mbsync's Legacy subfolder, is `Child`). */
function legacySegment(name: string): string {
  return nestedSegment(name.length > 1 && name.startsWith('.') ? name.slice(1) : name);
}

export class MaildirSource implements Source {
  readonly caps = { lineEndings: 'lf' as const, parallelReaders: true, keysReturn: true };
  /** Folder path (as listed) → its directory. */
  private readonly dirs = new Map<string, string>();
  /** Folder path → its files by key, from the last list(). */
  private readonly files = new Map<string, FolderFiles>();
  /** Folders listed that cannot be read (a symbolic link to a Maildir): their listing fails, saying why. */
  private readonly broken = new Map<string, MailferryError>();

  private constructor(private readonly root: string) {}

  static async open(path: string): Promise<MaildirSource> {
    const root = resolve(path);
    let st;
    try {
      st = await fs.stat(root);
    } catch (err) {
      throw readError(err, root, 'run');
    }
    if (!st.isDirectory()) throw new MailferryError('BAD_URL', `source ${root} is not a directory`, { hint: 'a maildir: source is the directory holding cur/ new/ tmp/' });
    return new MaildirSource(root);
  }

  async listMailboxes(): Promise<MailboxInfo[]> {
    const out: MailboxInfo[] = [];
    this.dirs.clear();
    this.broken.clear();
    const add = (path: string, segments: string[], dir: string, delimiter: string, broken?: MailferryError) => {
      if (this.dirs.has(path)) return;
      this.dirs.set(path, dir);
      if (broken) this.broken.set(path, broken);
      out.push({ path, segments, delimiter, ...roleOf(segments) });
    };
    const rootIsMaildir = await isMaildir(this.root);
    if (rootIsMaildir) add('INBOX', ['INBOX'], this.root, '.');
    let entries;
    try {
      entries = await fs.readdir(this.root, { withFileTypes: true });
    } catch (err) {
      throw readError(err, this.root, 'run');
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      // cur/ new/ tmp/ are INBOX's own; in a root that is not a Maildir they are folders like any.
      if ((rootIsMaildir && SUBDIRS.has(e.name)) || e.name === '.' || e.name === '..') continue;
      const dir = join(this.root, e.name);
      // A folder that is a symbolic link is listed, and fails saying so: never followed, never passed over.
      if (e.isSymbolicLink()) {
        const dotted = e.name.startsWith('.');
        if (await isMaildir(dir)) add(e.name, dotted ? segmentsOfDirName(e.name) : [nestedSegment(e.name)], dir, dotted ? '.' : '/', linkError(dir, 'folder'));
        continue;
      }
      if (!e.isDirectory()) continue;
      if (e.name.startsWith('.')) {
        const check = await maildirCheck(dir);
        if (check !== false) add(e.name, segmentsOfDirName(e.name), dir, '.', check === true ? undefined : check);
      } else {
        await this.walkNested(dir, [e.name], add);
      }
    }
    for (const bad of await nonUtf8Folders(this.root, entries.map((e) => e.name))) {
      const dotted = bad.shown.startsWith('.');
      add(bad.shown, dotted ? segmentsOfDirName(bad.shown) : [bad.shown], join(this.root, bad.shown), dotted ? '.' : '/', bad.error);
    }
    if (out.length === 0) {
      throw new MailferryError('NO_SUCH_MAILBOX', `${this.root} holds no Maildir (no cur/ or new/ directory anywhere)`, { hint: 'point maildir: at the directory that holds cur/ new/ tmp/' });
    }
    return out;
  }

  /**
   * One directory of a nested layout, and what it holds. `segments` are the directory names from
   * the root; a name with a leading dot is a subfolder as mbsync's `SubFolders Legacy` writes it
   * (`Work/.Projects/.Alpha` is Work/Projects/Alpha). `hidden`: reached through such a name, so a
   * directory there that cannot be read and is no Maildir is some program's own, not a folder.
   */
  private async walkNested(dir: string, segments: string[], add: (p: string, s: string[], d: string, delim: string, broken?: MailferryError) => void, depth = 0, hidden = false): Promise<void> {
    const segs = segments.length === 1 && segments[0]!.toUpperCase() === 'INBOX' ? ['INBOX'] : segments;
    // Named by its path on disk (the checkpoint's key), its segments decoded (what lands in the
    // destination). A directory INBOX (any case) beside a root that is a Maildir, or beside
    // another spelling, is INBOX too: its messages go there, under a key of its own ("./Inbox",
    // which no directory name can be), never passed over.
    const key = segs.join('/');
    const path = this.dirs.has(key) && this.dirs.get(key) !== dir ? `./${segments.join('/')}` : key;
    const here = (broken?: MailferryError) => add(path, segs.map(legacySegment), dir, '/', broken);
    if (depth > MAX_DEPTH) {
      return here(new MailferryError('MAILBOX_FAILED', `${dir} is nested more than ${MAX_DEPTH} folders deep: not read`, { scope: 'mailbox', hint: 'move the folders below it higher up' }));
    }
    const check = await maildirCheck(dir);
    // One that cannot be entered: a folder fails named; reached through a dot-name, it is
    // another program's (a notmuch or a trash directory), passed over.
    if (check !== true && check !== false) return hidden ? undefined : here(check);
    if (check) here();
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      // A Maildir whose subfolders cannot be listed is copied itself; any other directory that
      // cannot be read may hold folders: it fails, named.
      if (!check && !hidden && (err as NodeJS.ErrnoException).code !== 'ENOENT') here(readError(err, dir));
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if ((check && SUBDIRS.has(e.name)) || e.name === '.') continue;
      const sub = join(dir, e.name);
      if (e.isSymbolicLink()) {
        if (await isMaildir(sub)) add([...segments, e.name].join('/'), [...segments, e.name].map(legacySegment), sub, '/', linkError(sub, 'folder'));
        continue;
      }
      if (!e.isDirectory()) continue;
      await this.walkNested(sub, [...segments, e.name], add, depth + 1, hidden || e.name.startsWith('.'));
    }
    for (const bad of await nonUtf8Folders(dir, entries.map((e) => e.name))) {
      add([...segments, bad.shown].join('/'), [...segments, bad.shown].map(legacySegment), join(dir, bad.shown), '/', bad.error);
    }
  }

  private dirOf(mailbox: string): string {
    const d = this.dirs.get(mailbox);
    if (!d) throw new MailferryError('NO_SUCH_MAILBOX', `no folder '${mailbox}' in ${this.root}`, { scope: 'mailbox' });
    return d;
  }

  /**
   * The folder's directory is gone since the run listed it (renamed or deleted by another
   * program): the folder fails, as an IMAP folder renamed under a copy does (NO_SUCH_MAILBOX),
   * rather than reading as empty or its messages as vanished one by one with exit 0. Its messages
   * are not recorded: the next run copies it under its new name.
   */
  private async gone(mailbox: string): Promise<MailferryError | undefined> {
    const dir = this.dirOf(mailbox);
    const st = await fs.stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? null : undefined));
    if (st !== null && (st === undefined || st.isDirectory())) return undefined;
    return new MailferryError('NO_SUCH_MAILBOX', `${printable(dir)} is gone: the folder was renamed or deleted since this run listed it`, { scope: 'mailbox', hint: 'the next run copies it under its new name' });
  }

  async status(mailbox: string, opts: { size?: boolean } = {}): Promise<MailboxStatus> {
    const dir = this.dirOf(mailbox);
    const broken = this.broken.get(mailbox);
    if (broken) throw broken;
    const gone = await this.gone(mailbox);
    if (gone) throw gone;
    let messages = 0;
    let size = 0;
    for (const sub of ['cur', 'new']) {
      try {
        // What list() lists: files and links (which fail), not directories or dot-files.
        const names = (await fs.readdir(join(dir, sub), { withFileTypes: true })).filter((d) => !d.name.startsWith('.') && (d.isFile() || d.isSymbolicLink())).map((d) => d.name);
        messages += names.length;
        if (opts.size) for (const n of names) size += (await fs.stat(join(dir, sub, n)).catch(() => null))?.size ?? 0;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw readError(err, join(dir, sub));
      }
    }
    return { validity: MAILDIR_VALIDITY, messages, ...(opts.size ? { size } : {}) };
  }

  async *list(mailbox: string, opts: ListOptions = {}): AsyncIterable<MessageRef> {
    const dir = this.dirOf(mailbox);
    const broken = this.broken.get(mailbox);
    if (broken) throw broken;
    const refs: MessageRef[] = [];
    // Keyword letters (a–z) name the lines of the folder's dovecot-keywords (flags.ts).
    const keywords = await readKeywords(dir).catch((err) => {
      throw readError(err, keywordsPath(dir));
    });
    // The files of cur/ then new/, by key (the part of the name a flag change keeps).
    const byKey = new Map<string, FileRef[]>();
    /** Files whose names are not UTF-8: listed as unreadable (never passed over unseen). */
    const badNames: Array<{ sub: string; raw: Buffer }> = [];
    for (const sub of ['cur', 'new'] as const) {
      let raws: Buffer[];
      try {
        // A cur/ or new/ that is a symbolic link would bring in the files of another directory.
        if ((await fs.lstat(join(dir, sub))).isSymbolicLink()) throw linkError(join(dir, sub), 'directory');
        raws = await fs.readdir(join(dir, sub), { encoding: 'buffer' });
      } catch (err) {
        if (err instanceof MailferryError) throw err;
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw readError(err, join(dir, sub));
      }
      for (const raw of raws) {
        if (raw[0] === 0x2e) continue; // a dot-file
        const name = utf8Name(raw);
        if (name === undefined) {
          badNames.push({ sub, raw });
          continue;
        }
        const key = keyOfFileName(name);
        const group = byKey.get(key);
        if (group) group.push({ sub, name });
        else byKey.set(key, [{ sub, name }]);
      }
    }
    const files: Array<FileRef & { key: string }> = [];
    // Each made with its fields written out: Node 20's V8 gives an object spread with a field
    // added after it (`{ ...file, key }`) a hidden class of its own, ~200 bytes per file held
    // for the whole copy (test/unit/maildir-listing-memory.test.ts).
    for (const [key, group] of byKey) files.push(...(group.length === 1 ? [{ sub: group[0]!.sub, name: group[0]!.name, key }] : await sameKey(dir, key, group)));
    byKey.clear();
    for (const { sub, raw } of badNames) {
      // A file name, not message bytes: latin1 keeps one character per byte, for the key and the message.
      const name = raw.toString('latin1');
      const key = keyOfFileName(name);
      const message = `${printable(join(dir, sub, name))}: the file name is not UTF-8, so it is not read`;
      const hint = 'rename the file (a Maildir file name is ASCII)';
      if (!opts.unreadable) throw new MailferryError('MAILBOX_FAILED', message, { scope: 'mailbox', hint });
      refs.push({ mailbox, key, seq: 0, size: 0, internalDate: undefined, flags: NO_FLAGS, messageId: null, unreadable: new MailferryError('MAILBOX_FAILED', message, { scope: 'message', hint, messageKey: key }) });
    }
    // Every file by key; a file not found where it was seen is looked for again (relook.ts).
    const index = new Map<string, FileRef>();
    for (const f of files) index.set(f.key, f);
    const folder = new FolderFiles(dir, index);
    /** The file of `key` at `path`; ENOENT (renamed by a mail client meanwhile, or removed) is thrown as it is. */
    const describeAt = async (key: string, path: string): Promise<MessageRef | undefined> => {
      let st;
      try {
        st = await fs.lstat(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
        throw readError(err, path);
      }
      const internalDate = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
      // A symbolic link is listed but never followed: it fails with the reason, so it is reported
      // (a link planted in a Maildir being read as root must not bring in another file).
      if (st.isSymbolicLink()) {
        const err = readError(Object.assign(new Error('link'), { code: 'ELOOP' }), path, 'message', key);
        return { mailbox, key, seq: 0, size: 0, internalDate, flags: NO_FLAGS, messageId: null, ...(opts.unreadable ? { unreadable: err } : {}) };
      }
      if (!st.isFile()) return undefined;
      let messageId: string | null;
      // A compressed file's size is not its message's: its gzip trailer says that one.
      let size = st.size;
      try {
        const head = await readHead(path);
        messageId = head.messageId;
        size = head.size ?? size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
        // One file that cannot be read (its mode, an I/O error) fails alone; the folder is copied.
        if (!opts.unreadable) throw readError(err, path);
        return { mailbox, key, seq: 0, size: st.size, internalDate, flags: NO_FLAGS, messageId: null, unreadable: readError(err, path, 'message', key) };
      }
      return {
        mailbox,
        key,
        seq: 0,
        size,
        internalDate,
        // new/ holds no flags by the spec, but Dovecot renames a file there to carry some.
        flags: shared(infoToFlags(basename(path), keywords)),
        messageId,
      };
    };
    // Each file's stat and header read, LIST_PARALLEL files at a time.
    const describe = async (f: FileRef & { key: string }): Promise<MessageRef | undefined> => {
      // Done already: the caller skips it unread, so neither a stat nor a header read.
      if (opts.known?.has(f.key)) return { mailbox, key: f.key, seq: 0, size: 0, internalDate: undefined, flags: NO_FLAGS, messageId: null };
      // Not found again: removed (not listed; were it only missed, the next run lists it).
      return folder.at(f.key, (path) => describeAt(f.key, path));
    };
    let described = 0;
    for await (const ref of mapOrdered(files, LIST_PARALLEL, describe)) if (ref) (refs.push(ref), described++);
    // Files not found again, or none at all: the folder itself may be gone meanwhile.
    if (described < files.length || files.length === 0) {
      const gone = await this.gone(mailbox);
      if (gone) throw gone;
    }
    // Stable order: by date, then by key (done keys, listed without a date, first).
    const time = (r: MessageRef) => r.internalDate?.getTime() ?? -1;
    refs.sort((a, b) => time(a) - time(b) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    refs.forEach((r, i) => (r.seq = i + 1));
    this.files.set(mailbox, folder);
    const listed = refs.filter((r) => r.seq > (opts.afterSeq ?? 0));
    opts.onCount?.(opts.known ? listed.filter((r) => !opts.known!.has(r.key)).length : listed.length);
    refs.length = 0;
    yield* handOver(listed);
  }

  /** The file of a key now; a mail client may have renamed it (flags) since the listing. */
  private async pathOf(mailbox: string, key: string): Promise<string | undefined> {
    const dir = this.dirOf(mailbox);
    const f = this.files.get(mailbox)?.byKey.get(key);
    // A file whose key others share is known by its inode (a rename keeps it).
    const same = async (p: string) => f?.ino === undefined || (await fs.lstat(p).catch(() => null))?.ino === f.ino;
    if (f) {
      const p = join(dir, f.sub, f.name);
      try {
        await fs.access(p);
        if (await same(p)) return p;
      } catch {
        // renamed: look it up again
      }
    }
    // A key "K:sub/name" (sameKey) is looked for under K, its inode telling it from the others.
    const base = keyOfFileName(key);
    for (const sub of ['cur', 'new']) {
      const names = await fs.readdir(join(dir, sub)).catch(() => [] as string[]);
      for (const n of names) {
        if (keyOfFileName(n) !== base) continue;
        const p = join(dir, sub, n);
        if (f?.ino === undefined ? base === key : await same(p)) return p;
      }
    }
    return undefined;
  }

  /**
   * `use` on the file of `key`, looked for again while it is not found (ENOENT: renamed by a mail
   * client since it was seen, relook.ts); undefined when it is not found again, gone.
   */
  private async atFile<T>(mailbox: string, key: string, use: (path: string) => Promise<T>): Promise<T | undefined> {
    const folder = this.files.get(mailbox);
    const f = folder?.byKey.get(key);
    if (!folder || !f || f.ino !== undefined) {
      // A file whose key others share is found by its inode (pathOf), once more after a miss.
      for (let attempt = 0; attempt < 2; attempt++) {
        const path = await this.pathOf(mailbox, key);
        if (!path) return undefined;
        try {
          return await use(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      return undefined;
    }
    return folder.at(key, use);
  }

  async reader(): Promise<SourceReader> {
    return {
      fetch: (mailbox, refs) => this.fetch(mailbox, refs),
      stream: (mailbox, ref) => this.stream(mailbox, ref),
      close: async () => {},
    };
  }

  /** One large message read in chunks, never held whole; read errors are the message's own. */
  private async stream(mailbox: string, ref: MessageRef): Promise<AsyncIterable<Buffer> | null> {
    const opened = await this.atFile(mailbox, ref.key, async (path) => ({ path, fh: await fs.open(path, READ_NOFOLLOW).catch((err) => rethrow(err, path, ref.key)) }));
    if (!opened) {
      const gone = await this.gone(mailbox);
      if (gone) throw gone;
      return null;
    }
    const { path, fh } = opened;
    const chunks = async function* () {
      try {
        for (;;) {
          const buf = Buffer.allocUnsafe(256 * 1024);
          let n: number;
          try {
            n = (await fh.read(buf, 0, buf.length, null)).bytesRead;
          } catch (err) {
            throw readError(err, path, 'message', ref.key);
          }
          if (n === 0) return;
          yield buf.subarray(0, n);
        }
      } finally {
        await fh.close();
      }
    };
    // The message the file holds: itself, or its gzip content (compressed.ts).
    return (async function* () {
      try {
        yield* messageChunks(chunks());
      } catch (err) {
        throw err instanceof MailferryError ? err : readError(err, path, 'message', ref.key);
      }
    })();
  }

  /**
   * Bodies in the order asked, FETCH_PARALLEL files (at most FETCH_AHEAD_BYTES) read at once. A file
   * is read where the listing saw it; only one that moved meanwhile is looked up again.
   */
  private async *fetch(mailbox: string, refs: MessageRef[]): AsyncIterable<FetchedMessage> {
    this.dirOf(mailbox);
    const read = async (ref: MessageRef): Promise<FetchedMessage | undefined> => {
      // The message the file holds (compressed.ts): a gzip file inflates to the size its listing found, no more.
      const body = await this.atFile(mailbox, ref.key, (path) => readMessageFile(path, ref.size, false).catch((err) => rethrow(err, path, ref.key)));
      if (body) return { ref, body };
      // Not found: vanished (the engine records nothing: caps.keysReturn), unless its folder is gone.
      const gone = await this.gone(mailbox);
      if (gone) throw gone;
      return undefined;
    };
    for await (const m of mapOrdered(refs, FETCH_PARALLEL, read, { of: (r) => r.size, max: FETCH_AHEAD_BYTES })) if (m) yield m;
  }

  /**
   * A read of a released folder finds its file by a look through the folder's directories
   * (pathOf). Files told apart by inode from others with their unique name (sameKey) are kept:
   * their keys name no file to look for.
   */
  release(mailbox: string): void {
    const folder = this.files.get(mailbox);
    if (!folder) return;
    for (const [key, f] of folder.byKey) if (f.ino === undefined) folder.byKey.delete(key);
  }

  async close(): Promise<void> {}
}
