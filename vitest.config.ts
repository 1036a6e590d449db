import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Three test files at once, whatever the cores: the tests mostly wait on Dovecot, on the CLI
    // they start and on timeouts (vitest's default on two cores is one file at a time). Measured
    // on two cores: the suite in 703 s against ~1,160 s.
    maxWorkers: 3,
  },
});
