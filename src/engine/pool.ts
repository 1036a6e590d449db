/** A small pool of connections (readers, writers): created on demand, reused, destroyed when broken. */
export class Pool<T> {
  private readonly idle: T[] = [];
  private readonly all = new Set<T>();

  constructor(
    private readonly create: () => Promise<T>,
    private readonly dispose: (t: T) => Promise<void>,
  ) {}

  async acquire(): Promise<T> {
    const t = this.idle.pop();
    if (t !== undefined) return t;
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

  async closeAll(): Promise<void> {
    const members = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(members.map((m) => this.dispose(m).catch(() => {})));
  }
}
