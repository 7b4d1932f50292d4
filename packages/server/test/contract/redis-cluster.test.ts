import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { clusterClient } from '../helpers/redis-clients.js';
import { startRedisCluster, type RedisClusterHandle } from '../helpers/redis-server.js';
import { redisContracts } from './redis-contracts.js';

let cluster: RedisClusterHandle;
let client: Cluster;
let masters: Redis[] = [];
const subscribers: Cluster[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = clusterClient(cluster.startupNodes);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve);
    client.once('error', reject);
  });
  masters = client.nodes('master').map((node) => new Redis(Number(node.options.port), '127.0.0.1'));
});

afterAll(async () => {
  client?.disconnect();
  for (const m of masters) m.disconnect();
  for (const s of subscribers) s.disconnect();
  await cluster?.stop();
});

redisContracts(
  'redis cluster',
  () => ({
    client,
    subscriber: (sharded) => {
      const s = clusterClient(cluster.startupNodes, sharded);
      subscribers.push(s);
      return s;
    },
    masters: () => masters,
  }),
  [
    { sharded: true, label: 'SPUBLISH' },
    { sharded: false, label: 'PUBLISH' },
  ],
);
