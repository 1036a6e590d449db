'use strict';
// A copy into a Maildir makes its message files on a worker thread of its own
// (src/drivers/maildir/file-thread.ts). Started when the first message is stored, the worker's
// start held the main thread up ~50 ms right then: its heap must be made before this thread's
// young generation may grow again (bin/young-generation.cjs), so the main thread waited for it.
// Started here instead, as the launcher begins to load the program, the worker starts on its own
// thread while the rest loads, and the young generation is still below its cap then: nothing waits.
// Only for a command line that reads as a copy into a Maildir (a job file's destination is not
// looked for: such a run starts its worker when it first needs it, as before).

const URL_ARG = /^(imaps?|pop3s?|maildir):/i;

/** Whether the arguments read as `copy SOURCE maildir:…`, not a dry run. */
function copiesIntoMaildir(args) {
  if (args[0] !== 'copy') return false;
  if (args.some((a) => a === '-n' || a === '--dry-run')) return false;
  const urls = args.slice(1).filter((a) => URL_ARG.test(a));
  return urls.length >= 2 && /^maildir:/i.test(urls[1]);
}

/** Starts the file thread's worker ahead of need when `args` (argv after the script) copy into a Maildir. */
function startFileThreadEarly(args) {
  if (!copiesIntoMaildir(args)) return;
  // A failure here costs nothing: the sink starts its worker itself when it needs one.
  import('../dist/drivers/maildir/file-thread.js').then((m) => m.prestart(), () => {});
}

module.exports = { copiesIntoMaildir, startFileThreadEarly };
