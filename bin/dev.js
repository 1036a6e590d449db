#!/usr/bin/env node
// Runs the sources (no build) through tsx: npx tsx bin/dev.js copy …
// The same process settings as bin/run.js (see there).
process.env.UV_THREADPOOL_SIZE ??= '64';
(await import('node:v8')).setFlagsFromString('--heap-growing-percent=50');
const { execute } = await import('@oclif/core');
await execute({ development: true, dir: import.meta.url });
