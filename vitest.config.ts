import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Fails a file that leaves a socket, server or child process open (test/helpers/leakCheck.ts).
    setupFiles: ['test/helpers/leakCheck.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    // Each file has its own database and Redis prefix (test/helpers/testEnv.ts), so files run in parallel.
    fileParallelism: true,
    maxWorkers: 3,
  },
});
