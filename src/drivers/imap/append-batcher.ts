/**
 * Group commit for APPEND: puts that arrive while a batch is on the wire wait and go together in
 * the next one (same folder, bounded by count and bytes). The first put goes out on the next
 * turn of the event loop, so puts issued together start together; under load batches grow by
 * themselves, like a database's group commit.
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

export class AppendBatcher<T> {
  private pending: Pending<T>[] = [];
  private busy = false;

  constructor(
    /** Sends one batch (one folder); settles every entry, never throws. */
    private readonly send: (mailbox: string, batch: Pending<T>[]) => Promise<void>,
    private readonly limits: BatchLimits = defaultBatchLimits(),
  ) {}

  put(mailbox: string, item: T, bytes: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.pending.push({ mailbox, item, bytes, resolve, reject });
      if (!this.busy) {
        this.busy = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const mailbox = this.pending[0]!.mailbox;
      let n = 0;
      let bytes = 0;
      const { messages, bytes: maxBytes } = this.limits;
      while (n < this.pending.length && n < messages && this.pending[n]!.mailbox === mailbox && (n === 0 || bytes + this.pending[n]!.bytes <= maxBytes)) {
        bytes += this.pending[n]!.bytes;
        n++;
      }
      const batch = this.pending.splice(0, n);
      try {
        await this.send(mailbox, batch);
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
    this.busy = false;
  }
}
