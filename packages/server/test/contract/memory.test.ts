import { MemoryHistoryStore } from '../../src/engine/memory/history.js';
import { MemoryPresenceStore } from '../../src/engine/memory/presence.js';
import { MemoryRateLimiter } from '../../src/engine/memory/rate-limiter.js';
import { historyContract } from './history.contract.js';
import { presenceContract } from './presence.contract.js';
import { rateLimiterContract } from './rate-limiter.contract.js';

historyContract('memory', {
  async create(retention) {
    return { store: new MemoryHistoryStore(retention), close: async () => {} };
  },
});

presenceContract('memory', {
  async create(timeoutMs) {
    return { store: new MemoryPresenceStore(timeoutMs), close: async () => {} };
  },
});

rateLimiterContract('memory', {
  async create() {
    return { limiter: new MemoryRateLimiter(), close: async () => {} };
  },
});
