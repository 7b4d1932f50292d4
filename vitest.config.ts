import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/**
 * Suites run a second time with every transport patch off (TRANSPORT_TUNING=off): the engines'
 * contract and the real-time behaviour over real sockets must not depend on the patches.
 */
const TUNING_OFF_SUITES = [
  'packages/server/test/contract/memory.test.ts',
  'packages/server/test/contract/redis.test.ts',
  'packages/server/test/integration/rooms.test.ts',
  'packages/server/test/integration/presence.test.ts',
  'packages/server/test/integration/history.test.ts',
];

const resolve = { alias: { '@intelgraph/websocket-protocol': src('./packages/protocol/src/index.ts') } };
const common = {
  testTimeout: 30_000,
  hookTimeout: 60_000,
  globalSetup: ['packages/server/test/global-setup.ts'],
};

export default defineConfig({
  test: {
    // Suites start real servers and Redis processes: two workers fit a 2-core machine.
    maxWorkers: 2,
    fileParallelism: true,
    projects: [
      {
        resolve,
        test: { ...common, name: 'default', include: ['packages/*/test/**/*.test.ts', 'deploy/test/**/*.test.ts', 'bench/test/**/*.test.ts', 'tests/**/*.test.ts'] },
      },
      { resolve, test: { ...common, name: 'tuning-off', include: TUNING_OFF_SUITES, env: { TRANSPORT_TUNING: 'off' } } },
    ],
  },
});
