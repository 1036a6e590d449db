#!/usr/bin/env node
'use strict';
// CommonJS, not an ES module, for one reason: libuv sizes its thread pool from UV_THREADPOOL_SIZE
// when the pool is first used, and Node's ES module loader reads the entry file through that pool,
// so an ES module entry could only set it after the pool had started with its default 4 threads.
// A CommonJS entry is read synchronously, so the UV_THREADPOOL_SIZE line below comes before the
// pool starts. The rest of the program is ES modules, loaded with import().
// First of all: Ctrl-C or SIGTERM before a command has taken over its signals (while Node and oclif load):
// exit 130 as documented, with the one JSON document a script expects (not 143 and nothing).
const early = () => {
  if (globalThis.mailferrySignals) return; // a command handles them now
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ status: 130, error: { code: 'INTERRUPTED', message: 'interrupted before it started' }, warnings: [] }) + '\n');
  } else process.stderr.write('mailferry: interrupted before it started\n');
  process.exit(130);
};
process.on('SIGINT', early);
process.on('SIGTERM', early);
process.on('SIGHUP', early);
// Standard error that cannot be written (a reader gone, /dev/full) must not end the run: without a
// listener its 'error' event is an uncaught exception, exit 1, with the messages half copied.
process.stderr.on('error', () => {});
// Node.js 20 or later (package.json "engines"): an older one is told so in one line, exit 3, not
// met with a stack trace from whatever it lacks (down to Node.js 14: this file's syntax is kept
// to what 14 parses). This stands in for oclif's own check, which
// loads semver (~20 ms of every start) and warns only below oclif's minimum (18).
if (!(Number(process.versions.node.split('.')[0]) >= 20)) {
  const message = `Node.js ${process.versions.node} is too old: mailferry needs Node.js 20 or later`;
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify({ status: 3, error: { code: 'NODE_TOO_OLD', message }, warnings: [] }) + '\n');
  } else process.stderr.write(`mailferry: error: ${message}\n`);
  process.exit(3);
}
const oclifEngineCheck = process.env.OCLIF_DISABLE_ENGINE_WARNING === undefined;
if (oclifEngineCheck) process.env.OCLIF_DISABLE_ENGINE_WARNING = '1';
// More libuv threads: fsyncs of many messages run side by side. 64, so that every message store
// a Maildir destination keeps in flight (64, from any number of workers) can wait in its fsync for
// the same journal commit, instead of the rest queuing behind the pool's default 4
// (docs/ARCHITECTURE.md, "Speed").
if (process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = '64';
// The old generation may grow to 1.5× what survived the last full GC (V8 lets it reach up to
// 4× when GC looks cheap, which a long copy turns into garbage held as RSS). Read by V8 at each
// GC, so it takes effect when set here. Measured on a copy of 60,460 messages: peak RSS 151 →
// 137 MB for ~5% more CPU (docs/ARCHITECTURE.md, "Speed").
const v8 = require('node:v8');
v8.setFlagsFromString('--heap-growing-percent=50');
// The young generation at 8 MiB, not Node's 32 (bin/young-generation.cjs).
require('./young-generation.cjs')();
// A function is optimized (TurboFan, on a helper thread) after 4× the default work: a copy of a
// few thousand messages spent ~30% of its CPU compiling (the IMAP parser several times over, as
// each new phase deoptimized it), most of it for code that then ran a few seconds. Read whenever
// a function's budget is reset, so it takes effect when set here, before the rest is loaded.
// IMAP→IMAP ×1: ~10% less CPU; the other copies the same (docs/ARCHITECTURE.md, "Speed").
v8.setFlagsFromString('--interrupt-budget=270336');
// oclif asks the system for the home directory as it loads, which throws when there is none
// (HOME unset, a uid with no account entry: `docker run --user 12345`): a stand-in for oclif,
// which mailferry's own state never uses (src/checkpoint/path.ts says there is no home).
// With SHELL unset (as in most containers) oclif also asks the account entry for the login
// shell, which throws the same way: an empty SHELL reads to oclif as "unknown".
const os = require('node:os');
try {
  os.homedir();
} catch {
  globalThis.mailferryNoHome = true;
  process.env.HOME = '/nonexistent';
}
if (process.env.SHELL === undefined) {
  try {
    os.userInfo();
  } catch {
    process.env.SHELL = '';
  }
}
// The built program, always: with NODE_ENV=development or test in the environment, oclif would
// otherwise register tsx (when it is installed, as after `npm ci` in a checkout) to compile
// TypeScript sources it looks for beside dist/, ~0.5 s of every start, and a module loader
// thread. bin/dev.js is the way to run the sources. Read by oclif's settings as it loads.
globalThis.oclif = Object.assign(globalThis.oclif || {}, { enableAutoTranspile: false });
// A copy into a Maildir: its file thread starts now, beside the loading below (bin/file-thread-early.cjs).
require('./file-thread-early.cjs').startFileThreadEarly(process.argv.slice(2));
import('@oclif/core').then(({ execute }) => {
  // Read as oclif loaded: not passed on to what a run starts (a password command).
  if (oclifEngineCheck) delete process.env.OCLIF_DISABLE_ENGINE_WARNING;
  // oclif's own listener on standard output throws any error but EPIPE (a stack trace, exit 1) when
  // it writes there itself (--version, --help, its last flush) and the output cannot be written (a
  // full disk, /dev/full): one line and exit 3 instead, or the exit code the run already has.
  // A command's own output replaces this listener with its own (src/cli/base.ts).
  process.stdout.removeAllListeners('error');
  let stdoutFailed = false;
  process.stdout.on('error', (err) => {
    if (err?.code === 'EPIPE' || stdoutFailed) return;
    stdoutFailed = true;
    if (!process.exitCode) {
      process.stderr.write(`mailferry: error: cannot write to standard output (${err?.code ?? err})\n`);
      process.exitCode = 3;
    }
  });
  // No "user plugins": oclif would otherwise read (and load code named in) a package.json in the
  // user's data directory, ~/.local/share/mailferry, at every start.
  return execute({ loadOptions: { root: __filename, userPlugins: false } });
});
