// A copy into a Maildir starts its file thread as the launcher starts (bin/file-thread-early.cjs),
// so the main thread is not held up by the worker's start when the first message is stored: the
// copy's main thread never waits on the worker (Atomics.wait, counted by a preloaded module) and
// every message arrives. Without the early start it waited once, ~50 ms, at the first message.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../harness/cli.js';

let work: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'mf-early-'));
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(work, 'src', d), { recursive: true });
  for (let i = 1; i <= 5; i++) {
    writeFileSync(join(work, 'src', 'cur', `100${i}.M1P1.host:2,S`), `Message-ID: <m${i}@example.org>\nSubject: ${i}\n\nbody ${i}\n`);
  }
  // Preloaded into the CLI (NODE_OPTIONS): keeps where the main thread called Atomics.wait, said at exit.
  const hook = [
    "import { isMainThread } from 'node:worker_threads';",
    "import { appendFileSync } from 'node:fs';",
    'if (isMainThread) {',
    '  const wait = Atomics.wait;',
    '  const stacks = [];',
    '  Atomics.wait = function (...args) { stacks.push(new Error().stack); return wait.apply(this, args); };',
    `  process.on('exit', () => appendFileSync(${JSON.stringify(join(work, 'waits'))}, JSON.stringify(stacks)));`,
    '}',
  ];
  writeFileSync(join(work, 'count-waits.mjs'), hook.join('\n') + '\n');
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a copy into a Maildir', () => {
  it('stores its messages with no wait of the main thread for the file thread to start', async () => {
    const dest = join(work, 'dest');
    const r = await runCli(['copy', `maildir:${join(work, 'src')}`, `maildir:${dest}`, '--checkpoint', join(work, 'cp.jsonl'), '--json'], {
      env: { NODE_OPTIONS: `--import=${join(work, 'count-waits.mjs')}`, XDG_STATE_HOME: join(work, 'state') },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).result.copied).toBe(5);
    expect(readdirSync(join(dest, 'cur'))).toHaveLength(5);
    // The file thread's waits (under the test runner oclif has Node's module loader wait on its own
    // hooks thread as well: not what is counted here).
    const waits = (JSON.parse(readFileSync(join(work, 'waits'), 'utf8')) as string[]).filter((s) => s.includes('file-thread'));
    expect(waits).toEqual([]);
  });
});
