/** ioredis clients and waiting helpers for suites running against private Redis processes. */
import { Cluster, Redis } from 'ioredis';
import type { RoomMessage } from '@intelgraph/websocket-protocol';
import { createRedisEngine, type RedisEngineOptions } from '../../src/engine/redis/engine.js';
import type { RoomKey } from '../../src/engine/types.js';

/** Reconnects every 100 ms and fails a command after one retry, so tests of outages stay short. */
export function redisClient(port: number): Redis {
  return new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
}

export function clusterClient(nodes: { host: string; port: number }[], shardedSubscribers = false): Cluster {
  return new Cluster(nodes, { shardedSubscribers, redisOptions: { maxRetriesPerRequest: 1 } });
}

export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const retention = { ttlSeconds: 3600, maxMessages: 1000, dedupeWindowSeconds: 300 };

/** An engine on its own connections, recording what its room stream delivers. */
export interface TestInstance {
  engine: ReturnType<typeof createRedisEngine>;
  received: { key: RoomKey; msg: RoomMessage; except: string | undefined }[];
  errors: Error[];
}

export function instance(opts: Omit<RedisEngineOptions, 'retention' | 'presenceTimeoutMs'>): TestInstance {
  const errors: Error[] = [];
  const engine = createRedisEngine({ retention, presenceTimeoutMs: 60_000, onError: (e) => errors.push(e), ...opts });
  const received: TestInstance['received'] = [];
  engine.stream.onMessage((key, msg, except) => received.push({ key, msg, except }));
  return { engine, received, errors };
}
