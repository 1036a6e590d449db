#!/usr/bin/env node
// Runs the sources (no build) through tsx: npx tsx bin/dev.js copy …
process.env.UV_THREADPOOL_SIZE ??= '16';
const { execute } = await import('@oclif/core');
await execute({ development: true, dir: import.meta.url });
