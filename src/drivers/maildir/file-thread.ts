/**
 * The Maildir sink's message files, made on a thread of their own. Each file takes six calls
 * (create in tmp/, write, mtime, fsync, close, rename into cur/); made from the main thread, each
 * is a hand-off to libuv's thread pool and back, ~20–30 µs of the main thread's time apiece,
 * which is where a copy spends its CPU. Here one worker makes them: the calls that do not wait
 * for the disk run synchronously on it, and each `fsync` goes to the thread pool from there, so
 * many wait at once and share journal commits, as they did from the main thread. The files asked
 * for in one turn of the main thread's event loop go over as one message, and the answers come
 * back the same way.
 *
 * A body goes over through a ring of shared memory, not as a copy the worker's heap would own:
 * those are external memory to V8, freed only when a collection finds them, which in a small heap
 * that allocates little is tens of MB later. The worker writes a body out as soon as it takes its
 * job and then counts the job as taken, which frees its bytes in the ring: jobs are taken in the
 * order they are sent, so the ring is a FIFO. A body that does not fit in the free part of the
 * ring goes over as a copy.
 *
 * The worker's code is the function below, given to it as source (`eval`): it runs the same
 * under the build and under the test runner, which loads src/ as TypeScript.
 */
import { Worker } from 'node:worker_threads';

/** Each field is named where FileThread#run makes the job it sends: one added here is added there. */
export interface FileJob {
  /** The file created (O_EXCL, 0600) and written in tmp/. */
  tmp: string;
  /** Where it is renamed to once fsynced. */
  final: string;
  body: Uint8Array;
  /** mtime (and atime), seconds since the epoch. */
  mtime?: number;
  /** Given to it through its descriptor before it is written. */
  uid?: number;
  gid?: number;
}

/** Which call failed: the create, the write (chown, write, mtime, fsync, close) or the rename. */
export type FileStep = 'create' | 'write' | 'rename';

export class FileJobError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly step: FileStep,
  ) {
    super(message);
  }
}

/** What the worker is sent: the body is in the ring at `off` (`len` bytes), or copied in `body`. */
type Job = Omit<FileJob, 'body'> & { id: number; off: number; len: number; body?: Uint8Array };
type Answer = number | { id: number; code?: string; message: string; step: FileStep };

/** Bytes of the ring. */
const RING = 1 << 20;

/* c8 ignore start: runs in the worker, given to it as source */
function workerMain(): void {
  const req = (globalThis as unknown as { require: NodeRequire }).require;
  const { parentPort, workerData } = req('node:worker_threads') as typeof import('node:worker_threads');
  const fs = req('node:fs') as typeof import('node:fs');
  const started = new Int32Array(workerData.started as SharedArrayBuffer);
  Atomics.store(started, 0, 1);
  Atomics.notify(started, 0);
  const ring = new Uint8Array(workerData.ring as SharedArrayBuffer);
  // taken[0]: how many jobs have been taken (their bodies written out, their ring bytes free).
  const taken = new Int32Array(workerData.taken as SharedArrayBuffer);
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL;
  let answers: Answer[] = [];
  const send = (): void => {
    const out = answers;
    answers = [];
    parentPort!.postMessage(out);
  };
  const answer = (a: Answer): void => {
    if (answers.push(a) === 1) setImmediate(send);
  };
  const failed = (job: Job, step: FileStep, err: unknown): void => {
    answer({ id: job.id, code: (err as NodeJS.ErrnoException).code, message: (err as Error).message, step });
  };
  const fail = (job: Job, fd: number | undefined, step: FileStep, err: unknown): void => {
    if (fd !== undefined) try { fs.closeSync(fd); } catch { /* the error said is the first */ }
    try { fs.unlinkSync(job.tmp); } catch { /* gone */ }
    failed(job, step, err);
  };
  /** Creates and writes the file: all that needs the body. */
  const write = (job: Job): number | undefined => {
    let fd: number;
    try {
      fd = fs.openSync(job.tmp, flags, 0o600);
    } catch (err) {
      failed(job, 'create', err);
      return undefined;
    }
    try {
      if (job.uid !== undefined) fs.fchownSync(fd, job.uid, job.gid!);
      const body = job.body ?? ring;
      const end = (job.body ? 0 : job.off) + job.len;
      for (let off = end - job.len; off < end; ) off += fs.writeSync(fd, body, off, end - off);
      if (job.mtime !== undefined) fs.futimesSync(fd, job.mtime, job.mtime);
      return fd;
    } catch (err) {
      fail(job, fd, 'write', err);
      return undefined;
    }
  };
  const finish = (job: Job, fd: number): void => {
    fs.fsync(fd, (err) => {
      if (err) return fail(job, fd, 'write', err);
      try {
        fs.closeSync(fd);
      } catch (e) {
        // Not closed again: the number may be reused by then.
        return fail(job, undefined, 'write', e);
      }
      try {
        fs.renameSync(job.tmp, job.final);
      } catch (e) {
        return fail(job, undefined, 'rename', e);
      }
      answer(job.id);
    });
  };
  parentPort!.on('message', (jobs: Job[]) => {
    for (const job of jobs) {
      const fd = write(job);
      Atomics.add(taken, 0, 1);
      if (fd !== undefined) finish(job, fd);
    }
  });
}
/* c8 ignore stop */

/** A worker and the shared memory it was given. */
interface Thread {
  worker: Worker;
  ring: Uint8Array<SharedArrayBuffer>;
  /** taken[0]: how many jobs the worker has taken. */
  taken: Int32Array<SharedArrayBuffer>;
}

/**
 * The launcher's hold on V8's young generation (bin/young-generation.cjs), when it runs: `heapMade`
 * sets the young generation's growth back once a worker's heap is made (V8 resets it then), and
 * `youngAtCap` says whether the young generation has reached its cap (below it, growth is allowed
 * anyway, so a worker's heap made now changes nothing).
 */
const launcher = globalThis as { mailferryHeapMade?: () => void; mailferryYoungAtCap?: () => boolean };

/** Workers started so far by this process (prestarted or not). */
let spawned = 0;
export const workersStarted = (): number => spawned;

function spawn(): Thread {
  spawned++;
  const ring = new SharedArrayBuffer(RING);
  const taken = new Int32Array(new SharedArrayBuffer(4));
  /** Set to 1 by the worker's first line. */
  const started = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(`(${workerMain.toString()})()`, {
    eval: true,
    workerData: { ring, taken: taken.buffer, started: started.buffer },
    // It holds a turn's jobs, not their bodies: a small heap, and no stdout/stderr of its own.
    resourceLimits: { maxYoungGenerationSizeMb: 0.5, maxOldGenerationSizeMb: 16 },
    stdout: false,
    stderr: false,
  });
  worker.unref();
  // Making the worker's heap sets V8's young generation growth back to its default, on the
  // worker's thread. Under the launcher, once the young generation is at its cap, this thread
  // allocates nothing until the worker's first line has run (a few tens of ms), then sets its own
  // again, so that no growth slips in between. Below the cap (a worker started early, as the
  // launcher's prestart does) there is nothing to keep: growth is allowed until the cap anyway.
  const heapMade = launcher.mailferryHeapMade;
  if (heapMade) {
    if (launcher.mailferryYoungAtCap?.() === false) worker.once('online', heapMade);
    else {
      Atomics.wait(started, 0, 0, 5000);
      heapMade();
    }
  }
  return { worker, ring: new Uint8Array(ring), taken };
}

/** A worker started ahead of need (prestart): the first FileThread to need one takes it. */
let spare: Thread | undefined;

/**
 * Starts a file thread's worker now, for the first FileThread that needs one: its start (an
 * isolate and a Node environment, ~50 ms on its own thread) then overlaps the loading of the rest
 * of the program instead of holding up the first message file. The launcher calls it for a copy
 * into a Maildir, early, before the young generation has reached its cap (see spawn()).
 */
export function prestart(): void {
  if (spare) return;
  const t = spawn();
  // Until it is taken, an error of its is told by its exit, and its exit only drops it.
  t.worker.on('error', () => {});
  t.worker.once('exit', () => {
    if (spare === t) spare = undefined;
  });
  spare = t;
}

export class FileThread {
  private worker?: Worker;
  private ringBytes: Uint8Array = new Uint8Array(0);
  private taken: Int32Array = new Int32Array(1);
  /**
   * Positions in the ring count bytes since the start (a byte at position p is at p % RING):
   * `head`, where the next body may go; `tail`, the end of the last body taken. `ends`: the
   * end of each job sent and not known to be taken, oldest first (`firstEnd` indexes it).
   */
  private head = 0;
  private tail = 0;
  private ends: number[] = [];
  private firstEnd = 0;
  private sent = 0;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private queued: Job[] = [];
  private broken?: Error;
  /** Bodies sent through the ring (`wrapped`: of them, placed at its start again), and as copies. */
  readonly counts = { ring: 0, wrapped: 0, copied: 0 };

  /** Creates, writes, fsyncs and renames one file; rejects with a FileJobError. */
  run(job: FileJob): Promise<void> {
    if (this.broken) return Promise.reject(this.broken);
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    const body = job.body;
    const len = body.length;
    const at = this.place(len);
    // Named one by one: a `{ body, ...rest }` copy costs ~4 µs a message where this costs ~0.1.
    const sent: Job = { tmp: job.tmp, final: job.final, mtime: job.mtime, uid: job.uid, gid: job.gid, id, off: 0, len };
    if (at === undefined) {
      sent.body = body;
      this.counts.copied++;
    } else {
      const off = at % RING;
      this.ringBytes.set(body, off);
      sent.off = off;
      this.counts.ring++;
      if (at !== this.head) this.counts.wrapped++;
      this.head = at + len;
    }
    this.ends.push(this.head);
    this.sent++;
    if (this.waiting.size === 0) worker.ref();
    if (this.queued.push(sent) === 1) setImmediate(() => this.send());
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  /** Ends the worker (no job in flight: the sink's writers are closed first). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  /** Where in the ring `len` bytes go, in one piece (past the ring's end, from its start); none if they do not fit. */
  private place(len: number): number | undefined {
    this.release();
    const off = this.head % RING;
    const at = off + len > RING ? this.head + RING - off : this.head;
    return at + len - this.tail <= RING ? at : undefined;
  }

  /** Frees the ring bytes of the jobs the worker has taken (their bodies are written out). */
  private release(): void {
    const notTaken = this.sent - Atomics.load(this.taken, 0);
    const pending = this.ends.length - this.firstEnd;
    if (pending <= notTaken) return;
    this.firstEnd += pending - notTaken;
    this.tail = this.ends[this.firstEnd - 1]!;
    if (this.firstEnd > 1024) {
      this.ends = this.ends.slice(this.firstEnd);
      this.firstEnd = 0;
    }
  }

  private start(): Worker {
    const t = spare ?? spawn();
    spare = undefined;
    this.ringBytes = t.ring;
    this.taken = t.taken;
    const w = t.worker;
    w.on('message', (answers: Answer[]) => this.answered(answers));
    w.on('error', (err) => this.fail(err));
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(new Error(`the Maildir file thread stopped (exit code ${code})`));
    });
    this.worker = w;
    return w;
  }

  private send(): void {
    const jobs = this.queued;
    this.queued = [];
    if (this.broken) return;
    this.worker?.postMessage(jobs);
  }

  private answered(answers: Answer[]): void {
    for (const a of answers) {
      const id = typeof a === 'number' ? a : a.id;
      const w = this.waiting.get(id);
      if (!w) continue;
      this.waiting.delete(id);
      if (typeof a === 'number') w.resolve();
      else w.reject(new FileJobError(a.message, a.code, a.step));
    }
    if (this.waiting.size === 0) this.worker?.unref();
  }

  private fail(err: Error): void {
    this.broken = err;
    this.worker = undefined;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
