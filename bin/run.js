#!/usr/bin/env node
// More libuv threads: fsyncs of many messages run side by side.
process.env.UV_THREADPOOL_SIZE ??= '16';
const { execute } = await import('@oclif/core');
await execute({ dir: import.meta.url });
