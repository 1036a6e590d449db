// One timed command: wall clock (ours), peak RSS and CPU times (GNU time's, of the child tree).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';

export interface Invocation {
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface Timing {
  code: number | null;
  wall: number;
  rssKB: number;
  user: number;
  sys: number;
  /** CPU seconds the whole machine spent busy meanwhile: the tool, Dovecot and the kernel. */
  machineCpu: number;
  stdout: string;
  stderr: string;
}

export const GNU_TIME = '/usr/bin/time';

export async function timed(inv: Invocation, scratch: string, timeoutSec: number): Promise<Timing> {
  const out = path.join(scratch, `time.${process.pid}.out`);
  await rm(out, { force: true });
  const args = ['-f', '%M %U %S', '-o', out, 'timeout', '-s', 'KILL', String(timeoutSec), inv.cmd, ...inv.args];
  const busy0 = machineBusySeconds();
  const t0 = performance.now();
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(GNU_TIME, args, { env: { ...process.env, ...inv.env }, cwd: inv.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const so: Buffer[] = [];
    const se: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => so.push(b));
    child.stderr.on('data', (b: Buffer) => se.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(so).toString('utf8'), stderr: Buffer.concat(se).toString('utf8') }));
  });
  const wall = (performance.now() - t0) / 1000;
  const machineCpu = machineBusySeconds() - busy0;
  const text = await readFile(out, 'utf8').catch(() => '');
  await rm(out, { force: true });
  // GNU time writes "Command exited with non-zero status N" first when the command failed.
  const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(text.trim());
  return { ...r, wall, machineCpu, rssKB: m ? Number(m[1]) : 0, user: m ? Number(m[2]) : 0, sys: m ? Number(m[3]) : 0 };
}

/** Busy (non-idle) CPU seconds of the whole machine since boot, from /proc/stat; NaN elsewhere. */
export function machineBusySeconds(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
    const busy = cpu.slice(0, 8).reduce((a, x, i) => (i === 3 || i === 4 ? a : a + x), 0);
    return busy / 100; // USER_HZ
  } catch {
    return NaN;
  }
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}
