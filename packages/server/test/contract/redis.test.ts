import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { RedisHistoryStore } from '../../src/engine/redis/history.js';
import { KeySpace } from '../../src/engine/redis/keys.js';
import { RedisPresenceStore } from '../../src/engine/redis/presence.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { historyContract } from './history.contract.js';
import { presenceContract } from './presence.contract.js';

let server: RedisServer;
let client: Redis;
let n = 0;
/** Each store gets its own key prefix, as separate deployments would: sweeps see only their own rooms. */
const keys = () => new KeySpace(`t${++n}:`);

beforeAll(async () => {
  server = await startRedisServer();
  client = new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  client?.disconnect();
  await server?.stop();
});

historyContract('redis', {
  async create(retention) {
    return {
      store: new RedisHistoryStore({ client, retention, keys: keys() }),
      close: async () => {},
      wipe: async () => {
        await client.flushall();
      },
    };
  },
});

presenceContract('redis', {
  async create(timeoutMs) {
    return { store: new RedisPresenceStore({ client, timeoutMs, keys: keys() }), close: async () => {} };
  },
});
