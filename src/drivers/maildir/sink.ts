/**
 * Maildir as a sink: each message is created in tmp/ (O_EXCL, 0600), written, given its
 * INTERNALDATE as mtime, fsynced (data and mtime) and renamed into cur/ with its flags in the
 * ":2," suffix. flush() fsyncs the directories renamed into, so the renames themselves survive
 * a crash. A message up to 1 MiB is made on the sink's file thread (file-thread.ts), which spares
 * the main thread, where a copy spends its CPU, a hand-off to the thread pool per call; a larger or
 * streamed one is made from here, through plain file descriptors (no FileHandle per message).
 */
import { promises as fs, type Dir, constants as C, open as openCb, write as writeCb, futimes as futimesCb, fsync as fsyncCb, close as closeCb, fchown as fchownCb } from 'node:fs';
import { promisify } from 'node:util';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { errnoCode, fileErrorReason, MailferryError } from '../../errors.js';
import type { DestHint, FolderLook, MessageMeta, Room, Sink, SinkWriter, StoredMessage } from '../types.js';
import { flagsToInfo, formatKeywords, isKeyword, keywordLetter, keywordsPath, MAX_KEYWORDS, readKeywords } from './flags.js';
import { folderDirName, segmentsOfDirName } from './names.js';
import { readMessageId, readMessageWithin } from './read-header.js';
import { isLeftoverOfOurs, uniqueBase, keyOfFileName } from './unique.js';
import { flat } from '../../strings.js';
import { mapOrdered } from '../../parallel.js';
import { pidAlive } from '../../proc.js';
import { mkdirs } from '../../mkdirs.js';
import { lockUidlist } from './dovecot-lock.js';
import { giveDir, ownerFor, type Owner } from './owner.js';
import { PLACED_ROLES, roleOf } from './roles.js';
import { FileJobError, FileThread } from './file-thread.js';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** Files whose header a scan reads at once. */
const SCAN_PARALLEL = 32;

const fdOpen = promisify(openCb);
const fdWrite = promisify(writeCb) as (fd: number, buf: Buffer, off: number, len: number) => Promise<{ bytesWritten: number }>;
const fdUtimes = promisify(futimesCb);
const fdSync = promisify(fsyncCb);
const fdClose = promisify(closeCb);
const fdChown = promisify(fchownCb);

/** Creates `tmp` (O_EXCL, 0600) and returns its descriptor. */
const createExclusive = (tmp: string): Promise<number> => fdOpen(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, FILE_MODE);

async function writeAll(fd: number, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) off += (await fdWrite(fd, buf, off, buf.length - off)).bytesWritten;
}

function ioError(err: unknown, path: string): MailferryError {
  const code = errnoCode(err);
  if (code === 'EACCES' || code === 'EPERM') return new MailferryError('DEST_IO', `cannot write ${path}: permission denied`, { hint: 'choose a directory you can write to' });
  if (code === 'ENOTDIR' || code === 'EEXIST') return new MailferryError('DEST_IO', `${path} is not a directory`, { hint: 'a file stands where the Maildir should be; choose another path' });
  if (code === 'ENOSPC') return new MailferryError('DEST_IO', `no space left writing ${path}`, { hint: 'free some space and rerun: what was copied is kept' });
  if (code === 'EDQUOT') return new MailferryError('DEST_IO', `disk quota exceeded writing ${path}`, { hint: 'raise the quota or free some space and rerun: what was copied is kept' });
  if (code === 'EROFS') return new MailferryError('DEST_IO', `${path} is on a read-only file system`);
  if (code === 'ELOOP') return new MailferryError('DEST_IO', `${path} is a symbolic link: not followed`, { hint: 'a Maildir holds no links; remove it (it could name any file)' });
  return new MailferryError('DEST_IO', `cannot write ${path}: ${(err as Error).message}`);
}

/**
 * A destination that cannot be read (a scan for dedupe or verify, a message read back): said as
 * a read, not as a write; a wrong kind of file or a link as ioError says them.
 */
function readError(err: unknown, path: string): MailferryError {
  if (err instanceof MailferryError) return err;
  const code = errnoCode(err);
  if (code === 'ENOTDIR' || code === 'ELOOP') return ioError(err, path);
  const hint = code === 'EACCES' || code === 'EPERM' ? 'the destination must be readable by the user mailferry runs as' : undefined;
  return new MailferryError('DEST_IO', `cannot read ${path}: ${fileErrorReason(err)}`, { hint });
}

const GONE = Symbol('gone');

/**
 * A folder's files by key, read when a file was not where the scan saw it (a mail client renamed
 * or moved it), and read again only when what it says fails too: a client marking a whole folder
 * read during a scan costs a directory read or a few, not one per file.
 */
class KeyIndex {
  private map?: Map<string, string>;
  private building?: Promise<void>;
  constructor(private readonly dir: string) {}

  /** Where `key`'s file is now; `failed`, a path that just failed, is not an answer; `fresh`: read the folder again. */
  async find(key: string, failed: string, fresh = false): Promise<string | undefined> {
    const p = fresh ? undefined : this.map?.get(key);
    if (p !== undefined && p !== failed) return p;
    await (this.building ??= this.build().finally(() => (this.building = undefined)));
    return this.map!.get(key);
  }

  private async build(): Promise<void> {
    const map = new Map<string, string>();
    for (const sub of ['cur', 'new']) {
      for (const n of await fs.readdir(join(this.dir, sub)).catch(() => [] as string[])) {
        if (!n.startsWith('.')) map.set(keyOfFileName(n), join(this.dir, sub, n));
      }
    }
    this.map = map;
  }
}

/**
 * `read(path)` of a message file; when the file has been renamed or moved meanwhile (a mail
 * client changing its flags), of the file of the same key now. Not found at all: GONE when
 * `gone` is allowed, else the ENOENT.
 */
async function readByKey<T>(keys: KeyIndex, key: string, path: string, read: (p: string) => Promise<T>, gone?: false): Promise<T>;
async function readByKey<T>(keys: KeyIndex, key: string, path: string, read: (p: string) => Promise<T>, gone: true): Promise<T | typeof GONE>;
async function readByKey<T>(keys: KeyIndex, key: string, path: string, read: (p: string) => Promise<T>, gone = false): Promise<T | typeof GONE> {
  let err: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      return await read(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      err = e;
    }
    // The index as it is first (one read for many renamed files), then read again each time.
    const now = await keys.find(key, path, attempt > 0);
    if (now === undefined) return gone ? GONE : Promise.reject(err);
    path = now;
  }
  // Renamed again each time it was looked for: not gone, only not readable now (never taken for
  // absent, which would copy it again).
  throw err;
}

/**
 * What a killed run left in tmp/ (created, never renamed into cur/: no message lives there):
 * files named by mailferry on this host, by a process no longer running. Nothing else is touched
 * (the Maildir convention lets a deliverer remove anything idle there for 36 hours, but the
 * destination may be a directory that is not a Maildir yet, $HOME say, whose tmp/ holds a
 * person's files). Best effort: a file that cannot be removed stays.
 */
async function cleanTmp(tmp: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    if (!isLeftoverOfOurs(name, pidAlive)) continue;
    const path = join(tmp, name);
    try {
      if ((await fs.lstat(path)).isFile()) await fs.unlink(path);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

/**
 * A recursive mkdir that fails says ENOENT even when the cause is a read-only file system or a
 * directory it may not write: the nearest existing ancestor is asked, so the error names the cause.
 */
async function whyNotMade(err: unknown, path: string): Promise<MailferryError> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'ENOENT' && code !== 'EEXIST' && code !== 'ENOTDIR') return ioError(err, path);
  // The nearest entry that exists, the path itself first.
  for (let dir = path; ; dir = dirname(dir)) {
    const st = await fs.lstat(dir).catch(() => null);
    if (st) {
      if (st.isSymbolicLink() && !(await fs.stat(dir).catch(() => null))) {
        return new MailferryError('DEST_IO', `${dir} is a symbolic link to nothing`, { hint: 'fix or remove the link, or choose another path' });
      }
      if (dir === path) return ioError(err, path);
      const denied = await fs.access(dir, C.W_OK).then(() => null, (e: unknown) => e);
      if (denied) return ioError(denied, path);
      // /proc, /sys: the directory exists and is writable, yet mkdir in it says ENOENT.
      if (code === 'ENOENT' && st.isDirectory()) return new MailferryError('DEST_IO', `cannot create ${path}: ${dir} takes no new directories`, { hint: 'choose a directory on a disk' });
      return ioError(err, path);
    }
    if (dirname(dir) === dir) return ioError(err, path);
  }
}

/** Makes directory `path` unless it is one already; one made here is given to `owner` at once. */
async function mkdirSafe(path: string, owner?: Owner): Promise<void> {
  try {
    await fs.mkdir(path, { mode: DIR_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(err, path);
    const st = await fs.lstat(path).catch((e: unknown) => Promise.reject(ioError(e, path)));
    if (!st.isDirectory()) throw ioError(Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }), path);
    return;
  }
  if (owner) await giveDir(path, owner).catch((err) => Promise.reject(ioError(err, path)));
}

/**
 * fsync of a directory: the renames into it survive a crash. One that fails (a full or failing
 * disk) is the destination's failure, named as such (exit 3), as a message's own fsync is.
 */
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fs.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw ioError(err, dir);
  }
}

/**
 * A folder's keywords (`dovecot-keywords`, see flags.ts). When a message brings a keyword this
 * run has no letter for, the table is read again under Dovecot's uidlist lock (dovecot-lock.ts;
 * Dovecot or a client may have added keywords since), the keyword given the next free letter, and
 * the table written (tmp file, fsync, rename, directory fsync) before the lock is let go and that
 * message's file is renamed into place. A letter once in the file keeps its keyword (Dovecot only
 * ever adds), so letters given earlier stay right. At most 26 (a–z), Dovecot's own limit for a
 * Maildir folder; further keywords are not stored.
 */
class KeywordFile {
  private table: (string | undefined)[] = [];
  private readonly byName = new Map<string, number>();
  /** Keywords that found the table full: not asked for again. */
  private readonly unstorable = new Set<string>();
  private adding: Promise<void> = Promise.resolve();

  /** `owner`: whom the table and the lock are given to (owner.ts); `warn`: told of each keyword left out, and of a long wait for the lock. */
  constructor(
    private readonly dir: string,
    private readonly owner?: Owner,
    private readonly warn?: (msg: string) => void,
  ) {}

  private missing(flags: readonly string[]): string[] {
    return flags.filter((f) => isKeyword(f) && !this.byName.has(f.toLowerCase()) && !this.unstorable.has(f.toLowerCase()));
  }

  /** The letter of each keyword among `flags`, new keywords written first. */
  async letters(flags: readonly string[]): Promise<(keyword: string) => string | undefined> {
    if (this.missing(flags).length > 0) {
      // One at a time: each reads what the one before wrote.
      this.adding = this.adding.catch(() => {}).then(() => this.add(flags));
      await this.adding;
    }
    return (k) => {
      const i = this.byName.get(k.toLowerCase());
      return i === undefined ? undefined : keywordLetter(i);
    };
  }

  private async add(flags: readonly string[]): Promise<void> {
    if (this.missing(flags).length === 0) return;
    const unlock = await lockUidlist(this.dir, ioError, this.owner, this.warn);
    try {
      this.table = await readKeywords(this.dir).catch((err) => {
        throw ioError(err, keywordsPath(this.dir));
      });
      this.byName.clear();
      this.table.forEach((k, i) => k !== undefined && this.byName.set(k.toLowerCase(), i));
      let added = false;
      for (const f of this.missing(flags)) {
        let free = 0;
        while (free < MAX_KEYWORDS && this.table[free] !== undefined) free++;
        if (free === MAX_KEYWORDS) {
          this.unstorable.add(f.toLowerCase());
          this.warn?.(`${this.dir}: the folder holds ${MAX_KEYWORDS} keywords, as many as a Maildir folder can (Dovecot's limit): messages are stored without the keyword '${f}'`);
          continue;
        }
        this.table[free] = f;
        this.byName.set(f.toLowerCase(), free);
        added = true;
      }
      if (added) await this.save();
    } catch (err) {
      // What is not in the file has no letter: the next message asks again.
      this.byName.clear();
      throw err;
    } finally {
      await unlock();
    }
  }

  private async save(): Promise<void> {
    const path = keywordsPath(this.dir);
    // A Maildir tmp/ name of ours: one a kill leaves is removed by a later run with the rest of tmp/.
    const tmp = join(this.dir, 'tmp', uniqueBase());
    try {
      const fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL, FILE_MODE);
      try {
        if (this.owner) await fh.chown(this.owner.uid, this.owner.gid);
        await fh.writeFile(formatKeywords(this.table));
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, path);
      await syncDir(this.dir);
    } catch (err) {
      await fs.unlink(tmp).catch(() => {});
      throw err instanceof MailferryError ? err : ioError(err, path);
    }
  }
}

/** A folder's directory, its tmp/ and its cur/. */
interface FolderDirs {
  dir: string;
  tmp: string;
  cur: string;
}

/** The folder directories of a Maildir root, created on demand. */
class MaildirTree {
  /** The folders made (or found) so far, by mailbox name. */
  private readonly made = new Map<string, FolderDirs>();
  private readonly keywords = new Map<string, KeywordFile>();
  /** `owner`: whom what is created in it is given to (owner.ts); none, this process's. */
  constructor(
    readonly root: string,
    readonly owner?: Owner,
    private readonly warn?: (msg: string) => void,
  ) {}

  /** The info suffix letters of `flags` in folder `dir` (keywords through its dovecot-keywords). */
  async info(dir: string, flags: readonly string[]): Promise<string> {
    if (!flags.some(isKeyword)) return flagsToInfo(flags);
    let kf = this.keywords.get(dir);
    if (!kf) {
      kf = new KeywordFile(dir, this.owner, this.warn);
      this.keywords.set(dir, kf);
    }
    return flagsToInfo(flags, await kf.letters(flags));
  }

  dirOf(mailbox: string): string {
    if (mailbox === 'INBOX') return this.root;
    if (!mailbox.startsWith('.') || mailbox === '.' || mailbox === '..' || mailbox.includes(sep) || mailbox.includes('\0')) {
      throw new MailferryError('BAD_MAILBOX_NAME', `refusing folder path outside the Maildir: ${JSON.stringify(mailbox)}`, { scope: 'mailbox' });
    }
    return join(this.root, mailbox);
  }

  /**
   * A folder's directory and its tmp/ and cur/, made on first use, then kept: a message's names
   * are joined to them by hand (whole paths already, the names ours), as path.join per name cost
   * ~2 KB of heap per message.
   */
  async dirs(mailbox: string): Promise<FolderDirs> {
    const had = this.made.get(mailbox);
    if (had) return had;
    const dir = this.dirOf(mailbox);
    if (dir !== this.root) await mkdirSafe(dir, this.owner);
    for (const sub of ['cur', 'new', 'tmp']) await mkdirSafe(join(dir, sub), this.owner);
    if (dir !== this.root) await this.marker(join(dir, 'maildirfolder'));
    const made = { dir, tmp: join(dir, 'tmp'), cur: join(dir, 'cur') };
    this.made.set(mailbox, made);
    return made;
  }

  /** The `maildirfolder` marker: created or left as it is, never through a symbolic link (one planted there could name any file). */
  private async marker(path: string): Promise<void> {
    const open = (flags: number) => fs.open(path, C.O_WRONLY | C.O_APPEND | C.O_NOFOLLOW | flags, FILE_MODE);
    try {
      if (!this.owner) return await (await open(C.O_CREAT)).close();
      // Given away only when made here: an existing marker is left as it is.
      const fh = await open(C.O_CREAT | C.O_EXCL).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? null : Promise.reject(err)));
      if (!fh) return await (await open(0)).close();
      try {
        await fh.chown(this.owner.uid, this.owner.gid);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw ioError(err, path);
    }
  }
}

/** Messages up to this size are written by the file thread; larger ones from here (rare). */
const THREAD_MAX = 1 << 20;

/**
 * Its name is unique to this process and message: a file of it in tmp/ was made by another
 * program (ioError would take EEXIST for a file where a directory should be).
 */
const tmpExists = (tmp: string): MailferryError =>
  new MailferryError('DEST_IO', `${tmp} exists already: not overwritten`, { hint: 'another program writes files of mailferry\'s names into tmp/; rerun' });

/** A message's store that failed in folder `dir`, at `at` (its tmp/ file, or the cur/ it went to). */
function storeError(err: unknown, dir: string, at: string): MailferryError {
  if (err instanceof MailferryError) return err;
  if (err instanceof FileJobError && err.step === 'create' && err.code === 'EEXIST') return tmpExists(at);
  // Larger than a file may be here (`ulimit -f` in a cron or CI environment, a file system's
  // largest file): this message fails alone; a smaller one still fits, so the run goes on.
  if (errnoCode(err) === 'EFBIG') {
    return new MailferryError('MESSAGE_TOO_LARGE', `message too large for a file in ${dir} (a file size limit: ulimit -f, or the file system's largest file)`, {
      scope: 'message',
      retryable: false,
      hint: 'raise the limit (ulimit -f) or choose another file system, and rerun: it copies the message then',
    });
  }
  return ioError(err, at);
}

class MaildirWriter implements SinkWriter {
  private readonly dirty = new Set<string>();
  constructor(
    private readonly tree: MaildirTree,
    private readonly files: FileThread,
  ) {}

  /** mtime = INTERNALDATE, then fsync (data and the mtime with it). */
  private async settle(fd: number, meta: MessageMeta): Promise<void> {
    if (meta.internalDate) await fdUtimes(fd, meta.internalDate, meta.internalDate);
    await fdSync(fd);
  }

  async put(mailbox: string, body: Buffer, meta: MessageMeta): Promise<string> {
    if (body.length > THREAD_MAX) return (await this.store(mailbox, meta, async (fd) => (await writeAll(fd, body), body.length))).key;
    const { dir, tmp: tmpDir, cur: at } = await this.tree.dirs(mailbox);
    const base = uniqueBase();
    const tmp = `${tmpDir}/${base}`;
    const key = flat(`${base},S=${body.length}`);
    const info = await this.tree.info(dir, meta.flags);
    const owner = this.tree.owner;
    let job: Promise<void>;
    try {
      job = this.files.run({ tmp, final: `${at}/${key}:2,${info}`, body, mtime: meta.internalDate && meta.internalDate.getTime() / 1000, uid: owner?.uid, gid: owner?.gid });
    } catch (err) {
      job = Promise.reject(err);
    }
    // Returned, not awaited: this frame, and the body in it, ends once the body is in the file
    // thread's ring, not when the file is fsynced, so the body dies young (see the engine's storeOne).
    return this.written(job, dir, at, tmp, key);
  }

  /** The file thread's job done: the message's key, or its failure named. */
  private async written(job: Promise<void>, dir: string, at: string, tmp: string, key: string): Promise<string> {
    try {
      await job;
    } catch (err) {
      throw storeError(err, dir, err instanceof FileJobError && err.step === 'rename' ? at : tmp);
    }
    this.dirty.add(at);
    return key;
  }

  /**
   * A message from a byte stream, never held whole: chunks are written as they come, and the size
   * goes into the name at the rename. A failing stream (source error: a MailferryError) leaves
   * nothing behind and is rethrown as it is.
   */
  putStream(mailbox: string, body: AsyncIterable<Buffer>, meta: MessageMeta): Promise<{ key: string; bytes: number }> {
    return this.store(mailbox, meta, async (fd) => {
      let bytes = 0;
      for await (const chunk of body) {
        await writeAll(fd, chunk);
        bytes += chunk.length;
      }
      return bytes;
    });
  }

  /** tmp/ file (O_EXCL), `write` (returns the bytes written), mtime + fsync, rename into cur/. */
  private async store(mailbox: string, meta: MessageMeta, write: (fd: number) => Promise<number>): Promise<{ key: string; bytes: number }> {
    const { dir, tmp: tmpDir, cur } = await this.tree.dirs(mailbox);
    const base = uniqueBase();
    const tmp = `${tmpDir}/${base}`;
    let fd: number | undefined;
    // What a failure names: the file being written, then the cur/ it is moved into.
    let at = tmp;
    // Removed on failure only once made here: a file at its name that was there before is not ours.
    let made = false;
    try {
      fd = await createExclusive(tmp).catch((err: NodeJS.ErrnoException) => {
        throw err.code === 'EEXIST' ? tmpExists(tmp) : err;
      });
      made = true;
      const owner = this.tree.owner;
      if (owner) await fdChown(fd, owner.uid, owner.gid);
      const bytes = await write(fd);
      await this.settle(fd, meta);
      // Forgotten before closing: a failed close is not retried (the number may be reused by then).
      const done = fd;
      fd = undefined;
      await fdClose(done);
      const key = flat(`${base},S=${bytes}`);
      const info = await this.tree.info(dir, meta.flags);
      at = cur;
      await fs.rename(tmp, `${cur}/${key}:2,${info}`);
      this.dirty.add(cur);
      return { key, bytes };
    } catch (err) {
      if (fd !== undefined) await fdClose(fd).catch(() => {});
      if (made) await fs.unlink(tmp).catch(() => {});
      throw storeError(err, dir, at);
    }
  }

  async flush(): Promise<void> {
    const dirs = [...this.dirty];
    this.dirty.clear();
    await Promise.all(dirs.map(syncDir));
  }

  async close(): Promise<void> {
    await this.flush();
  }
}

/** The Maildir folder (directory name, or INBOX) a hierarchy is stored in by name. */
function mailboxOf(segments: string[]): string {
  const name = folderDirName(segments);
  return name === '' ? 'INBOX' : name;
}

export class MaildirSink implements Sink {
  readonly caps = { lineEndings: 'lf' as const, scanReadsEach: true, putsInFlight: 64 };
  private readonly tree: MaildirTree;
  private readonly files = new FileThread();

  private constructor(root: string, owner?: Owner, warn?: (msg: string) => void) {
    this.tree = new MaildirTree(root, owner, warn);
  }

  /**
   * `readOnly`: create nothing (verify, --dry-run); a missing root is an empty Maildir. `warn`:
   * told of what is not stored as given (keywords past the 26th of a folder).
   */
  static async open(path: string, opts: { readOnly?: boolean; warn?: (msg: string) => void } = {}): Promise<MaildirSink> {
    const root = resolve(path);
    if (root === parse(root).root) {
      throw new MailferryError('BAD_URL', `maildir:${root} is the root of the file system, not a place for a Maildir`, { hint: 'name a directory for it, e.g. maildir:/srv/mail/alice' });
    }
    if (opts.readOnly) {
      const st = await fs.stat(root).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw readError(err, root);
      });
      if (st && !st.isDirectory()) throw ioError(Object.assign(new Error(''), { code: 'ENOTDIR' }), root);
      return new MaildirSink(root);
    }
    // Root writing into another user's existing Maildir gives that user what it creates there.
    const before = await fs.stat(root).catch(() => null);
    try {
      // Also refuses a file standing where the root should be (ENOTDIR).
      await mkdirs(root, DIR_MODE);
    } catch (err) {
      throw await whyNotMade(err, root);
    }
    const sink = new MaildirSink(root, ownerFor(before), opts.warn);
    await sink.tree.dirs('INBOX');
    // What killed runs left in the tmp/ of any folder (one directory read each, usually empty).
    await cleanTmp(join(root, 'tmp'));
    for (const d of await fs.readdir(root, { withFileTypes: true }).catch(() => [])) {
      if (d.isDirectory() && d.name.startsWith('.') && d.name !== '.' && d.name !== '..') await cleanTmp(join(root, d.name, 'tmp'));
    }
    try {
      await fs.access(root, C.W_OK);
    } catch (err) {
      throw ioError(err, root);
    }
    return sink;
  }

  async ensureMailbox(segments: string[], specialUse?: string, hint?: DestHint): Promise<string> {
    const kept = await this.remembered(hint);
    if (kept) return kept;
    const mailbox = (await this.byRole(segments, specialUse, hint)) ?? mailboxOf(segments);
    await this.tree.dirs(mailbox);
    return mailbox;
  }

  async existingMailbox(segments: string[], specialUse?: string, hint?: DestHint): Promise<string | null> {
    const kept = await this.remembered(hint);
    if (kept) return kept;
    const mailbox = (await this.byRole(segments, specialUse, hint)) ?? mailboxOf(segments);
    return (await this.holds(mailbox)) ? mailbox : null;
  }

  /**
   * A folder with a role (Sent) whose own name this Maildir does not have goes into the Maildir's
   * folder of that role, one named like one (`Sent`, `Sent Items`, `Gesendet`: as a Maildir source
   * reads roles), as into an IMAP destination; a folder below it follows it (Sent Items/2020 →
   * Sent/2020). So a backup whose source moved to a server that names its Sent folder otherwise
   * goes on in the Sent folder it has, instead of storing every sent message again beside it. A
   * folder another folder of the run is copied into by name is not taken: a source with both
   * Sent and Sent Items keeps both apart.
   */
  private async byRole(segments: string[], specialUse: string | undefined, hint: DestHint | undefined): Promise<string | undefined> {
    if (specialUse && PLACED_ROLES.has(specialUse)) {
      return (await this.holds(mailboxOf(segments))) ? undefined : this.roleFolder(specialUse, hint?.planned);
    }
    const under = hint?.under;
    if (!under || !PLACED_ROLES.has(under.specialUse) || under.depth >= segments.length) return undefined;
    if ((await this.holds(mailboxOf(segments))) || (await this.holds(mailboxOf(segments.slice(0, under.depth))))) return undefined;
    const root = await this.roleFolder(under.specialUse, hint?.planned);
    return root === undefined ? undefined : mailboxOf([...segmentsOfDirName(root), ...segments.slice(under.depth)]);
  }

  /** The Maildir's folder with this role (the first by name), but none a folder of the run is copied into by name. */
  private async roleFolder(role: string, planned: string[][] = []): Promise<string | undefined> {
    const taken = new Set<string>();
    for (const p of planned) {
      try {
        taken.add(mailboxOf(p));
      } catch {
        // a name no Maildir folder can have: it takes none
      }
    }
    const names = (await fs.readdir(this.tree.root, { withFileTypes: true }).catch(() => []))
      .filter((d) => d.isDirectory() && d.name.startsWith('.') && d.name !== '.' && d.name !== '..' && !taken.has(d.name))
      .map((d) => d.name)
      .sort();
    for (const name of names) {
      if (roleOf(segmentsOfDirName(name)).specialUse === role && (await this.holds(name))) return name;
    }
    return undefined;
  }

  /**
   * The folder earlier runs copied this source folder into, while it exists (the checkpoint
   * remembers it), so a change in how names are made (a source's namespace prefix no longer
   * kept, say) never starts a second copy beside the first.
   */
  private async remembered(hint?: DestHint): Promise<string | undefined> {
    const p = hint?.prefer;
    if (!p || !(p === 'INBOX' || /^\.[^/\0]+$/.test(p)) || p === '..') return undefined;
    return (await this.holds(p)) ? p : undefined;
  }

  private async holds(mailbox: string): Promise<boolean> {
    const st = await fs.stat(join(this.tree.dirOf(mailbox), 'cur')).catch(() => null);
    return st?.isDirectory() ?? false;
  }

  displayName(mailbox: string): string {
    return segmentsOfDirName(mailbox === 'INBOX' ? '' : mailbox).join('/');
  }

  /** Free space on the file system the Maildir is (or would be made) on, as its owner may use it. */
  async room(): Promise<Room | null> {
    for (let at = this.tree.root; ; at = dirname(at)) {
      try {
        const st = await fs.statfs(at);
        return { what: 'disk', free: st.bavail * st.bsize };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(at) === at) return null;
      }
    }
  }

  /** Empty or not: a Maildir folder has no validity (its dest keys are file names). */
  async look(mailbox: string): Promise<FolderLook> {
    const dir = this.tree.dirOf(mailbox);
    for (const sub of ['cur', 'new']) {
      let d: Dir;
      try {
        d = await fs.opendir(join(dir, sub));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw readError(err, join(dir, sub));
      }
      try {
        // Reads the directory a few entries at a time: stops at the first message file.
        for await (const e of d) if (!e.name.startsWith('.')) return 'holds';
      } catch (err) {
        throw readError(err, join(dir, sub));
      } finally {
        await d.close().catch(() => {});
      }
    }
    return 'empty';
  }

  async *scan(mailbox: string, known?: ReadonlySet<string>): AsyncIterable<StoredMessage> {
    const dir = this.tree.dirOf(mailbox);
    // What a link points at is not this Maildir's: counted, it would pass a verify (or a dry run)
    // of a backup whose folder was moved away; copy refuses such a folder when it writes (exit 3).
    for (const p of [...(mailbox === 'INBOX' ? [] : [dir]), join(dir, 'cur'), join(dir, 'new')]) {
      const st = await fs.lstat(p).catch(() => null);
      if (st?.isSymbolicLink()) {
        throw new MailferryError('DEST_IO', `${p} is a symbolic link: not followed (a Maildir's folders are read where they are)`, { hint: 'put the folder itself there, not a link to it' });
      }
    }
    const keys = new KeyIndex(dir);
    // new/ first: a mail client moves files from new/ to cur/, so one moved between the two
    // readings is seen twice (given once: the keys given from new/ are remembered), never missed
    // (which would copy it again).
    const fromNew = new Set<string>();
    for (const sub of ['new', 'cur']) {
      let names: string[];
      try {
        names = await fs.readdir(join(dir, sub));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw readError(err, join(dir, sub));
      }
      // Headers of files the journal does not know, SCAN_PARALLEL files at a time, in order.
      const look = async (name: string): Promise<StoredMessage | undefined> => {
        const key = keyOfFileName(name);
        const path = join(dir, sub, name);
        // A client may rename the file (its flags) or move it to cur/ at any time: it is looked
        // up again by its key then, not taken for gone.
        const readFull = (max: number) => readByKey(keys, key, path, (p) => readMessageWithin(p, max)).catch((err: unknown) => Promise.reject(readError(err, path)));
        if (known?.has(key)) return { key, messageId: undefined, readFull };
        let messageId: string | null;
        try {
          const found = await readByKey(keys, key, path, (p) => readMessageId(p), true);
          if (found === GONE) return undefined; // deleted meanwhile
          messageId = found;
        } catch (err) {
          // A symbolic link, a FIFO: not a message of ours, never followed or read.
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ELOOP' || code === 'ENOTREG') return undefined;
          throw readError(err, path);
        }
        return { key, messageId, readFull };
      };
      for await (const m of mapOrdered(names.filter((n) => !n.startsWith('.')), SCAN_PARALLEL, look)) {
        if (!m || (sub === 'cur' && fromNew.has(m.key))) continue;
        if (sub === 'new') fromNew.add(m.key);
        yield m;
      }
    }
  }

  async writer(): Promise<SinkWriter> {
    return new MaildirWriter(this.tree, this.files);
  }

  async close(): Promise<void> {
    await this.files.close();
  }
}
