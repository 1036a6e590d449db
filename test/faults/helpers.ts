// Shared by the fault tests: fake messages, fresh sandboxes, a whole-tree snapshot, RSS polling.
import { mkdtempSync, readdirSync, lstatSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { readMaildirTree } from '../harness/maildir-read.js';

/** A small message with CRLF line endings, as an IMAP server serves it. */
export function fakeMessage(n: number, opts: { messageId?: string | null; bodyLines?: number } = {}): Buffer {
  const mid = opts.messageId === undefined ? `<fake-${n}@mailferry.test>` : opts.messageId;
  const lines = [
    `From: sender${n}@example.org`,
    'To: someone@example.org',
    `Subject: message ${n}`,
    ...(mid ? [`Message-ID: ${mid}`] : []),
    '',
    ...Array.from({ length: opts.bodyLines ?? 3 }, (_, i) => `line ${i} of message ${n} \xe9\xe8`),
    '',
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

export const crlfToLfBytes = (b: Buffer): Buffer => Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');

export function sandbox(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Every path under root (files, dirs, links), relative, with type and size. */
export function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file';
      out.set(relative(root, p), `${kind}:${kind === 'file' ? st.size : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out;
}

/** Destination messages by folder, as LF bytes. */
export function destMessages(root: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  for (const [folder, files] of readMaildirTree(root)) out.set(folder, files.map((f) => f.bytes));
  return out;
}

/** Peak RSS (VmHWM, kB) of a running child, polled until it exits. */
export function pollPeakRss(child: ChildProcess): { peakKb: () => number } {
  let peak = 0;
  const t = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {
      /* exited */
    }
  }, 50);
  child.on('exit', () => clearInterval(t));
  return { peakKb: () => peak };
}
