'use strict';
// Caps V8's young generation at two semi-spaces of 4 MiB, where Node's default lets them grow to
// 16 MiB each. A copy allocates fast and keeps little of it (message bodies are buffers outside the
// heap), so the small young generation costs no measurable CPU, and it is ~25 MB less RSS at every
// size (docs/ARCHITECTURE.md, "Speed"). --max-semi-space-size would say it, but V8 reads it only
// when the heap is made, before any of this runs (a command-line flag; `mailferry` is started from
// its #! line, which cannot portably pass one). --semi-space-growth-factor is read each time V8
// grows the young generation, so it is steered instead: 2 (V8's default) while it is below the cap,
// 1 (no growth) once it is there. It is set again on every check: V8 raises it back to 2 whenever it
// makes a heap, as it does for a worker thread (this process starts one for Maildir files; see
// mailferryHeapMade below).
const v8 = require('node:v8');

/** Both semi-spaces together, as V8 reports the young generation's size. */
const YOUNG_MAX = 8 << 20;
/** How often it is looked at: V8 grows it at most one step (×2) per scavenge. */
const EVERY_MS = 10;

/** The young generation's size, as V8 reports it; undefined if it does not. */
function youngSize() {
  return v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size;
}

/** Set again at least this often (checks), whatever was set last: a safety net, not the mechanism. */
const AGAIN_EVERY = 100;

/** The factor this module last set, and the checks since. */
let set;
let checks = 0;

/**
 * Sets the factor for where the young generation is now when that differs from what was set last,
 * or when told to (`again`: a heap was made, so V8 has set it back), or once a second. Not at every
 * check: in a running copy a flag set costs ~50–100 µs of the main thread, where looking at the
 * young generation costs a few; set every 10 ms it was 20–80 ms of a copy of the bench corpus.
 */
function steer(again) {
  const young = youngSize();
  if (young === undefined) return;
  const factor = young < YOUNG_MAX ? 2 : 1;
  if (factor === set && again !== true && ++checks < AGAIN_EVERY) return;
  v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
  set = factor;
  checks = 0;
}

module.exports = function capYoungGeneration() {
  steer(true);
  setInterval(steer, EVERY_MS).unref();
  // A worker's heap is made on its own thread, and that sets the factor back to 2: whoever starts a
  // worker thread calls this once the worker's first line has run (its heap made), having kept
  // the main thread from allocating until then (src/drivers/maildir/file-thread.ts waits for it).
  globalThis.mailferryHeapMade = () => steer(true);
  // Below the cap a worker's heap may be made without that wait: growth is allowed there anyway, and
  // the worker's 'online' event (its heap made) has the factor set again at once.
  globalThis.mailferryYoungAtCap = () => !(youngSize() < YOUNG_MAX);
};
