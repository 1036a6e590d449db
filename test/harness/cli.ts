// Runs the real CLI binary (bin/run.cjs over the built dist/) as a child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/run.cjs', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  /** Called with the child as soon as it is spawned (to kill it, say). */
  onSpawn?: (child: ChildProcess) => void;
  /** A command to run the CLI under (e.g. setpriv … -- to run it as another user). */
  wrap?: string[];
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, XDG_STATE_HOME: process.env.XDG_STATE_HOME, ...opts.env };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    const [cmd, ...pre] = opts.wrap?.length ? [...opts.wrap, process.execPath] : [process.execPath];
    const child = spawn(cmd!, [...pre, BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 110_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Parse the one JSON document a --json run prints. */
export function envelope(r: CliResult): { status: number; result?: any; error?: { code: string; message: string; hint?: string }; warnings: string[] } {
  const lines = r.stdout.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected exactly one line on stdout, got ${lines.length}: ${r.stdout.slice(0, 500)}\nstderr: ${r.stderr.slice(0, 500)}`);
  return JSON.parse(lines[0]);
}
