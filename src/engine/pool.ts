/**
 * A small pool of connections (readers, writers): created on demand, reused, destroyed when broken.
 * `warm(n)` opens members ahead of need, side by side, while the caller goes on (the logins of a
 * copy's workers then overlap the listing instead of following it).
 */
export class Pool<T> {
  private readonly idle: T[] = [];
  private readonly all = new Set<T>();
  /** Members being opened by warm(): each settles to the member, or undefined when it failed. */
  private warming: Promise<T | undefined>[] = [];
  private closed = false;

  constructor(
    private readonly create: () => Promise<T>,
    private readonly dispose: (t: T) => Promise<void>,
  ) {}

  /** Members existing or on their way. */
  get size(): number {
    return this.all.size + this.warming.length;
  }

  /**
   * Open members in the background until `n` exist or are on their way. A failure is dropped
   * here: the acquire() that needs the member opens one itself and reports what goes wrong.
   */
  warm(n: number): void {
    while (!this.closed && this.size < n) {
      const w: Promise<T | undefined> = this.create().then(
        (made) => {
          if (this.closed) {
            void this.dispose(made).catch(() => {});
            return undefined;
          }
          this.all.add(made);
          return made;
        },
        () => undefined,
      );
      this.warming.push(w);
    }
  }

  async acquire(): Promise<T> {
    const t = this.idle.pop();
    if (t !== undefined) return t;
    // A member on its way is taken rather than a new one opened beside it.
    const w = this.warming.shift();
    if (w !== undefined) {
      const made = await w;
      if (made !== undefined) return made;
    }
    const made = await this.create();
    this.all.add(made);
    return made;
  }

  release(t: T): void {
    if (this.all.has(t)) this.idle.push(t);
  }

  /** Drop a broken member. */
  async destroy(t: T): Promise<void> {
    this.all.delete(t);
    await this.dispose(t).catch(() => {});
  }

  /** Close every member, those still being opened by warm() included (once they are open). */
  async closeAll(): Promise<void> {
    this.closed = true;
    const pending = this.warming;
    this.warming = [];
    await Promise.all(pending);
    const members = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(members.map((m) => this.dispose(m).catch(() => {})));
  }
}
