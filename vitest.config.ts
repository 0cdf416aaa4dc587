import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Namespace tests share the host's network stack; run files one at a time so that
    // topologies never overlap and the 2-core machine is not oversubscribed.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
