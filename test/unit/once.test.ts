// p-queue keeps the functions of tasks it has run until it compacts its array; a task wrapped in
// once() lets go of what it captured (a batch of refs, an index) as soon as it starts.
import v8 from 'node:v8';
import vm from 'node:vm';
import PQueue from 'p-queue';
import { expect, it } from 'vitest';
import { once } from '../../src/engine/once.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Of 50 tasks run while work keeps coming, how many batches are still reachable. */
async function retainedAfterRun(wrap: (t: () => Promise<void>) => () => Promise<void>): Promise<number> {
  const queue = new PQueue({ concurrency: 1 });
  const refs: WeakRef<object>[] = [];
  const done: Promise<void>[] = [];
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  // The producer keeps two tasks waiting, as a copy keeps batches queued; the last ones wait at
  // the gate, so the queue is never empty while it is looked at.
  for (let i = 0; i < 60; i++) {
    await queue.onSizeLessThan(2);
    const batch = { refs: new Array(100).fill(i) };
    refs.push(new WeakRef(batch));
    const wait = i >= 57 ? gate : new Promise((r) => setTimeout(r, 1));
    done.push(queue.add(wrap(async () => void (await wait, batch.refs.length))));
  }
  await Promise.all(done.slice(0, 57));
  await new Promise((r) => setImmediate(r));
  gc();
  const kept = refs.slice(0, 50).filter((r) => r.deref() !== undefined).length;
  open();
  await queue.onIdle();
  return kept;
}

it('a task run by p-queue keeps nothing it captured once wrapped in once()', async () => {
  expect(await retainedAfterRun((t) => t)).toBeGreaterThan(40); // p-queue's own behaviour, shown
  expect(await retainedAfterRun(once)).toBe(0);
});

it('runs the task exactly once', async () => {
  let n = 0;
  const f = once(async () => void n++);
  await f();
  expect(n).toBe(1);
  expect(() => f()).toThrow();
  expect(n).toBe(1);
});
