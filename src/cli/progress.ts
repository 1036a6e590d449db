/**
 * The progress view: a reader of engine events. On a TTY, cli-progress bars on stderr (one per
 * active folder and a total); elsewhere (cron, CI) one plain line per folder. Off with --json
 * and --quiet.
 */
import { createRequire } from 'node:module';
import type cliProgressType from 'cli-progress';
import type { CopyEvent } from '../engine/events.js';
import { divertStderrLines, forTerminal } from '../log.js';
import { fitColumns, printable } from '../strings.js';

export interface ProgressView {
  onEvent(e: CopyEvent): void;
  stop(): void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** One line of server-influenced text (folder names, errors) for the terminal. */
const line = (text: string) => process.stderr.write(forTerminal(text) + '\n');

class LineView implements ProgressView {
  onEvent(e: CopyEvent): void {
    if (e.type === 'folder-done') {
      const r = e.result;
      if (r.unchanged) line(`${r.folder}: unchanged`);
      else line(`${r.folder}: ${r.copied} copied, ${r.skipped} skipped, ${r.failed} failed (${formatBytes(r.bytes)})${r.error ? ` — ${r.error}` : ''}`);
    } else if (e.type === 'retry') {
      line(`${e.folder}: ${e.error}; retry ${e.attempt} in ${Math.round(e.delayMs)} ms`);
    }
  }
  stop(): void {}
}

/** Loaded when bars are drawn (a terminal), not by cron, CI or --json runs: ~13 ms of start-up. */
const cliProgress = () => createRequire(import.meta.url)('cli-progress') as typeof cliProgressType;

class BarView implements ProgressView {
  private readonly multi = new (cliProgress().MultiBar)(
    {
      stream: process.stderr,
      format: ' {name} [{bar}] {value}/{total} msgs | {rate} msg/s | {mb} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress().Presets.shades_classic,
  );
  private readonly bars = new Map<string, cliProgressType.SingleBar>();
  private total?: cliProgressType.SingleBar;
  private totalCount = 0;
  private readonly announced = new Map<string, number>();
  /** Per folder (and 'total' for the run): messages and bytes done since it started. */
  private readonly done = new Map<string, { started: number; messages: number; bytes: number }>();
  /** Each bar's name as drawn, measured once (a bar's payload is made at every message). */
  private readonly shown = new Map<string, string>();

  /**
   * Lines logged while the bars are drawn are drawn above them, whole: the bars turn line wrap
   * off (a bar line wider than the terminal would break their redraw), so each line turns it on
   * for itself. Ctrl-Z gives the terminal back its cursor and wrapping while mailferry is stopped.
   */
  private readonly onSuspend = () => {
    process.stderr.write('\x1b[?25h\x1b[?7h');
    process.kill(process.pid, 'SIGSTOP');
  };
  private readonly onResume = () => process.stderr.write('\x1b[?25l\x1b[?7l');

  constructor() {
    this.done.set('total', { started: Date.now(), messages: 0, bytes: 0 });
    // Only while bars are drawn: before the first (and when there is none) a line is written as it is.
    divertStderrLines((text) => (this.multi.isActive ? this.multi.log(`\x1b[?7h${text}\x1b[?7l`) : process.stderr.write(text)));
    process.on('SIGTSTP', this.onSuspend);
    process.on('SIGCONT', this.onResume);
  }

  private payload(name: string) {
    const d = this.done.get(name) ?? { started: Date.now(), messages: 0, bytes: 0 };
    const secs = Math.max(0.001, (Date.now() - d.started) / 1000);
    // Cut to 20 columns by whole characters (an emoji is two UTF-16 units, and two columns wide).
    let shown = this.shown.get(name);
    if (shown === undefined) this.shown.set(name, (shown = fitColumns(printable(name), 20)));
    return { name: shown, rate: Math.round(d.messages / secs), mb: `${formatBytes(d.bytes)} ${formatBytes(d.bytes / secs)}/s` };
  }

  /** One message of `folder` done (copied or skipped): its bar and the total move. */
  private step(folder: string, bytes: number): void {
    for (const name of [folder, 'total']) {
      const d = this.done.get(name);
      if (d) (d.messages++, (d.bytes += bytes));
    }
    this.bars.get(folder)?.increment(1, this.payload(folder));
    this.total?.increment(1, this.payload('total'));
  }

  onEvent(e: CopyEvent): void {
    if (e.type === 'folder-start') {
      this.totalCount += e.messages;
      if (!this.total) this.total = this.multi.create(this.totalCount, 0, this.payload('total'));
      else this.total.setTotal(this.totalCount);
      this.done.set(e.folder, { started: Date.now(), messages: 0, bytes: 0 });
      this.bars.set(e.folder, this.multi.create(e.messages, 0, this.payload(e.folder)));
      this.announced.set(e.folder, e.messages);
    } else if (e.type === 'folder-total') {
      // The folder is listed while it is copied: its count was announced before the end of the listing.
      this.totalCount += e.messages - (this.announced.get(e.folder) ?? 0);
      this.announced.set(e.folder, e.messages);
      this.total?.setTotal(this.totalCount);
      this.bars.get(e.folder)?.setTotal(e.messages);
    } else if (e.type === 'message') {
      this.step(e.folder, e.bytes);
    } else if (e.type === 'skipped') {
      this.step(e.folder, 0);
    } else if (e.type === 'folder-done') {
      const bar = this.bars.get(e.result.folder);
      if (bar) {
        bar.stop();
        this.multi.remove(bar);
        this.bars.delete(e.result.folder);
        this.done.delete(e.result.folder);
        this.shown.delete(e.result.folder);
      }
    }
  }

  stop(): void {
    // Lines logged since the last redraw are drawn with it: one more, or they would be lost.
    if (this.multi.isActive) (this.multi as unknown as { update(): void }).update();
    this.multi.stop();
    divertStderrLines(undefined);
    process.off('SIGTSTP', this.onSuspend);
    process.off('SIGCONT', this.onResume);
  }
}

class NoView implements ProgressView {
  onEvent(): void {}
  stop(): void {}
}

export function progressView(o: { json: boolean; quiet: boolean }): ProgressView {
  if (o.json || o.quiet) return new NoView();
  // A terminal that cannot move its cursor (TERM=dumb: Emacs shells, some CI consoles) gets lines.
  return process.stderr.isTTY && process.env.TERM !== 'dumb' ? new BarView() : new LineView();
}
