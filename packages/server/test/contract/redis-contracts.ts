import type { RedisClient } from '../../src/engine/redis/connection.js';
import { RedisHistoryStore } from '../../src/engine/redis/history.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { RedisPresenceStore } from '../../src/engine/redis/presence.js';
import { RedisRateLimiter } from '../../src/engine/redis/rate-limiter.js';
import { historyContract } from './history.contract.js';
import { presenceContract } from './presence.contract.js';
import { rateLimiterContract } from './rate-limiter.contract.js';

/**
 * The history, presence and rate-limiter contracts on Redis stores. `client()` is read when
 * a test runs (after the suite's beforeAll started Redis). Each store gets its
 * own key prefix, as separate deployments would: a sweep sees only its rooms.
 */
export function redisContracts(name: string, client: () => RedisClient, flushAll: () => Promise<void>): void {
  let n = 0;
  const keys = () => new KeySpace(`${name.replace(/\W/g, '')}${++n}:`);
  historyContract(name, {
    async create(retention) {
      return { store: new RedisHistoryStore({ client: client(), retention, keys: keys() }), close: async () => {}, wipe: flushAll };
    },
  });
  presenceContract(name, {
    async create(timeoutMs) {
      return { store: new RedisPresenceStore({ client: client(), timeoutMs, keys: keys() }), close: async () => {} };
    },
  });
  rateLimiterContract(name, {
    async create() {
      return { limiter: new RedisRateLimiter({ client: client(), keys: keys() }), close: async () => {} };
    },
  });
}
