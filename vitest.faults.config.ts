import { defineConfig } from 'vitest/config';

/**
 * `npm run test:faults`: each scenario starts its own throwaway Postgres and redis-server and
 * then breaks them (kill -9, flush, stop), so scenarios are slow (30-90 s) and heavy; two run
 * at once, one per core. `npm test` (vitest.config.ts) takes only `*.test.ts`, never these.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.fault.ts'],
    // Fails a scenario that leaves a socket, server or child process open (test/helpers/leakCheck.ts).
    setupFiles: ['test/helpers/leakCheck.ts'],
    // initdb once, before any scenario copies the template.
    globalSetup: ['test/faults/harness/globalSetup.ts'],
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
