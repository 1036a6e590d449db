/**
 * Group commit for APPEND: puts that arrive while a batch is on the wire wait and go together in
 * the next one (same folder, bounded by count and bytes). The first put goes out on the next
 * turn of the event loop, so puts issued together start together; under load batches grow by
 * themselves, like a database's group commit.
 *
 * With several lanes (connections of one writer), a batch goes out on whichever lane is idle:
 * a server that stores the messages of one connection one at a time, each fsynced (Dovecot),
 * then stores on several connections at once, and their fsyncs share the file system's commits.
 * Given `openLane`, a further lane is opened when batches wait with every open lane busy, and
 * takes batches once it is open: no batch waits for a lane's login.
 */
export interface Pending<T> {
  mailbox: string;
  item: T;
  bytes: number;
  resolve(key: string): void;
  reject(err: unknown): void;
}

/** Batch bounds, shared by the writers of one sink: a failing link shrinks them for all. */
export interface BatchLimits {
  messages: number;
  bytes: number;
}

export const defaultBatchLimits = (): BatchLimits => ({ messages: 64, bytes: 8 * 1024 * 1024 });

/**
 * What a lane's sender may answer instead of settling its batch: the lane cannot be used (its
 * connection could not be made, so nothing was sent). The batch goes out on another lane, and
 * this one is not used again. For the last lane left, the batch fails instead.
 */
export const LANE_RETIRED = Symbol('lane retired');

export class AppendBatcher<T> {
  private pending: Pending<T>[] = [];
  /** Lanes in use; lane 0 is never given up. */
  private readonly live = new Set<number>();
  /** Live lanes not opened yet (with `openLane`). */
  private readonly closed = new Set<number>();
  /** Lanes being opened. */
  private readonly opening = new Set<number>();
  /** Open lanes with no batch on the wire (the last one is taken first). */
  private readonly idle: number[] = [];
  /** Lanes with a batch on the wire. */
  private readonly running = new Set<number>();
  private whenQuiet: Array<() => void> = [];
  private scheduled = false;

  constructor(
    /** Sends one batch (one folder) on a lane; settles every entry, never throws (or answers LANE_RETIRED). */
    private readonly send: (mailbox: string, batch: Pending<T>[], lane: number) => Promise<void | typeof LANE_RETIRED>,
    private readonly limits: BatchLimits = defaultBatchLimits(),
    lanes = 1,
    /** Opens a further lane (its connection): false when it cannot be, and it is given up. Without it every lane is open. */
    private readonly openLane?: (lane: number) => Promise<boolean>,
  ) {
    // Lane 0 is taken first: with few puts, one connection does the work.
    for (let i = Math.max(1, lanes) - 1; i >= 0; i--) {
      this.live.add(i);
      if (i > 0 && openLane) this.closed.add(i);
      else this.idle.push(i);
    }
  }

  /** Lanes still in use (one at least). */
  get laneCount(): number {
    return this.live.size;
  }

  put(mailbox: string, item: T, bytes: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.pending.push({ mailbox, item, bytes, resolve, reject });
      this.schedule();
    });
  }

  /** Use lane 0 alone from now on; resolves once no other lane has a batch on the wire. */
  retireExtraLanes(): Promise<void> {
    for (const lane of [...this.live]) if (lane > 0) this.live.delete(lane);
    this.closed.clear();
    this.idle.splice(0, this.idle.length, ...this.idle.filter((l) => this.live.has(l)));
    if (!this.extraRunning()) return Promise.resolve();
    return new Promise((resolve) => this.whenQuiet.push(resolve));
  }

  private extraRunning(): boolean {
    for (const lane of this.running) if (lane > 0) return true;
    return false;
  }

  private schedule(): void {
    if (this.scheduled) return;
    // Nothing to do now: every open lane is busy, and none is left to open (or one is opening).
    if (this.idle.length === 0 && (!this.openLane || this.closed.size === 0 || this.opening.size > 0)) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.pending.length > 0) void this.run(this.idle.pop()!, this.take());
    // Batches wait with every open lane busy: open one more, for the batches after these.
    if (this.pending.length > 0 && this.openLane && this.opening.size === 0) {
      const lane = this.closed.values().next().value;
      if (lane !== undefined) this.open(lane);
    }
  }

  private open(lane: number): void {
    this.closed.delete(lane);
    this.opening.add(lane);
    const opened = (ok: boolean) => {
      this.opening.delete(lane);
      if (ok && this.live.has(lane)) this.idle.push(lane);
      else this.live.delete(lane);
      this.dispatch();
    };
    this.openLane!(lane).then(opened, () => opened(false));
  }

  /** The next batch: the first pending put's folder, within the limits. */
  private take(): Pending<T>[] {
    const mailbox = this.pending[0]!.mailbox;
    let n = 0;
    let bytes = 0;
    const { messages, bytes: maxBytes } = this.limits;
    while (n < this.pending.length && n < messages && this.pending[n]!.mailbox === mailbox && (n === 0 || bytes + this.pending[n]!.bytes <= maxBytes)) {
      bytes += this.pending[n]!.bytes;
      n++;
    }
    return this.pending.splice(0, n);
  }

  private async run(lane: number, first: Pending<T>[]): Promise<void> {
    this.running.add(lane);
    let batch = first;
    for (;;) {
      let answer: void | typeof LANE_RETIRED = undefined;
      try {
        answer = await this.send(batch[0]!.mailbox, batch, lane);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
      if (answer === LANE_RETIRED) {
        if (lane === 0) {
          for (const p of batch) p.reject(new Error('no connection to send on'));
        } else {
          // Nothing of it was sent: first in line again, for the lanes left.
          this.live.delete(lane);
          this.pending.unshift(...batch);
          break;
        }
      }
      // Straight on with what queued meanwhile (the puts that arrived while this batch was on
      // the wire), unless the lane was given up meanwhile.
      if (!this.live.has(lane) || this.pending.length === 0) break;
      batch = this.take();
    }
    this.running.delete(lane);
    if (this.live.has(lane)) this.idle.push(lane);
    if (!this.extraRunning()) for (const resolve of this.whenQuiet.splice(0)) resolve();
    // What another lane could not take: on the lanes left (lane 0 among them).
    this.dispatch();
  }
}
