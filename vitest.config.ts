import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      '@intelgraph/websocket-protocol': src('./packages/protocol/src/index.ts'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'deploy/test/**/*.test.ts', 'bench/test/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Suites start real servers and Redis processes: two workers fit a 2-core machine.
    globalSetup: ['packages/server/test/global-setup.ts'],
    maxWorkers: 2,
    fileParallelism: true,
  },
});
