#!/usr/bin/env node
// `npm run bench`: mailferry against the real peers on one local Dovecot (see bench/README.md).
// The bench is TypeScript that reuses the test harness (Dovecot, corpus loader); tsx runs it.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
