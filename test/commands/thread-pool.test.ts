// The CLI's file calls (a Maildir's open, write, fsync, rename) run on libuv's thread pool, whose
// size libuv reads from UV_THREADPOOL_SIZE once, when the pool first starts. bin/run.cjs sets 64
// unless the environment says otherwise: every message store in flight can then wait in its fsync
// at once. The setting must come before the pool starts; from an ES module entry it came too late
// (Node's module loader reads the entry through the pool) and a copy ran on 4 threads.
// The threads are counted in /proc while the CLI waits for a server's greeting that never comes.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

let work: string;
let server: Server;
let port: number;
/** Called with each connection the silent server takes. */
let onConnection: ((s: Socket) => void) | undefined;
const sockets = new Set<Socket>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'mf-threads-'));
  server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onConnection?.(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(work, { recursive: true, force: true });
});

/** The threads of a CLI copy once it has connected to the source (the pool has started by then). */
async function threadsOfRun(name: string, env: Record<string, string | undefined>): Promise<number> {
  let pid: number | undefined;
  let kill: (() => void) | undefined;
  const connected = new Promise<void>((resolve) => (onConnection = () => resolve()));
  const run = runCli(['copy', `imap://u@127.0.0.1:${port}`, `maildir:${join(work, name)}`, '--source-tls', 'none', '--checkpoint', join(work, `${name}.cp`)], {
    // Its own state directory: the run is killed, and leaves its job's lock file there.
    env: { MAILFERRY_SOURCE_PASSWORD: 'pw', XDG_STATE_HOME: join(work, 'state'), ...env },
    timeoutMs: 60_000,
    onSpawn: (child) => {
      pid = child.pid;
      kill = () => child.kill('SIGKILL');
    },
  });
  await Promise.race([connected, run.then((r) => Promise.reject(new Error(`the CLI ended before it connected: ${r.code} ${r.stderr}`)))]);
  const threads = readdirSync(`/proc/${pid}/task`).length;
  kill!();
  await run;
  return threads;
}

describe('the thread pool of a run', () => {
  it('has 64 threads, or as many as UV_THREADPOOL_SIZE in the environment says', async () => {
    const one = await threadsOfRun('one', { UV_THREADPOOL_SIZE: '1' });
    const byDefault = await threadsOfRun('default', { UV_THREADPOOL_SIZE: undefined });
    const eight = await threadsOfRun('eight', { UV_THREADPOOL_SIZE: '8' });
    // The other threads (the main one, V8's helpers) are the same in each run.
    expect(byDefault - one).toBe(63);
    expect(eight - one).toBe(7);
  });
});
