/**
 * The progress view: a reader of engine events. On a TTY, cli-progress bars on stderr (one per
 * active folder and a total); elsewhere (cron, CI) one plain line per folder. Off with --json
 * and --quiet.
 */
import { createRequire } from 'node:module';
import type cliProgressType from 'cli-progress';
import type { CopyEvent } from '../engine/events.js';
import { forTerminal } from '../log.js';
import { printable } from '../strings.js';

export interface ProgressView {
  onEvent(e: CopyEvent): void;
  stop(): void;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
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
  private bytes = 0;
  private readonly started = Date.now();

  private payload(name: string) {
    const secs = Math.max(0.001, (Date.now() - this.started) / 1000);
    return { name: printable(name).padEnd(20).slice(0, 20), rate: Math.round((this.total?.getProgress() ?? 0) * this.totalCount / secs) || 0, mb: `${formatBytes(this.bytes)} ${formatBytes(this.bytes / secs)}/s` };
  }

  onEvent(e: CopyEvent): void {
    if (e.type === 'folder-start') {
      this.totalCount += e.messages;
      if (!this.total) this.total = this.multi.create(this.totalCount, 0, this.payload('total'));
      else this.total.setTotal(this.totalCount);
      this.bars.set(e.folder, this.multi.create(e.messages, 0, this.payload(e.folder)));
      this.announced.set(e.folder, e.messages);
    } else if (e.type === 'folder-total') {
      // The folder is listed while it is copied: its count was announced before the end of the listing.
      this.totalCount += e.messages - (this.announced.get(e.folder) ?? 0);
      this.announced.set(e.folder, e.messages);
      this.total?.setTotal(this.totalCount);
      this.bars.get(e.folder)?.setTotal(e.messages);
    } else if (e.type === 'message') {
      this.bytes += e.bytes;
      this.bars.get(e.folder)?.increment(1, this.payload(e.folder));
      this.total?.increment(1, this.payload('total'));
    } else if (e.type === 'skipped') {
      this.bars.get(e.folder)?.increment(1, this.payload(e.folder));
      this.total?.increment(1, this.payload('total'));
    } else if (e.type === 'folder-done') {
      const bar = this.bars.get(e.result.folder);
      if (bar) {
        bar.stop();
        this.multi.remove(bar);
        this.bars.delete(e.result.folder);
      }
    }
  }

  stop(): void {
    this.multi.stop();
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
