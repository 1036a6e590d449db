/** --report FILE: one NDJSON line per message outcome, file mode 0600. */
import { writeSync, closeSync } from 'node:fs';
import { fileErrorReason, MailferryError } from '../errors.js';
import { openPrivate } from '../private-file.js';
import type { Outcome } from '../engine/events.js';
import { safeJson } from '../log.js';

export interface ReportWriter {
  write(o: Outcome): void;
  close(): void;
}

/**
 * `onError`: the report stopped taking lines (a full disk), said once; the copy goes on, and its
 * result still says every outcome.
 */
export function openReport(path: string | undefined, onError: (message: string) => void = () => {}): ReportWriter {
  if (!path) return { write() {}, close() {} };
  let fd: number;
  try {
    fd = openPrivate(path, 'truncate');
  } catch (err) {
    throw new MailferryError('BAD_CONFIG', `cannot write --report ${path}: ${fileErrorReason(err)}`, { hint: 'choose a report file in a directory you can write to' });
  }
  let pending: string[] = [];
  let written = 0;
  let failed = false;
  const flush = () => {
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
    write(o) {
      // As every output: a server's words (a failure) may hold a password it echoed.
      pending.push(safeJson({ time: new Date().toISOString(), ...o }) + '\n');
      if (pending.length >= 256) flush();
    },
    close() {
      flush();
      try {
        closeSync(fd);
      } catch {
        // the lines that failed were said already
      }
    },
  };
}
