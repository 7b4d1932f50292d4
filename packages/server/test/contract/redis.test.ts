import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { redisContracts } from './redis-contracts.js';

let server: RedisServer;
let client: Redis;
let admin: Redis;

const connect = () => new Redis(server.port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100 });

beforeAll(async () => {
  server = await startRedisServer();
  client = connect();
  admin = connect();
});

afterAll(async () => {
  client?.disconnect();
  admin?.disconnect();
  await server?.stop();
});

// FLUSHALL is what a Redis restarted without persistence looks like: the lost-history test takes the real path.
redisContracts('redis', () => ({ client, subscriber: connect, masters: () => [admin] }), [
  { sharded: false, label: 'PUBLISH' },
  { sharded: true, label: 'SPUBLISH' },
]);
