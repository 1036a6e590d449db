#!/usr/bin/env node
// Runs the sources (no build) through tsx: npx tsx bin/dev.js copy …
// The V8 settings of bin/run.cjs (see there). Its thread pool size cannot be set from here (an ES
// module entry runs after the pool has started): for speed measurements run the built CLI, or put
// UV_THREADPOOL_SIZE=64 in the environment.
(await import('node:v8')).setFlagsFromString('--heap-growing-percent=50');
const { execute } = await import('@oclif/core');
await execute({ development: true, dir: import.meta.url });
