/**
 * What the engine does when a server throttles: it records when and for how long (the summary
 * in the result), and halves the number of workers while it lasts; after a calm period without
 * throttling the workers come back one at a time.
 */

export interface ThrottleEvent {
  /** When the server throttled (ISO time). */
  at: string;
  /** How long mailferry waited before trying again (ms). */
  waitMs: number;
  /** The folder or operation, and the server's words. */
  where: string;
  message: string;
}

export interface ThrottleSummary {
  count: number;
  /** Total wait (ms) over all throttle answers. */
  totalWaitMs: number;
  first?: string;
  last?: string;
  /** Fewest workers the run backed off to. */
  minWorkers: number;
  /** The first 20 throttle answers. */
  events: ThrottleEvent[];
}

const KEEP_EVENTS = 20;

export class Throttle {
  private readonly events: ThrottleEvent[] = [];
  private count = 0;
  private totalWaitMs = 0;
  private workers: number;
  private minWorkers: number;
  private lastAt = 0;
  private stepAt = 0;
  /** Told when the worker count changes. */
  onWorkers?: (n: number, why: string) => void;

  constructor(
    private readonly maxWorkers: number,
    private readonly calmMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {
    this.workers = maxWorkers;
    this.minWorkers = maxWorkers;
  }

  get current(): number {
    return this.workers;
  }

  /** A server throttled: remember it, and back the workers off. */
  note(where: string, message: string, waitMs: number): ThrottleEvent {
    const ev: ThrottleEvent = { at: new Date(this.now()).toISOString(), waitMs: Math.round(waitMs), where, message };
    this.count++;
    this.totalWaitMs += ev.waitMs;
    this.lastAt = this.now();
    if (this.events.length < KEEP_EVENTS) this.events.push(ev);
    const next = Math.max(1, Math.floor(this.workers / 2));
    if (next !== this.workers) {
      this.workers = next;
      this.minWorkers = Math.min(this.minWorkers, next);
      this.onWorkers?.(next, 'throttled');
    }
    return ev;
  }

  /** Work went through: after a calm period, give one worker back. */
  ok(): void {
    if (this.workers >= this.maxWorkers || this.now() - Math.max(this.lastAt, this.stepAt) < this.calmMs) return;
    this.workers++;
    this.stepAt = this.now(); // one step per calm period
    this.onWorkers?.(this.workers, 'calm');
  }

  summary(): ThrottleSummary | undefined {
    if (this.count === 0) return undefined;
    return {
      count: this.count,
      totalWaitMs: this.totalWaitMs,
      first: this.events[0]?.at,
      last: new Date(this.lastAt).toISOString(),
      minWorkers: this.minWorkers,
      events: [...this.events],
    };
  }
}
