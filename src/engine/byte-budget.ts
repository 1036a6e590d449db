/**
 * Bytes held at once, shared: `take(n)` waits until `n` more fit under the budget, in the order
 * asked, and resolves to the function that gives them back. An ask larger than the whole budget
 * goes alone, once nothing else is held.
 */
export class ByteBudget {
  private used = 0;
  private readonly waiting: { n: number; go: (give: () => void) => void }[] = [];

  constructor(readonly max: number) {}

  take(n: number): Promise<() => void> {
    return new Promise((go) => {
      this.waiting.push({ n, go });
      this.wake();
    });
  }

  /** Bytes held now. */
  get held(): number {
    return this.used;
  }

  private wake(): void {
    while (this.waiting.length > 0 && (this.used === 0 || this.used + this.waiting[0]!.n <= this.max)) {
      const w = this.waiting.shift()!;
      this.used += w.n;
      let given = false;
      w.go(() => {
        if (given) return;
        given = true;
        this.used -= w.n;
        this.wake();
      });
    }
  }
}
