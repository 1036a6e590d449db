/** --report FILE: one NDJSON line per message outcome, file mode 0600. */
import { writeSync } from 'node:fs';
import { fileErrorReason, MailferryError } from '../errors.js';
import { closePrivate, emptyOwn, openPrivate } from '../private-file.js';
import type { Outcome } from '../engine/events.js';
import { safeJson } from '../log.js';

export interface ReportWriter {
  /** The run holds its locks: the file is emptied for this run's lines (also at the first line). */
  begin(): void;
  write(o: Outcome): void;
  close(): void;
}

/**
 * Opened at once (a file that cannot be written is a usage error before anything is done), but
 * emptied only at `begin`: a run refused because another holds the checkpoint (a cron job's
 * overlapping run, with the same --report) leaves that run's report as it is.
 * `onError`: the report stopped taking lines (a full disk), said once; the copy goes on, and its
 * result still says every outcome.
 */
export function openReport(path: string | undefined, onError: (message: string) => void = () => {}): ReportWriter {
  if (!path) return { begin() {}, write() {}, close() {} };
  let fd: number;
  try {
    fd = openPrivate(path, 'keep');
  } catch (err) {
    throw new MailferryError('BAD_CONFIG', `cannot write --report ${path}: ${fileErrorReason(err)}`, { hint: 'choose a report file in a directory you can write to' });
  }
  let pending: string[] = [];
  let written = 0;
  let failed = false;
  let begun = false;
  const begin = () => {
    if (begun) return;
    begun = true;
    try {
      emptyOwn(fd);
    } catch (err) {
      failed = true;
      onError(`cannot write --report ${path} (${fileErrorReason(err)}): no outcome is written to it; the result has them all`);
    }
  };
  const flush = () => {
    if (pending.length) begin();
    if (pending.length && !failed) {
      try {
        writeSync(fd, pending.join(''));
        written += pending.length;
      } catch (err) {
        failed = true;
        onError(`cannot write --report ${path} (${fileErrorReason(err)}): it stops after ${written} outcomes; the result has them all`);
      }
    }
    pending = [];
  };
  return {
    begin,
    write(o) {
      // As every output: a server's words (a failure) may hold a password it echoed.
      pending.push(safeJson({ time: new Date().toISOString(), ...o }) + '\n');
      if (pending.length >= 256) flush();
    },
    close() {
      flush();
      try {
        closePrivate(fd);
      } catch {
        // the lines that failed were said already
      }
    },
  };
}
