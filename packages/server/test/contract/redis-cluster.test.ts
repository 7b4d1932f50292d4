import type { Cluster } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { clusterClient } from '../helpers/redis-clients.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-server.js';
import { redisContracts } from './redis-contracts.js';

let cluster: RedisClusterHandle;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = clusterClient(cluster.startupNodes);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

redisContracts('redis cluster', () => client, async () => {
  await Promise.all(client.nodes('master').map((node) => node.flushall()));
});
