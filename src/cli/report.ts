/** --report FILE: one NDJSON line per message outcome, file mode 0600. */
import { openSync, writeSync, closeSync } from 'node:fs';
import { MailferryError } from '../errors.js';
import { makePrivate } from '../private-file.js';
import type { Outcome } from '../engine/events.js';

export interface ReportWriter {
  write(o: Outcome): void;
  close(): void;
}

export function openReport(path: string | undefined): ReportWriter {
  if (!path) return { write() {}, close() {} };
  let fd: number;
  try {
    fd = openSync(path, 'w', 0o600);
    makePrivate(fd);
  } catch (err) {
    throw new MailferryError('BAD_CONFIG', `cannot write --report ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let pending: string[] = [];
  const flush = () => {
    if (pending.length) writeSync(fd, pending.join(''));
    pending = [];
  };
  return {
    write(o) {
      pending.push(JSON.stringify({ time: new Date().toISOString(), ...o }) + '\n');
      if (pending.length >= 256) flush();
    },
    close() {
      flush();
      closeSync(fd);
    },
  };
}
