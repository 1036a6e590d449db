/**
 * The checkpoint: an append-only journal of JSON lines, replayed on start. A torn last line (a
 * crash mid-write) is dropped; any other unreadable line makes the checkpoint unreadable. Writes
 * are buffered and made durable in groups by sync(). Compaction rewrites the live state into a
 * fresh journal by temp file + fsync + rename.
 *
 * Records (besides the header line):
 *   box  {s, uv, again?}    source folder seen with this validity (a change forgets its keys, as
 *                           does `again`: the same validity, its UIDs given out again)
 *   i    {s, k, id}         intent: about to store source message k
 *   c    {s, k, id, d, dk, z?}  stored as dest key dk in dest folder d (z: the source's size of
 *                           the message, for a source that gives a key out again: POP3)
 *   k    {s, k, id, why, z?}  skipped for good (already in the destination, duplicate, vanished)
 *   kr   {s, r}             done for good: the keys that are the numbers of the runs r ("1-2500,2502"),
 *                           without sizes (compaction form of the k and c of IMAP UIDs, mostly
 *                           consecutive: a few records for a folder, not one per message)
 *   end  {s, uv, next, fk?} every message below `next` of this folder is done, or left out by
 *                           the filters `fk` (filters.ts#filterKey)
 *   lost {s, d?}            the destination of folder s was found gone or emptied: forget what
 *                           is done (the folder is copied again) and what dest folder d held
 *   d    {d, dk, id, seen?}  dest folder d holds dest key dk with this identity (compaction form of c;
 *                           with `seen`, what a scan of d read that the checkpoint did not know: a
 *                           message of the user's own, or one copied before the checkpoint was lost,
 *                           which once deleted is not taken for one copied before)
 *   to   {s, d}              folder s goes to dest folder d (written when a run places it there, also
 *                           when it stores nothing, e.g. all found present after --restart; and by compaction)
 */
import { openSync, closeSync, fsyncSync, fdatasync, fstatSync, lstatSync, readSync, ftruncateSync, renameSync, statSync, unlinkSync, constants as C } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, basename, join } from 'node:path';
import { errnoCode, fileErrorReason, MailferryError } from '../errors.js';
import { makePrivate, writeFully } from '../private-file.js';
import { pidAlive } from '../proc.js';
import { leftoversBeside } from '../leftovers.js';
import { flat } from '../strings.js';
import { KeySet } from './key-set.js';
import { hostInOneCase, sameJob } from './same-job.js';

export const JOURNAL_VERSION = 1;

/** Bytes read at a time when a journal is replayed. */
const REPLAY_CHUNK = 1 << 20;
/** Longest journal line replayed (a record is a few hundred bytes; a folder name at most some KB). */
const MAX_RECORD = 16 << 20;

export interface JobHeader {
  job: string;
  source: string;
  dest: string;
}

interface HeaderRecord extends JobHeader {
  t: 'mailferry-checkpoint';
  v: number;
  created: string;
}

export type JournalRecord =
  | { t: 'box'; s: string; uv: string; again?: true }
  | { t: 'i'; s: string; k: string; id?: string }
  | { t: 'c'; s: string; k: string; id?: string; d: string; dk: string; z?: number }
  | { t: 'k'; s: string; k: string; id?: string; why: string; z?: number }
  | { t: 'kr'; s: string; r: string }
  | { t: 'end'; s: string; uv: string; next: number; fk?: string }
  | { t: 'lost'; s: string; d?: string }
  | { t: 'd'; d: string; dk: string; id: string; seen?: true }
  | { t: 'to'; s: string; d: string }
  /** A done key forgotten: its message is gone from a source that may give the key to a new one (POP3 UIDL). */
  | { t: 'f'; s: string; k: string };

const str = (v: unknown): v is string => typeof v === 'string';

/** A `kr` record's runs, "lo-hi" or "n", comma-separated: canonical numbers of KeySet's (nine digits). */
const RUNS = /^(?:0|[1-9]\d{0,8})(?:-(?:0|[1-9]\d{0,8}))?(?:,(?:0|[1-9]\d{0,8})(?:-(?:0|[1-9]\d{0,8}))?)*$/;

/** The runs of a `kr` record as [lo, hi, lo, hi, …]; undefined when they are not runs (a run upside down). */
function parseRuns(r: string): number[] | undefined {
  if (!RUNS.test(r)) return undefined;
  const out: number[] = [];
  for (const run of r.split(',')) {
    const dash = run.indexOf('-');
    const lo = Number(dash < 0 ? run : run.slice(0, dash));
    const hi = dash < 0 ? lo : Number(run.slice(dash + 1));
    if (lo > hi) return undefined;
    out.push(lo, hi);
  }
  return out;
}

/** Runs per `kr` record that compaction writes: a line of at most ~20 KB. */
const RUNS_PER_RECORD = 1000;

/** Compaction writes a folder's done keys that are numbers as runs (`kr`) unless they carry sizes (POP3: `k` each). */
const doneAsRuns = (f: FolderState): boolean => f.sizes === undefined || f.sizes.size === 0;
const size = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);

/** A line has the fields its record type needs (the journal is read back from a file anyone may have edited). */
function isRecord(r: unknown): r is JournalRecord {
  if (typeof r !== 'object' || r === null) return false;
  const x = r as Record<string, unknown>;
  switch (x.t) {
    case 'box':
      return str(x.s) && str(x.uv);
    case 'i':
      return str(x.s) && str(x.k);
    case 'c':
      return str(x.s) && str(x.k) && str(x.d) && str(x.dk) && size(x.z);
    case 'k':
      return str(x.s) && str(x.k) && str(x.why) && size(x.z);
    case 'kr':
      return str(x.s) && str(x.r) && parseRuns(x.r) !== undefined;
    case 'end':
      return str(x.s) && str(x.uv) && typeof x.next === 'number' && (x.fk === undefined || typeof x.fk === 'string');
    case 'lost':
      return str(x.s);
    case 'd':
      return str(x.d) && str(x.dk) && str(x.id);
    case 'to':
      return str(x.s) && str(x.d);
    case 'f':
      return str(x.s) && str(x.k);
    default:
      // A type of a later version: passed over (apply ignores it).
      return str(x.t);
  }
}

export interface FolderState {
  validity?: string;
  /** Source keys done for good (stored or skipped for good). */
  done: KeySet;
  /** Source keys with an intent and no outcome: to be checked against the destination. */
  pending: KeySet;
  /** Complete below `next` (under the filters `fk`, when there were any). */
  end?: { uv: string; next: number; fk?: string };
  /** The destination folder its messages were last stored in (a rerun keeps to it while it exists). */
  dest?: string;
  /**
   * Done keys → the size the source listed their message with, for a source that may give a key
   * to another message (POP3: a server whose index was rebuilt numbers its UIDLs from 1 again). A
   * done key listed with another size names another message now (copy.ts).
   */
  sizes?: Map<string, number>;
}

/**
 * Whether a listed message is done: its key is, and, from a source that gives keys out again
 * (POP3), it is listed with the size the message copied under it had (else the key names another
 * message now). A key done before sizes were journaled counts as done.
 */
export function doneAsListed(f: FolderState | undefined, ref: { key: string; size: number }, keysReused: boolean | undefined): boolean {
  if (!f?.done.has(ref.key)) return false;
  const was = keysReused ? f.sizes?.get(ref.key) : undefined;
  return was === undefined || was === ref.size;
}

/**
 * The UIDNEXT a folder had past when `next` (its UIDNEXT now, same validity) is below it: the
 * server gives out UIDs again (a store restored from a backup with its UID list), so done keys
 * may name other messages now. Past: the UIDNEXT of the last complete run, or above the highest
 * UID done. Undefined when all is as it should be, or for keys that are not UIDs (no `next`).
 */
export function uidsGivenAgain(f: FolderState, validity: string, next: number | undefined): number | undefined {
  if (next === undefined || f.validity !== validity) return undefined;
  const high = Math.max(f.end?.uv === validity ? f.end.next : 0, f.done.highestNumber() + 1);
  return next < high ? high : undefined;
}

/** A done key's size as its record gives it (none: forgotten, as a record without one says nothing of it). */
function sizeOf(f: FolderState, k: string, z: number | undefined): void {
  if (z !== undefined) (f.sizes ??= new Map()).set(k, z);
  else f.sizes?.delete(k);
}

export class CheckpointState {
  readonly folders = new Map<string, FolderState>();
  /**
   * dest folder → dest key → identity, for messages this job stored in earlier runs (replayed
   * from the file). What this run stores is in the file and in the run's destination index, not
   * here: memory does not grow by a dest key and an identity per message copied.
   */
  readonly stored = new Map<string, Map<string, string>>();
  /** Of `stored`, the dest keys only read by a scan (`d` records with `seen`), per dest folder. */
  readonly seen = new Map<string, Set<string>>();
  records = 0;

  folder(s: string): FolderState {
    let f = this.folders.get(s);
    if (!f) this.folders.set(s, (f = { done: new KeySet(), pending: new KeySet() }));
    return f;
  }

  /** Records the current state needs (as snapshot() writes them); the rest of a journal is history. */
  liveSize(): number {
    let n = 0;
    for (const f of this.folders.values()) {
      if (doneAsRuns(f)) n += Math.ceil(f.done.numberRunCount() / RUNS_PER_RECORD) + (f.done.size - f.done.numberCount());
      else n += f.done.size;
      n += f.pending.size + 3;
    }
    for (const m of this.stored.values()) n += m.size;
    return n;
  }

  private remember(d: string, dk: string, id: string, seen?: boolean): void {
    let m = this.stored.get(d);
    if (!m) this.stored.set(d, (m = new Map()));
    const key = flat(dk);
    m.set(key, flat(id));
    let s = this.seen.get(d);
    if (seen) {
      if (!s) this.seen.set(d, (s = new Set()));
      s.add(key);
    } else s?.delete(key);
  }

  /**
   * Identities stored in dest folder `d` by this job's earlier runs (not those a scan only read
   * there): one of them no longer there was deleted by hand since, and is not copied again.
   */
  *copiedBefore(d: string): Iterable<string> {
    const m = this.stored.get(d);
    if (!m) return;
    const s = this.seen.get(d);
    for (const [dk, id] of m) if (!s?.has(dk)) yield id;
  }

  /** `replayed`: a record read back from the file (false: one this run is appending). */
  apply(r: JournalRecord, replayed = true): void {
    this.records++;
    switch (r.t) {
      case 'box': {
        const f = this.folder(r.s);
        if ((f.validity !== undefined && f.validity !== r.uv) || r.again) {
          f.done.clear();
          f.pending.clear();
          f.end = undefined;
          f.sizes = undefined;
        }
        f.validity = r.uv;
        break;
      }
      case 'i':
        this.folder(r.s).pending.add(r.k);
        break;
      case 'c': {
        const f = this.folder(r.s);
        f.pending.delete(r.k);
        f.done.add(r.k);
        sizeOf(f, r.k, r.z);
        if (f.dest !== r.d) f.dest = flat(r.d);
        if (r.id && replayed) this.remember(r.d, r.dk, r.id);
        break;
      }
      case 'to':
        this.folder(r.s).dest = r.d;
        break;
      case 'd':
        // As for `c`: what this run records is in its index already; kept once read back.
        if (replayed) this.remember(r.d, r.dk, r.id, r.seen === true);
        break;
      case 'k': {
        const f = this.folder(r.s);
        f.pending.delete(r.k);
        f.done.add(r.k);
        sizeOf(f, r.k, r.z);
        break;
      }
      case 'kr': {
        // As a `k` without a size for each key of the runs (looked for among the intents and sizes
        // there are, not number by number: a run may be long).
        const f = this.folder(r.s);
        const runs = parseRuns(r.r)!;
        const inRuns = (k: string): boolean => {
          const n = KeySet.num(k);
          if (n === undefined) return false;
          for (let i = 0; i < runs.length; i += 2) if (runs[i]! <= n && n <= runs[i + 1]!) return true;
          return false;
        };
        if (f.pending.size > 0) for (const k of [...f.pending]) if (inRuns(k)) f.pending.delete(k);
        if (f.sizes) for (const k of [...f.sizes.keys()]) if (inRuns(k)) f.sizes.delete(k);
        for (let i = 0; i < runs.length; i += 2) f.done.addRun(runs[i]!, runs[i + 1]!);
        break;
      }
      case 'end':
        this.folder(r.s).end = { uv: r.uv, next: r.next, ...(r.fk ? { fk: r.fk } : {}) };
        break;
      case 'f': {
        const f = this.folder(r.s);
        f.done.delete(r.k);
        f.pending.delete(r.k);
        f.sizes?.delete(r.k);
        break;
      }
      case 'lost': {
        const f = this.folder(r.s);
        // What it held is gone with it: the folder it was (gone, so named by the checkpoint).
        const d = r.d ?? f.dest;
        f.done.clear();
        f.pending.clear();
        f.end = undefined;
        f.dest = undefined;
        f.sizes = undefined;
        if (d !== undefined) {
          this.stored.delete(d);
          this.seen.delete(d);
        }
        break;
      }
    }
  }

  /** The records that rebuild this state, for compaction. */
  *snapshot(): Iterable<JournalRecord> {
    for (const [s, f] of this.folders) {
      if (f.validity !== undefined) yield { t: 'box', s, uv: f.validity };
      if (f.dest !== undefined) yield { t: 'to', s, d: f.dest };
      if (doneAsRuns(f)) {
        // Keys that are numbers (IMAP UIDs) as runs, a few records for a folder; the others one by one.
        let runs: string[] = [];
        for (const [lo, hi] of f.done.numberRuns()) {
          runs.push(lo === hi ? String(lo) : `${lo}-${hi}`);
          if (runs.length === RUNS_PER_RECORD) {
            yield { t: 'kr', s, r: runs.join(',') };
            runs = [];
          }
        }
        if (runs.length > 0) yield { t: 'kr', s, r: runs.join(',') };
        for (const k of f.done.strings()) yield { t: 'k', s, k, why: 'done' };
      } else {
        for (const k of f.done) {
          const z = f.sizes?.get(k);
          yield z === undefined ? { t: 'k', s, k, why: 'done' } : { t: 'k', s, k, why: 'done', z };
        }
      }
      for (const k of f.pending) yield { t: 'i', s, k };
      if (f.end) yield { t: 'end', s, uv: f.end.uv, next: f.end.next, ...(f.end.fk ? { fk: f.end.fk } : {}) };
    }
    for (const [d, m] of this.stored) {
      const s = this.seen.get(d);
      for (const [dk, id] of m) yield s?.has(dk) ? { t: 'd', d, dk, id, seen: true } : { t: 'd', d, dk, id };
    }
  }
}

/** How every header line begins (its first field is written first). */
const HEADER_START = '{"t":"mailferry-checkpoint"';

/**
 * A first line without its line end that is the start of a header, torn as it was written or cut
 * short since; or NUL bytes only, what a file system that allocates on write-back leaves of a
 * file written just before a power cut.
 */
function tornHeader(text: string): boolean {
  if (text.length === 0 || text.includes('\n')) return false;
  return text.startsWith(HEADER_START) || HEADER_START.startsWith(text) || /^\0+$/.test(text);
}

/** The first 4 KiB of a file, as text ('' when it cannot be read). */
function headOf(path: string): string {
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(4096);
      return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/**
 * The file starts with a mailferry checkpoint header, whole or torn (read: its first line only):
 * what `checkpoint reset` and --restart may start over, as the copy calls it a checkpoint.
 */
export function looksLikeCheckpoint(path: string): boolean {
  const head = headOf(path);
  return tornHeader(head) || firstRecord(head)?.t === 'mailferry-checkpoint';
}

/** A checkpoint's job, from its first line alone (`checkpoint list`); null if that is no whole header. */
export function readHeader(path: string): (JobHeader & { created: string }) | null {
  const h = firstRecord(headOf(path));
  return h?.t === 'mailferry-checkpoint' && typeof h.source === 'string' && typeof h.dest === 'string' && typeof h.job === 'string' ? (h as HeaderRecord) : null;
}

function firstRecord(head: string): Partial<HeaderRecord> | null {
  try {
    const r: unknown = JSON.parse(head.split('\n')[0]!);
    return typeof r === 'object' && r !== null ? (r as Partial<HeaderRecord>) : null;
  } catch {
    return null;
  }
}

/** The error for a checkpoint of another job; the same source and destination differ in --dedupe. */
export function otherJob(path: string, theirs: JobHeader, ours: JobHeader): MailferryError {
  if (hostInOneCase(theirs.source) === ours.source && hostInOneCase(theirs.dest) === ours.dest) {
    return new MailferryError('CHECKPOINT_MISMATCH', `checkpoint ${path} is of the same copy with another --dedupe mode`, {
      hint: 'rerun with the --dedupe of the runs before, or --restart to start over with this one',
    });
  }
  // A server or a backup directory that moved: the job's URL or path was edited. Starting over
  // costs one scan of the destination, never a second copy (say so: "start over" sounds like one).
  const changed = theirs.dest === ours.dest ? 'the source changed (a server moved?): ' : theirs.source === ours.source ? 'the destination changed (moved?): ' : '';
  return new MailferryError('CHECKPOINT_MISMATCH', `checkpoint ${path} belongs to another job (${theirs.source} → ${theirs.dest}), not this one (${ours.source} → ${ours.dest})`, {
    hint: `${changed}--restart starts it over for this job (the destination is scanned: nothing already in the destination is copied again), or use another --checkpoint path`,
  });
}

/** A file that never was a checkpoint (a mistyped path): a configuration error, not a damaged checkpoint. */
function notACheckpoint(path: string): MailferryError {
  return new MailferryError('BAD_CONFIG', `${path} is not a mailferry checkpoint`, { hint: 'check the checkpoint path; the file was not changed' });
}

function unreadable(path: string, why: string): MailferryError {
  return new MailferryError('CHECKPOINT_UNREADABLE', `checkpoint ${path} is unreadable: ${why}`, {
    hint: 'move it away and rerun: mailferry rebuilds what is done from the destination',
  });
}

export interface OpenOptions {
  header: JobHeader;
  /** Start over when the checkpoint belongs to another job (or is unreadable). */
  restart?: boolean;
  /** The job's dedupe mode: a checkpoint written with the host in another case is taken under it (same-job.ts). */
  dedupe?: string;
}

export class Journal {
  private fd: number;
  private buffer: string[] = [];
  private constructor(
    readonly path: string,
    readonly state: CheckpointState,
    fd: number,
    /** The job, and when its checkpoint was begun (kept by a compaction). */
    private readonly header: JobHeader & { created?: string },
  ) {
    this.fd = fd;
  }

  /** Open (or create) the journal at `path`, replaying what it holds. Caller holds the lock. */
  static open(path: string, opts: OpenOptions): Journal {
    return Journal.prepare(path, opts)();
  }

  /**
   * Every check of `Journal.open` and the replay, writing nothing: a checkpoint of another job, or
   * a file that is none, fails before anything else is made. The function returned opens the
   * journal for writing (creates it, truncates a torn last line). Caller holds the lock.
   */
  static prepare(path: string, opts: OpenOptions): () => Journal {
    const state = new CheckpointState();
    let st;
    try {
      st = statSync(path);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) throw new MailferryError('BAD_CONFIG', `checkpoint ${path} is a directory`, { hint: 'give --checkpoint the path of a file (it is created)' });
    // What another user wrote is not taken as what this job has done (it could mark messages done).
    if (st && process.getuid && st.uid !== process.getuid()) {
      throw new MailferryError('BAD_CONFIG', `checkpoint ${path} belongs to another user`, { hint: 'run as the user who owns it, or give another --checkpoint' });
    }
    // --restart starts a checkpoint over, and only a checkpoint: any other file stays as it is.
    if (st && st.size > 0 && opts.restart && !looksLikeCheckpoint(path)) {
      throw new MailferryError('BAD_CONFIG', `${path} is not a mailferry checkpoint: --restart would overwrite it`, { hint: 'nothing was changed; check the --checkpoint path' });
    }
    if (st) {
      let replayed: { state: CheckpointState; goodBytes: number; header: HeaderRecord } | undefined;
      try {
        replayed = Journal.replay(path);
      } catch (err) {
        if (!opts.restart) throw err;
      }
      const ours = replayed !== undefined && sameJob(replayed.header, opts.header, opts.dedupe);
      if (replayed && !ours && !opts.restart) throw otherJob(path, replayed.header, opts.header);
      if (replayed && ours && !opts.restart) {
        const r = replayed;
        return () => {
          removeLeftovers(path);
          // A checkpoint that may not be written (read-only, immutable, a failing disk) is one
          // that cannot be written: exit 3 naming it, as when it is made new.
          const fd = openForWriting(path, 'r+');
          try {
            ftruncateSync(fd, r.goodBytes);
            // A checkpoint made wider by hand (or by an older version) is this user's alone again.
            makePrivate(fd);
          } catch (err) {
            throw writeError(path, err);
          } finally {
            closeSync(fd);
          }
          const { job, source, dest, created } = r.header;
          const j = new Journal(path, r.state, openForWriting(path, 'a'), { job, source, dest, ...(typeof created === 'string' ? { created } : {}) });
          // Nothing appended yet: the state just replayed is the whole file's.
          if (r.state.records > 1.5 * r.state.liveSize() + 10_000) {
            try {
              j.compact(r.state);
            } catch {
              // Not compacted (a full disk, say): the file is whole as it is, and appends say why they fail.
            }
          }
          return j;
        };
      }
    }
    return () => {
      removeLeftovers(path);
      const header = { ...opts.header, created: new Date().toISOString() };
      Journal.writeFresh(path, header, []);
      return new Journal(path, state, openForWriting(path, 'a'), header);
    };
  }

  static replay(path: string): { state: CheckpointState; goodBytes: number; header: HeaderRecord } {
    const state = new CheckpointState();
    let header: HeaderRecord | undefined;
    let lineNo = 0;
    let fd: number;
    let size: number;
    try {
      fd = openSync(path, 'r');
      const st = fstatSync(fd);
      // A device or a pipe (/dev/zero) would be read without end.
      if (!st.isFile()) {
        closeSync(fd);
        throw notACheckpoint(path);
      }
      size = st.size;
    } catch (err) {
      if (err instanceof MailferryError) throw err;
      throw unreadable(path, (err as Error).message);
    }
    // Read in chunks: a checkpoint of a large mailbox is tens of MB, and only a line at a time
    // is needed. `start` is the file offset of data[0]; `pos` the end of the last complete line.
    let data = Buffer.alloc(0);
    let start = 0;
    let pos = 0;
    const chunk = Buffer.allocUnsafe(REPLAY_CHUNK);
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, chunk, 0, chunk.length, start + data.length);
        } catch (err) {
          throw unreadable(path, (err as Error).message);
        }
        if (n === 0) break;
        const rest = data.subarray(pos - start);
        data = Buffer.concat([rest, chunk.subarray(0, n)]);
        start = pos;
        let at = 0;
        for (;;) {
          const nl = data.indexOf(0x0a, at);
          if (nl < 0) break;
          lineNo++;
          const line = data.subarray(at, nl).toString('utf8');
          let rec: unknown;
          try {
            rec = JSON.parse(line);
          } catch {
            // A complete first line that is not our header: never a checkpoint (a torn header has no line end).
            if (!header) throw notACheckpoint(path);
            // A torn write can only be the last line; one in the middle is corruption.
            if (start + nl + 1 >= size) return done();
            throw unreadable(path, `line ${lineNo} is not valid JSON`);
          }
          if (!header) {
            const h = rec as HeaderRecord;
            if (h?.t !== 'mailferry-checkpoint') throw notACheckpoint(path);
            if (h.v !== JOURNAL_VERSION) throw unreadable(path, `version ${h.v} is not supported (this mailferry writes ${JOURNAL_VERSION})`);
            header = h;
          } else {
            // Valid JSON that is no record of ours (null, a record without its fields): corruption.
            if (!isRecord(rec)) {
              if (start + nl + 1 >= size) return done();
              throw unreadable(path, `line ${lineNo} is not a checkpoint record`);
            }
            state.apply(rec);
          }
          at = nl + 1;
          pos = start + at;
        }
        // No record is near this long: a file that is not a checkpoint, not a line to wait out.
        if (data.length - at > MAX_RECORD) {
          if (!header) throw notACheckpoint(path);
          throw unreadable(path, `line ${lineNo + 1} is longer than ${MAX_RECORD} bytes`);
        }
      }
    } finally {
      closeSync(fd);
    }
    return done();

    function done() {
      // Anything after the last complete line is a torn write: ignored, truncated away on open.
      // Without a header line: a torn one, or a file that was never a checkpoint (no line end in it).
      if (!header) {
        if (size > 0 && !tornHeader(data.subarray(0, Math.min(data.length, 4096)).toString('utf8'))) throw notACheckpoint(path);
        throw unreadable(path, 'empty or truncated header');
      }
      return { state, goodBytes: pos, header };
    }
  }

  /** `header.created`: when the checkpoint was begun, for a compaction (else now). */
  private static writeFresh(path: string, header: JobHeader & { created?: string }, records: Iterable<JournalRecord>): void {
    // A name no one can guess, created new (O_EXCL: never through a link someone planted there).
    // A kill before the rename leaves it (a whole copy of the checkpoint): see removeLeftovers.
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    let fd: number;
    try {
      fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    } catch (err) {
      throw writeError(path, err);
    }
    try {
      try {
        const { created, ...job } = header;
        const h: HeaderRecord = { t: 'mailferry-checkpoint', v: JOURNAL_VERSION, created: created ?? new Date().toISOString(), ...job };
        let chunk = JSON.stringify(h) + '\n';
        for (const r of records) {
          chunk += JSON.stringify(r) + '\n';
          if (chunk.length > 1 << 20) {
            writeFully(fd, chunk);
            chunk = '';
          }
        }
        writeFully(fd, chunk);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
    } catch (err) {
      // The checkpoint as it was stays; the half-written copy goes.
      try {
        unlinkSync(tmp);
      } catch {
        // already renamed, or never there
      }
      throw writeError(path, err);
    }
    try {
      const dfd = openSync(dirname(path), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch (err) {
      throw writeError(path, err);
    }
  }

  /**
   * Rewrite the journal as the records of its state: `whole`, when the caller holds the state of
   * the whole file, else read back from the file (this run's stores are not kept in memory).
   */
  compact(whole?: CheckpointState): void {
    this.flushBuffer();
    const state = whole ?? Journal.replay(this.path).state;
    closeSync(this.fd);
    try {
      Journal.writeFresh(this.path, this.header, state.snapshot());
    } finally {
      // The new file, or (it could not be written) the old one, which is whole.
      this.fd = openForWriting(this.path, 'a');
    }
  }

  /** Record (buffered until the next sync). The in-memory state is updated at once (but `stored`: see there). */
  append(r: JournalRecord): void {
    this.state.apply(r, false);
    this.buffer.push(JSON.stringify(r) + '\n');
  }

  /**
   * The buffered records, written whole: a write the disk cuts short (full) is taken back to the
   * last whole record, so no half record is left for a later append to follow, and fails.
   */
  private flushBuffer(): void {
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('');
    this.buffer = [];
    let end: number | undefined;
    try {
      end = fstatSync(this.fd).size;
      writeFully(this.fd, text);
    } catch (err) {
      if (end !== undefined) {
        try {
          ftruncateSync(this.fd, end);
        } catch {
          // the replay drops a torn last line all the same
        }
      }
      throw writeError(this.path, err);
    }
  }

  /** Write buffered records and make them durable. */
  async sync(): Promise<void> {
    if (this.buffer.length === 0) return;
    this.flushBuffer();
    await new Promise<void>((res, rej) => fdatasync(this.fd, (e) => (e ? rej(writeError(this.path, e)) : res())));
  }

  close(): void {
    try {
      this.flushBuffer();
      fsyncSync(this.fd);
    } catch (err) {
      throw writeError(this.path, err);
    } finally {
      closeSync(this.fd);
    }
  }
}

/** `openSync(path, flags)` of the checkpoint, a failure its writeError. */
function openForWriting(path: string, flags: 'r+' | 'a'): number {
  try {
    return openSync(path, flags, 0o600);
  } catch (err) {
    throw writeError(path, err);
  }
}

/**
 * What runs killed while writing this checkpoint afresh (writeFresh: a compaction, a new or
 * restarted checkpoint) left: `.NAME.PID.RAND.tmp`, a copy never renamed into place, each as large
 * as the checkpoint, one more per such kill. Called with the checkpoint's lock held, so no run is
 * writing one now; and only files of that exact name whose process is not running (the pid is
 * judged on this host: a file of a live pid stays). Best effort: what cannot be removed stays.
 */
function removeLeftovers(path: string): void {
  for (const { file, match: m } of leftoversBeside(dirname(path), `.${basename(path)}.`, /^(\d+)\.[0-9a-f]{12}\.tmp$/)) {
    if (Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    try {
      if (lstatSync(file).isFile()) unlinkSync(file);
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}

/** A checkpoint that cannot be written: a one-line error naming it (exit 3), never a crash. */
function writeError(path: string, err: unknown): MailferryError {
  if (err instanceof MailferryError) return err;
  return new MailferryError('CHECKPOINT_IO', `cannot write checkpoint ${path}: ${fileErrorReason(err)}`, {
    hint: {
      ENOSPC: 'free some space and rerun: what was copied is kept, and the rerun goes on from there',
      EDQUOT: 'raise the quota or free some space and rerun: what was copied is kept, and the rerun goes on from there',
    }[errnoCode(err) ?? ''] ?? 'check the file system the checkpoint is on',
    cause: err,
  });
}
