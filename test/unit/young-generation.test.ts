// bin/young-generation.cjs keeps V8's young generation at 8 MiB in a process that allocates the way a
// copy does (much, most of it short-lived, some kept a while; a little in each turn of the event
// loop) and starts a worker thread (which has V8 set the growth factor back), where without it the
// young generation grows to Node's 32 MiB. (A long synchronous stretch, such as loading modules,
// may grow it one step past the cap before the first check: V8 is asked between turns.)
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../bin/young-generation.cjs', import.meta.url));

const program = (capped: boolean, early = false, counted = false): string => `
const v8 = require('node:v8');
const { Worker } = require('node:worker_threads');
// Counted: how often the cap looks at the young generation, and how often it sets the flag.
let looks = 0;
let sets = 0;
if (${counted}) {
  const stats = v8.getHeapSpaceStatistics;
  v8.getHeapSpaceStatistics = () => (looks++, stats());
  const setFlags = v8.setFlagsFromString;
  v8.setFlagsFromString = (f) => (sets++, setFlags(f));
}
if (${capped}) require(${JSON.stringify(MODULE)})();
const young = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
let kept = [];
let largest = 0;
const turn = (n) => {
  for (let i = 0; i < 10000; i++) {
    kept.push({ i, s: 'x' + i });
    if (kept.length > 100000) kept = [];
  }
  largest = Math.max(largest, young());
  if (${early} && n === 0) {
    // As the launcher's early start of the file thread (bin/file-thread-early.cjs): below the cap,
    // no wait; its 'online' event sets the factor again.
    if (globalThis.mailferryYoungAtCap()) throw new Error('at the cap already');
    const w = new Worker('1', { eval: true });
    w.unref();
    w.once('online', globalThis.mailferryHeapMade);
  }
  if (!${early} && n === 40) {
    // As the Maildir sink's file thread starts its worker: nothing allocated until its first line has run.
    const started = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker('const s = new Int32Array(require("node:worker_threads").workerData); Atomics.store(s, 0, 1); Atomics.notify(s, 0);', { eval: true, workerData: started.buffer });
    w.unref();
    if (globalThis.mailferryHeapMade) {
      Atomics.wait(started, 0, 0, 5000);
      globalThis.mailferryHeapMade();
    }
    // Then much at once, before any check could run again.
    for (let i = 0; i < 300000; i++) {
      kept.push({ i, s: 'y' + i });
      if (kept.length > 100000) kept = [];
    }
  }
  if (n < 200) setTimeout(() => turn(n + 1), 1);
  else if (${counted}) process.stdout.write(JSON.stringify({ largest, looks, sets }));
  else process.stdout.write(String(largest));
};
turn(0);
`;

const largestYoung = (capped: boolean, early = false): number => Number(execFileSync(process.execPath, ['-e', program(capped, early)], { encoding: 'utf8' }));

describe('the young generation cap', () => {
  it('keeps the young generation at 8 MiB, a worker thread started or not', () => {
    expect(largestYoung(true)).toBeLessThanOrEqual(8.5e6);
  });

  it('keeps it there with a worker started early, below the cap, without a wait', () => {
    expect(largestYoung(true, true)).toBeLessThanOrEqual(8.5e6);
  });

  it('sets the flag when the factor it wants changes or a heap was made, not at every look', () => {
    // Setting a V8 flag in a running copy costs ~50–100 µs; looking costs a few. The program's own
    // looks (one per turn, 200) are counted too, so the cap's are what is over 200.
    const { largest, looks, sets } = JSON.parse(execFileSync(process.execPath, ['-e', program(true, false, true)], { encoding: 'utf8' }));
    expect(largest).toBeLessThanOrEqual(8.5e6);
    expect(looks - 200).toBeGreaterThanOrEqual(20);
    // At the start, at the cap, once the worker's heap is made, and once a second as a safety net.
    expect(sets).toBeLessThanOrEqual(6);
  });

  it('is what keeps it there (without it, the same program grows it past 8 MiB)', () => {
    expect(largestYoung(false)).toBeGreaterThan(16e6);
  });
});
