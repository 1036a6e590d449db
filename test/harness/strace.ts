// The real CLI run under `strace -f`, and its trace read back as calls in the order the kernel
// saw them: each call has the line it started on and the line it returned on (a call another
// thread interrupted is written as "<unfinished ...>" and "<... NAME resumed>").
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BIN } from './cli.js';

export interface TracedCall {
  name: string;
  /** Line the call started on, and the line it returned on. */
  start: number;
  end: number;
  /** The path of the first argument's file descriptor (strace -y), if it has one. */
  fdPath?: string;
  /** The string arguments, decoded (strace -xx): a write's data; a rename's two paths. */
  strings: Buffer[];
}

/** The real CLI under strace with these options (`-o FILE` among them), and what it printed. */
export async function underStrace(strace: string[], args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('strace', [...strace, process.execPath, BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`cannot run strace (apt-get install strace): ${e.message}`)));
    child.on('close', resolve);
  });
  return { code, stdout, stderr };
}

/** The real CLI with these calls traced into `trace`, each with its data and file paths (readTrace). */
export function runTraced(
  args: string[],
  opts: { env: Record<string, string>; trace: string; calls: string[] },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return underStrace(['-f', '-qq', '-y', '-xx', '-s', String(1 << 24), '-o', opts.trace, '-e', `trace=${opts.calls.join(',')}`], args, opts.env);
}

const STRING = /"((?:\\x[0-9a-f]{2})*)"/g;

function decode(hex: string): Buffer {
  return Buffer.from(hex.replace(/\\x/g, ''), 'hex');
}

export function readTrace(file: string): TracedCall[] {
  const lines = readFileSync(file, 'latin1').split('\n');
  const pending = new Map<string, { start: number; text: string }>();
  const calls: TracedCall[] = [];
  const add = (start: number, end: number, text: string): void => {
    const m = /^(\w+)\((?:\d+<((?:\\x[0-9a-f]{2})*)>)?/.exec(text);
    if (!m) return;
    const fdPath = m[2] !== undefined ? { fdPath: decode(m[2]).toString('utf8') } : {};
    calls.push({ name: m[1]!, start, end, ...fdPath, strings: [...text.matchAll(STRING)].map((s) => decode(s[1]!)) });
  };
  lines.forEach((line, i) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m as unknown as [string, string, string];
    if (rest.endsWith('<unfinished ...>')) {
      pending.set(pid, { start: i, text: rest.slice(0, -'<unfinished ...>'.length) });
      return;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest);
    if (resumed) {
      const p = pending.get(pid);
      pending.delete(pid);
      if (p) add(p.start, i, p.text + resumed[1]!);
      return;
    }
    add(i, i, rest);
  });
  return calls;
}
